"""``help``: the commands, each with what it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.ops.call import Call
from bot.ops.verb import Reply, Verb


@dataclass(frozen=True, slots=True)
class Help:
    """``help``."""


@dataclass(frozen=True)
class Catalogue:
    """Every typed verb: its usage and summary."""

    entries: tuple[tuple[str, str], ...]


def parse(args: Sequence[str]) -> Help:
    """Read ``help`` (it takes no arguments, and ignores them).

    Example:
        >>> parse([])
        Help()
    """
    return Help()


async def run(call: Call, args: Help) -> Catalogue:
    """The catalogue the dispatcher put on the call."""
    return Catalogue(call.catalogue)


def present(result: Catalogue) -> Reply:
    """Every command with a one-line summary."""
    lines = [f"{usage}: {summary}" for usage, summary in result.entries]
    return Reply(replies.help_reply(result.entries), lines)


VERB = Verb(
    name="help",
    usage="help",
    summary="show this list",
    parse=parse,
    run=run,
    present=present,
)
