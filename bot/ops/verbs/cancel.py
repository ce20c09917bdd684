"""**Cancel** / **Leave the policy as it is**: drop a pending change. It needs the permission the
change itself needs, unless the canceller asked for the change; it is audited."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import CommandError
from bot.ops.call import Call
from bot.ops.verb import Reply, Verb
from bot.ops.verbs.retag import Answer, parse_answer
from bot.state.records import GuardChange


@dataclass(frozen=True)
class Cancelled:
    """Who left what unchanged."""

    by: str
    what: str


async def run(call: Call, args: Answer) -> Cancelled:
    """Drop the pending change the token stands for."""
    confirmations = call.deps.confirmations
    pending = await confirmations.peek(args.token)
    if pending is None:
        raise CommandError("This confirmation has expired or was already used.")
    if isinstance(pending, GuardChange):
        call.permission = "change the lifecycle policy of"
        what = f"the guard rule for {pending.repository.name}"
    else:
        call.permission = "retag"
        what = f"moving {pending.tag} in {pending.repository.name}"
    await call.authorize(pending.repository, requester=pending.requested_by)
    if await confirmations.take(args.token) is None:
        raise CommandError("This confirmation was already used.")
    digest = pending.digest if isinstance(pending, GuardChange) else pending.to_digest
    await call.record("cancelled", pending.repository, digest=digest, detail=what)
    return Cancelled(call.actor.label, what)


def present(result: Cancelled) -> Reply:
    """Replace the question with who left it unchanged."""
    text = f"Left unchanged by {result.by}: {result.what}."
    return Reply(replies.text_reply(text), [text], public=True)


VERB = Verb(
    name="cancel",
    usage="cancel <token>",
    summary="drop a pending change",
    parse=parse_answer,
    run=run,
    present=present,
    permission="cancel changes to",
    typed=False,
)
