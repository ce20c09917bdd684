"""The **Snooze** menu of an alert: silence it for a while, never past the moment ECR may act.

Snoozing needs permission and is audited. The alert then shows who snoozed it and until when;
the snooze ends early when the risk gets worse (the reconciler re-posts the alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import alerts as alert_blocks
from bot.blocks import replies
from bot.errors import CommandError, UsageError
from bot.lifecycle.timefmt import DAY, human
from bot.ops.call import Call
from bot.ops.verb import Payload, Reply, Verb


@dataclass(frozen=True, slots=True)
class Snooze:
    """Snooze the alert posted as message ``ts`` in ``channel`` for ``seconds`` (None: until ECR
    may act); ``message`` is the alert as it is now, to show the snooze on it."""

    channel: str
    ts: str
    seconds: float | None = None
    message: Payload | None = None


@dataclass(frozen=True)
class Snoozed:
    """Who snoozed which alert until when; ``capped`` when ECR may act before the time asked."""

    by: str
    until: float
    capped: bool
    message: Payload | None


def parse(args: Sequence[str]) -> Snooze:
    """Not typed: the snooze menu builds :class:`Snooze` itself."""
    raise UsageError("snooze is a menu on the alert; it cannot be typed")


async def run(call: Call, args: Snooze) -> Snoozed:
    """Snooze the alert (its record says when ECR may act)."""
    alerts = call.deps.alerts
    record = await alerts.by_message(args.channel, args.ts)
    if record is None or record.state != "open":
        raise CommandError("There is no open alert for this image any more.")
    await call.authorize(record.repository)
    now = call.deps.clock()
    cap = record.acts_at if record.acts_at is not None else now + DAY
    wanted = now + args.seconds if args.seconds is not None else cap
    until = min(wanted, cap)
    if until <= now:
        raise CommandError(
            "ECR may act on this image now, so it cannot be snoozed; protect it instead."
        )
    await alerts.put(
        record.model_copy(
            update={"snoozed_at": now, "snoozed_until": until, "snoozed_by": call.actor.label}
        )
    )
    await call.record("ok", record.repository, digest=record.digest, detail=f"until {human(until)}")
    return Snoozed(call.actor.label, until, wanted > cap, args.message)


def present(result: Snoozed) -> Reply:
    """Say who snoozed it until when, and show it on the alert."""
    text = f"{result.by} snoozed this alert until {human(result.until)}"
    text += " (when ECR may act on the image)." if result.capped else "."
    update = (
        alert_blocks.with_snooze(result.message, result.by, result.until)
        if result.message
        else None
    )
    return Reply(replies.text_reply(text), [text], public=True, update=update)


VERB = Verb(
    name="snooze",
    usage="snooze (the alert's menu)",
    summary="silence an alert for a while",
    parse=parse,
    run=run,
    present=present,
    permission="snooze",
    typed=False,
)
