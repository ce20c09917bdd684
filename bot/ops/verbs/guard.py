"""**Apply the guard rule**: change a repository's lifecycle policy as proposed by ``protect``,
if the policy is still the one the proposal was made from; then close the alerts it shields."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError
from bot.lifecycle.parse import parse_policy
from bot.ops.call import Call
from bot.ops.deps import open_repository
from bot.ops.results import PolicyChange, Shielding
from bot.ops.verb import Reply, Verb
from bot.ops.verbs.protect import policy_sha, shielding_of
from bot.ops.verbs.retag import Answer, parse_answer
from bot.state.records import GuardChange
from bot.watch.reconcile import resolve_protected


@dataclass(frozen=True)
class GuardApplied:
    """The applied change, what the evaluator says now, who applied it."""

    change: PolicyChange
    shielding: Shielding
    by: str
    recorded: bool = True
    note: str | None = None


async def run(call: Call, args: Answer) -> GuardApplied:
    """Apply a confirmed guard-rule change."""
    deps = call.deps
    pending = await deps.confirmations.peek(args.token)
    if not isinstance(pending, GuardChange):
        raise CommandError("This confirmation has expired or was already used.")
    await call.authorize(pending.repository)
    if await deps.confirmations.take(args.token) is None:
        raise CommandError("This confirmation was already used.")
    key = pending.repository
    async with call.cloud() as cloud:
        registry, repository = await open_repository(cloud, key)
        info = await registry.lifecycle_policy(repository) if repository else None
        if repository is None or info is None or policy_sha(info.text) != pending.before_sha:
            raise CommandError(
                f"The lifecycle policy of {key.name} changed since this was proposed; "
                "nothing was applied. Run `/ecr protect` again to get a fresh proposal."
            )
        async with call.mutation(key, pending.digest) as change:
            await registry.put_lifecycle_policy(repository, pending.after)
            change.did(f"the guard rule is first in the lifecycle policy of {key.name}")
            change.audit(
                before=info.text,
                after=pending.after,
                detail="guard rule for protected images",
            )
        images = await registry.images(repository)
    shielding = shielding_of(call, parse_policy(pending.after), images, pending.digest)
    if shielding.shielded and deps.notifier is not None:
        for lease in await deps.leases.active(key.name):
            await resolve_protected(
                deps.alerts, deps.leases, deps.notifier, key, lease.digest, now=deps.clock()
            )
    applied = PolicyChange(key, info.text, pending.after)
    return GuardApplied(applied, shielding, call.actor.label, change.recorded, change.note)


def present(result: GuardApplied) -> Reply:
    """The change and the evaluator's word on the image."""
    lines = [f"{result.by} applied the guard rule to {result.change.repository.name}."]
    lines.append(
        ("Shielded: " if result.shielding.shielded else "NOT shielded: ")
        + result.shielding.explanation
    )
    if result.note:
        lines.append(result.note)
    payload = replies.guard_applied_reply(result.change, result.shielding, result.by)
    return Reply(payload, lines, public=True)


VERB = Verb(
    name="apply-guard",
    usage="apply-guard <token>",
    summary="put the guard rule into the lifecycle policy, as proposed",
    parse=parse_answer,
    run=run,
    present=present,
    permission="change the lifecycle policy of",
    iam_actions=(
        "ecr:DescribeRepositories",
        "ecr:GetLifecyclePolicy",
        "ecr:PutLifecyclePolicy",
        "ecr:DescribeImages",
    ),
    typed=False,
    audit_as="put-lifecycle-policy",
)
