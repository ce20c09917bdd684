"""The verb registry: every verb ECR Lifeguard has, and reading ``/ecr`` text into one.

Adding a verb is one module under :mod:`bot.ops.verbs` that defines a :class:`~bot.ops.verb.Verb`
and one entry in :data:`VERBS`; Slack's ``/ecr``, its help, the buttons and the CLI are generated
from this list, and a meta test checks every entry is complete.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from bot.errors import UsageError
from bot.ops.args import clean_slack_text
from bot.ops.verb import Verb
from bot.ops.verbs import (
    at_risk,
    cancel,
    explain,
    guard,
    help,
    listings,
    plan,
    protect,
    restore,
    retag,
    snooze,
    unprotect,
    why_missing,
)

VERBS: tuple[Verb[Any, Any], ...] = (
    help.VERB,
    plan.VERB,
    at_risk.VERB,
    why_missing.VERB,
    protect.VERB,
    unprotect.VERB,
    listings.PROTECTIONS,
    retag.VERB,
    restore.VERB,
    listings.AUDIT,
    # answers to buttons
    explain.VERB,
    snooze.VERB,
    guard.VERB,
    retag.MOVE_VERB,
    cancel.VERB,
)
BY_NAME: dict[str, Verb[Any, Any]] = {verb.name: verb for verb in VERBS}
TYPED: tuple[Verb[Any, Any], ...] = tuple(verb for verb in VERBS if verb.typed)


@dataclass(frozen=True)
class Invocation:
    """A verb and its parsed arguments, ready to run."""

    verb: Verb[Any, Any]
    args: Any


def catalogue() -> tuple[tuple[str, str], ...]:
    """Usage and summary of every typed verb, for ``help``.

    Example:
        >>> catalogue()[0]
        ('help', 'show this list')
    """
    return tuple((verb.usage, verb.summary) for verb in TYPED)


def parse_command(text: str) -> Invocation:
    """Read the text after ``/ecr`` (or a CLI verb and its words); :class:`UsageError` otherwise.

    Example:
        >>> parse_command("protect app:v1 for 14d rollback target for INC-42").args.reason
        'rollback target for INC-42'
        >>> parse_command("protec app:v1")
        Traceback (most recent call last):
        ...
        bot.errors.UsageError: unknown command "protec" (did you mean protect?); the commands are: help, plan, at-risk, why-missing, protect, unprotect, protections, retag, restore, audit
    """  # noqa: E501
    words = clean_slack_text(text).split()
    if not words:
        return Invocation(help.VERB, help.Help())
    name, rest = words[0].lower(), words[1:]
    verb = BY_NAME.get(name)
    if verb is None or not verb.typed:
        raise UsageError(_unknown_verb(name))
    try:
        return Invocation(verb, verb.parse(rest))
    except UsageError as exc:
        raise UsageError(str(exc), verb.name, verb.usage) from None


def _unknown_verb(name: str) -> str:
    names = [verb.name for verb in TYPED]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f'unknown command "{name}"{hint}; the commands are: {", ".join(names)}'
