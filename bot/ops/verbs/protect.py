"""``protect <ref> [for <duration>] [reason…]``: a lease that keeps an image, enforced in ECR.

A lease (owner, reason, expiry) is stored; ECR enforces it through a keep tag on the digest and a
guard rule at the top of the repository's policy that selects that tag's prefix and never expires
anything. When the policy lacks the guard, the exact change is shown and applied only after an
authorised user confirms (or at once with ``protect.apply_policy_change: automatic``). Afterwards
the evaluator checks that the image is shielded. Two protections of one image merge: the later
expiry wins and both reasons are kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.blocks.alerts import guard_changes
from bot.durations import FORMS, format_duration, parse_duration
from bot.errors import CommandError, LifeguardError, UsageError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.guard import has_guard, is_guard, keep_tag, with_guard
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.validate import check_policy
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.deps import Located, locate
from bot.ops.mutation import Change
from bot.ops.results import PolicyChange, ProtectResult, Shielding
from bot.ops.verb import Pending, Reply, Verb
from bot.ports import Registry, Repository
from bot.refs import ImageRef
from bot.state.records import GuardChange, GuardPending, Lease
from bot.watch.reconcile import resolve_protected, show_guard_pending

UNIT_WORDS = {"w", "d", "h", "m", "s", "week", "weeks", "day", "days", "hour", "hours"}


@dataclass(frozen=True, slots=True)
class Protect:
    """``protect <ref> [for <duration>] [reason…]``; ``channel``/``thread_ts`` where to report."""

    ref: ImageRef
    duration: float | None = None
    duration_text: str = ""
    reason: str = ""
    channel: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True, slots=True)
class GuardPlan:
    """The policy as it is, and the guarded policy when the guard rule must be added."""

    text: str
    policy: LifecyclePolicy
    guarded: LifecyclePolicy | None


def parse(args: Sequence[str]) -> Protect:
    """Read ``protect`` words: a reference, then ``for <duration>`` and a reason, both optional.

    Example:
        >>> parse(["app:v1", "for", "14d", "rollback", "target"]).duration
        1209600.0
        >>> parse(["app:v1", "for", "ever"])
        Traceback (most recent call last):
        ...
        bot.errors.UsageError: "ever" after "for" is not a duration; use forms like 7d, 12h, 2w, 90m or 1d12h
    """  # noqa: E501
    if not args:
        raise UsageError("protect needs an image reference")
    ref, rest = words.image(args[0]), list(args[1:])
    duration, text = None, ""
    if rest and rest[0].lower() == "for":
        if len(rest) < 2:
            raise UsageError(f'"for" needs a duration after it; use {FORMS}')
        text = rest[1]
        if len(rest) > 2 and rest[1].isdigit() and rest[2].lower() in UNIT_WORDS:
            raise UsageError(f'write the duration without a space: "{rest[1]}{rest[2][0]}"')
        try:
            duration = parse_duration(text, maximum=float("inf"))
        except ValueError:
            raise UsageError(f'"{text}" after "for" is not a duration; use {FORMS}') from None
        rest = rest[2:]
    return Protect(ref, duration, text, " ".join(rest))


def lease_span(call: Call, args: Protect) -> float:
    """The lease's length: asked for, or the default; refused outside the configured range."""
    settings = call.deps.settings.protect
    if args.duration is None:
        return settings.default_duration
    if not settings.min_duration <= args.duration <= settings.max_duration:
        raise CommandError(
            f'"{args.duration_text}" is out of range: protections last from '
            f"{format_duration(settings.min_duration)} to "
            f"{format_duration(settings.max_duration)}; ask again before one ends."
        )
    return args.duration


