"""``protections [repo]`` and ``audit [repo]``: the active leases, and recent changes and
refusals (read-only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.lifecycle.timefmt import human
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.verb import Reply, Verb
from bot.state.records import AuditEntry, Lease


@dataclass(frozen=True, slots=True)
class Listing:
    """``protections [repository]`` / ``audit [repository]``."""

    repository: str | None = None


@dataclass(frozen=True)
class Leases:
    """The active leases, and when they were read."""

    leases: list[Lease]
    now: float


def parse_protections(args: Sequence[str]) -> Listing:
    """Read ``protections [repository]``.

    Example:
        >>> parse_protections(["app"]).repository
        'app'
    """
    words.count(args, 0, 1, "protections")
    return Listing(words.repository(args[0]) if args else None)


def parse_audit(args: Sequence[str]) -> Listing:
    """Read ``audit [repository]``.

    Example:
        >>> parse_audit([]).repository is None
        True
    """
    words.count(args, 0, 1, "audit")
    return Listing(words.repository(args[0]) if args else None)


async def run_protections(call: Call, args: Listing) -> Leases:
    """Active leases, soonest to end first."""
    return Leases(await call.deps.leases.active(args.repository), call.deps.clock())


async def run_audit(call: Call, args: Listing) -> list[AuditEntry]:
    """The newest audit entries."""
    return await call.deps.audit.recent(20, args.repository)


def present_protections(result: Leases) -> Reply:
    """The leases."""
    lines = [
        f"{lease.repository.name}@{lease.digest} by {lease.owner} until {human(lease.until)}"
        + (f": {lease.reason}" if lease.reason else "")
        for lease in result.leases
    ]
    return Reply(
        replies.protections_reply(result.leases, result.now), lines or ["No image is protected."]
    )


def present_audit(entries: list[AuditEntry]) -> Reply:
    """The entries, newest first."""
    lines = [replies.audit_text(entry) for entry in entries]
    return Reply(replies.audit_reply(entries), lines or ["The audit log is empty."])


PROTECTIONS = Verb(
    name="protections",
    usage="protections [repository]",
    summary="active protections and when they end",
    parse=parse_protections,
    run=run_protections,
    present=present_protections,
)
AUDIT = Verb(
    name="audit",
    usage="audit [repository]",
    summary="recent changes and refusals",
    parse=parse_audit,
    run=run_audit,
    present=present_audit,
)