async def run(call: Call, args: Protect) -> ProtectResult:
    """Protect the image ``args.ref`` names (see the module docstring).

    Example::

        result = await run(call, parse(["app:v1", "for", "3d", "INC-42"]))
        if result.change and result.change.token:
            ...   # an authorised user applies the guard rule (the apply-guard verb)
    """
    span = lease_span(call, args)
    prefix = call.deps.settings.protect.tag_prefix
    async with call.cloud() as cloud:
        located = await locate(cloud, args.ref)
        image = _protectable(args.ref, located.image)
        await call.authorize(located.key)
        # The guard rule is checked before the image is touched: a refusal leaves nothing behind.
        planned = await plan_guard(located.registry, located.repository, prefix)
        async with call.mutation(located.key, image.digest) as change:
            # Read the image again under the lock: a change that held it may have retagged it.
            image = _protectable(
                args.ref, await located.registry.image(located.repository, image.digest)
            )
            previous = await call.deps.leases.get(located.key, image.digest)
            proposal = await _propose(call, located, image.digest, planned)
            added, image = await _tag(located, image, keep_tag(prefix, image.digest), change)
            outcome = await _apply_automatically(located, proposal, planned, change)
            lease = _merged(call, located, image, args, span=span, previous=previous)
            change.put_lease(lease)
            pending = outcome.change is not None and outcome.change.token is not None
            change.audit(
                before={"until": previous.until} if previous else None,
                after={"until": lease.until, "keep_tag": lease.keep_tag, "reason": lease.reason},
                detail="guard rule pending confirmation" if pending else None,
            )
        images = [i if i.digest != image.digest else image for i in located.images]
        policy = outcome.policy
        shielding = shielding_of(call, policy, images, image.digest) if policy else None
    await _show_on_alert(call, lease, outcome, planned, shielding)
    return ProtectResult(
        lease,
        added,
        outcome.change,
        outcome.applied,
        shielding,
        extended=previous is not None,
        recorded=change.recorded,
        note=change.note,
        tags=image.tags,
    )


def _merged(
    call: Call,
    located: Located,
    image: Image,
    args: Protect,
    *,
    span: float,
    previous: Lease | None,
) -> Lease:
    now = call.deps.clock()
    reasons = [previous.reason] if previous and previous.reason else []
    if args.reason and args.reason not in reasons:
        reasons.append(args.reason)
    return Lease(
        repository=located.key,
        digest=image.digest,
        owner=call.actor.label,
        reason="; ".join(reasons),
        created_at=previous.created_at if previous else now,
        until=max(now + span, previous.until if previous else 0.0),
        keep_tag=keep_tag(call.deps.settings.protect.tag_prefix, image.digest),
        channel=args.channel or (previous.channel if previous else None),
        thread_ts=args.thread_ts or (previous.thread_ts if previous else None),
    )


def _protectable(ref: ImageRef, image: Image | None) -> Image:
    if image is None:
        raise CommandError(
            f"{ref} is not in the repository. `/ecr why-missing {ref}` tells what happened."
        )
    if image.status is not ImageStatus.ACTIVE:
        raise CommandError(
            f"{ref} is {image.status.value.lower()}: restore it first (`/ecr restore {ref}`), "
            "then protect it."
        )
    return image


async def _tag(located: Located, image: Image, tag: str, change: Change) -> tuple[bool, Image]:
    if tag in image.tags:
        return False, image
    [manifest] = await located.registry.manifests(located.key, [image.digest])
    added = await located.registry.put_tag(located.repository, manifest, tag)
    change.did(f"keep tag {tag} is on the image")
    return added, dataclasses.replace(image, tags=(*image.tags, tag))


async def plan_guard(registry: Registry, repository: Repository, prefix: str) -> GuardPlan | None:
    """The current policy and, when needed, the guarded policy; None without a policy.

    Raises :class:`CommandError` when the guard rule cannot be added (a quota would break).
    """
    info = await registry.lifecycle_policy(repository)
    if info is None:
        return None
    policy = parse_policy(info.text)
    if has_guard(policy, prefix):
        return GuardPlan(info.text, policy, None)
    guarded = with_guard(policy, prefix)
    problems = check_policy(guarded, len(guarded.to_json()))
    if problems:
        raise CommandError(
            "The guard rule cannot be added to the policy, so nothing was changed: "
            + "; ".join(str(p) for p in problems)
        )
    return GuardPlan(info.text, policy, guarded)


@dataclass(frozen=True, slots=True)
class GuardOutcome:
    """What happens to the policy: the change (with a token while it waits for confirmation),
    whether it was applied, and the policy in force afterwards (None: no policy)."""

    change: PolicyChange | None
    applied: bool
    policy: LifecyclePolicy | None


async def _propose(
    call: Call, located: Located, digest: str, planned: GuardPlan | None
) -> GuardOutcome:
    """The guard-rule proposal; in ``confirm`` mode its confirmation is stored now, before ECR
    is touched, so a store that fails refuses the whole protection."""
    if planned is None:
        return GuardOutcome(None, False, None)
    if planned.guarded is None:
        return GuardOutcome(None, False, planned.policy)
    after = planned.guarded.to_json()
    if call.deps.settings.protect.apply_policy_change == "automatic":
        return GuardOutcome(PolicyChange(located.key, planned.text, after), False, planned.policy)
    token = await call.deps.confirmations.create(
        GuardChange(
            repository=located.key,
            digest=digest,
            before_sha=policy_sha(planned.text),
            after=after,
            requested_by=call.actor.label,
        )
    )
    return GuardOutcome(
        PolicyChange(located.key, planned.text, after, token), False, planned.policy
    )


async def _apply_automatically(
    located: Located, proposal: GuardOutcome, planned: GuardPlan | None, change: Change
) -> GuardOutcome:
    policy_change = proposal.change
    if policy_change is None or policy_change.token or planned is None:
        return proposal
    await located.registry.put_lifecycle_policy(located.repository, policy_change.after)
    change.did("the guard rule is first in the lifecycle policy")
    change.audit(
        action="put-lifecycle-policy",
        before=policy_change.before,
        after=policy_change.after,
        detail="guard rule for protected images",
    )
    return GuardOutcome(policy_change, True, planned.guarded)


async def _show_on_alert(
    call: Call,
    lease: Lease,
    outcome: GuardOutcome,
    planned: GuardPlan | None,
    shielding: Shielding | None,
) -> None:
    """Say on the image's open alert what the protection did: shielded (the alert ends), or the
    keep tag on while the guard rule waits (Apply on the alert). Slack failing changes nothing."""
    deps = call.deps
    if deps.notifier is None:
        return
    token = outcome.change.token if outcome.change else None
    with contextlib.suppress(LifeguardError):
        if token and planned is not None and planned.guarded is not None:
            prefix = deps.settings.protect.tag_prefix
            guard = GuardPending(
                owner=lease.owner,
                until=lease.until,
                keep_tag=lease.keep_tag,
                token=token,
                changes=guard_changes(planned.policy, planned.guarded, prefix),
            )
            await show_guard_pending(deps.alerts, deps.notifier, lease.repository, lease.digest,
                                     guard, now=deps.clock())  # fmt: skip
        elif shielding is not None and shielding.shielded:
            await resolve_protected(deps.alerts, deps.leases, deps.notifier, lease.repository,
                                    lease.digest, now=deps.clock())  # fmt: skip


def policy_sha(text: str) -> str:
    """The fingerprint of a policy text, to notice a change between proposal and confirmation.

    Example:
        >>> policy_sha("{}")[:12]
        '44136fa355b3'
    """
    return hashlib.sha256(text.encode()).hexdigest()


def shielding_of(
    call: Call, policy: LifecyclePolicy, images: list[Image], digest: str
) -> Shielding:
    """Evaluate the policy now and say whether the guard rule governs the image."""
    evaluation = evaluate(policy, images, call.deps.clock())
    decision = evaluation.decision(digest)
    prefix = call.deps.settings.protect.tag_prefix
    shielded = decision.rule is not None and is_guard(decision.rule, prefix) and not decision.acted
    return Shielding(shielded, Explainer(evaluation).explain(decision))


def present(result: ProtectResult) -> Reply:
    """The protection for Slack (in the channel) and the terminal, outcome first."""
    lease = result.lease
    lines = [
        replies.protect_outcome(result, replies.PLAIN),
        f"{lease.repository.name}@{lease.digest}: "
        + replies.protect_details(result, replies.PLAIN),
    ]
    pending = None
    change = result.change
    if change is not None and change.token:
        lines.append(
            f"The lifecycle policy of {change.repository.name} has no guard rule for keep tags, "
            "so the tag alone does not shield the image. Applying puts one first:"
        )
        lines += replies.rule_diff(change.before, change.after)
        pending = Pending(change.token, "Apply it?", "apply-guard")
    elif result.shielding is not None:
        lines.append(result.shielding.explanation)
    if result.note:
        lines.append(result.note)
    return Reply(replies.protect_reply(result), lines, public=True, pending=pending)


VERB = Verb(
    name="protect",
    usage="protect <ref> [for <duration, e.g. 7d>] [reason…]",
    summary="keep an image: a keep tag and a guard rule, with an expiry",
    parse=parse,
    run=run,
    present=present,
    permission="protect",
    iam_actions=(
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:GetLifecyclePolicy",
        "ecr:BatchGetImage",
        "ecr:PutImage",
        "ecr:PutLifecyclePolicy",
    ),
)
