"""``/ecr`` command text → a typed command, or a usage message that names the problem (pure).

The same commands back the Slack slash command and the CLI verbs. Parsing is strict: a reference
is validated (repository name, tag ≤ 128 characters, ``sha256:`` + 64 hex), a duration must parse,
and an unknown verb lists the valid ones.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass

from bot.durations import parse_duration
from bot.lifecycle.problems import InputError
from bot.refs import ImageRef, is_valid_repository_name, is_valid_tag, parse_image_ref

_SLACK_LINK = re.compile(r"<([^|>]*)(?:\|([^>]*))?>")
_GLOB = re.compile(r"[a-z0-9._/\-*?\[\]!]+")


@dataclass(frozen=True, slots=True)
class Help:
    """``help``: list the commands."""


@dataclass(frozen=True, slots=True)
class Plan:
    """``plan <repo>``: what the current policy will do to a repository."""

    repository: str


@dataclass(frozen=True, slots=True)
class AtRisk:
    """``at-risk [repo-glob]``: in-use images the policies will expire or archive."""

    glob: str = "*"


@dataclass(frozen=True, slots=True)
class WhyMissing:
    """``why-missing <ref>``."""

    ref: ImageRef


@dataclass(frozen=True, slots=True)
class Protect:
    """``protect <ref> [for <duration>] [reason…]``: a lease that keeps an image."""

    ref: ImageRef
    duration: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unprotect:
    """``unprotect <ref>``: end a lease now."""

    ref: ImageRef


@dataclass(frozen=True, slots=True)
class Protections:
    """``protections [repo]``: active leases."""

    repository: str | None = None


@dataclass(frozen=True, slots=True)
class Retag:
    """``retag <ref> <new-tag>``: add a tag to the image without pulling or pushing layers."""

    ref: ImageRef
    new_tag: str


@dataclass(frozen=True, slots=True)
class Restore:
    """``restore <ref>``: bring an archived or deleted image back."""

    ref: ImageRef


@dataclass(frozen=True, slots=True)
class Audit:
    """``audit [repo]``: recent mutations and denials."""

    repository: str | None = None


Command = (
    Help | Plan | AtRisk | WhyMissing | Protect | Unprotect | Protections | Retag | Restore | Audit
)
MUTATING = (Protect, Unprotect, Retag, Restore)

USAGE = {
    "help": "help",
    "plan": "plan <repository>",
    "at-risk": "at-risk [repository-glob]",
    "why-missing": "why-missing <repo:tag | repo@sha256:… | image URI>",
    "protect": "protect <ref> [for <duration, e.g. 7d>] [reason…]",
    "unprotect": "unprotect <ref>",
    "protections": "protections [repository]",
    "retag": "retag <ref> <new-tag>",
    "restore": "restore <ref>",
    "audit": "audit [repository]",
}
SUMMARY = {
    "help": "show this list",
    "plan": "what the lifecycle policy will expire or archive, and why",
    "at-risk": "in-use images the lifecycle policies will remove",
    "why-missing": "why an image cannot be pulled, and what to do",
    "protect": "keep an image: a keep tag and a guard rule, with an expiry",
    "unprotect": "end a protection now",
    "protections": "active protections and when they end",
    "retag": "add a tag to an image (no pull or push)",
    "restore": "bring back an archived or deleted image",
    "audit": "recent changes and refusals",
}


class UsageError(ValueError):
    """The command text is wrong; ``str()`` says what, and ``usage`` how to write it."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        self.verb = verb
        self.usage = USAGE.get(verb or "", "")
        super().__init__(message)


def clean_slack_text(text: str) -> str:
    """Undo Slack's escaping and auto-links: ``<http://x|x>`` → ``x``, ``&lt;`` → ``<``.

    Example:
        >>> clean_slack_text("why-missing <http://123.dkr.ecr.eu-west-1.amazonaws.com/app:v1|123.dkr.ecr.eu-west-1.amazonaws.com/app:v1>")
        'why-missing 123.dkr.ecr.eu-west-1.amazonaws.com/app:v1'
    """
    unlinked = _SLACK_LINK.sub(lambda m: m.group(2) or re.sub(r"^https?://", "", m.group(1)), text)
    return html.unescape(unlinked).replace("\u00a0", " ").strip()


def parse_command(text: str) -> Command:
    """Parse the text after ``/ecr``; raise :class:`UsageError` with a precise message.

    Example:
        >>> parse_command("protect app:v1 for 14d rollback target for INC-42")
        Protect(ref=ImageRef(repository='app', tag='v1', digest=None, registry=None, region=None), duration=1209600.0, reason='rollback target for INC-42')
        >>> parse_command("protec app:v1")
        Traceback (most recent call last):
        ...
        bot.commands.UsageError: unknown command "protec" (did you mean protect?); the commands are: help, plan, at-risk, why-missing, protect, unprotect, protections, retag, restore, audit
    """  # noqa: E501
    words = clean_slack_text(text).split()
    if not words:
        return Help()
    verb, args = words[0].lower(), words[1:]
    parser = _PARSERS.get(verb)
    if parser is None:
        raise UsageError(_unknown_verb(verb))
    try:
        return parser(args)
    except UsageError as exc:
        raise UsageError(str(exc), verb) from None


def _unknown_verb(verb: str) -> str:
    close = difflib.get_close_matches(verb, list(USAGE), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f'unknown command "{verb}"{hint}; the commands are: {", ".join(USAGE)}'


def _ref(word: str) -> ImageRef:
    try:
        return parse_image_ref(word)
    except InputError as exc:
        raise UsageError(exc.problems[0].message) from None


def _count(args: list[str], low: int, high: int, verb: str) -> None:
    if not low <= len(args) <= high:
        expected = f"{low}" if low == high else f"{low} to {high}"
        raise UsageError(f"{verb} takes {expected} argument(s), got {len(args)}")


def _repository(word: str) -> str:
    if not is_valid_repository_name(word):
        raise UsageError(f'"{word}" is not a repository name (lowercase letters, digits, . _ - /)')
    return word


def _help(args: list[str]) -> Command:
    return Help()


def _plan(args: list[str]) -> Command:
    _count(args, 1, 1, "plan")
    return Plan(_repository(args[0]))


def _at_risk(args: list[str]) -> Command:
    _count(args, 0, 1, "at-risk")
    if args and not _GLOB.fullmatch(args[0]):
        raise UsageError(f'"{args[0]}" can match no repository name')
    return AtRisk(args[0] if args else "*")


def _why(args: list[str]) -> Command:
    _count(args, 1, 1, "why-missing")
    return WhyMissing(_ref(args[0]))


def _protect(args: list[str]) -> Command:
    if not args:
        raise UsageError("protect needs an image reference")
    ref, rest = _ref(args[0]), args[1:]
    duration = None
    if len(rest) >= 2 and rest[0].lower() == "for" and rest[1][:1].isdigit():
        try:
            duration = parse_duration(rest[1])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        rest = rest[2:]
    return Protect(ref, duration, " ".join(rest))


def _unprotect(args: list[str]) -> Command:
    _count(args, 1, 1, "unprotect")
    return Unprotect(_ref(args[0]))


def _protections(args: list[str]) -> Command:
    _count(args, 0, 1, "protections")
    return Protections(_repository(args[0]) if args else None)


def _retag(args: list[str]) -> Command:
    _count(args, 2, 2, "retag")
    if not is_valid_tag(args[1]):
        raise UsageError(
            f'"{args[1]}" is not a valid tag (letters, digits, _ . -, not starting with . or -, '
            "at most 128 characters)"
        )
    return Retag(_ref(args[0]), args[1])


def _restore(args: list[str]) -> Command:
    _count(args, 1, 1, "restore")
    return Restore(_ref(args[0]))


def _audit(args: list[str]) -> Command:
    _count(args, 0, 1, "audit")
    return Audit(_repository(args[0]) if args else None)


_PARSERS = {
    "help": _help,
    "plan": _plan,
    "at-risk": _at_risk,
    "why-missing": _why,
    "protect": _protect,
    "unprotect": _unprotect,
    "protections": _protections,
    "retag": _retag,
    "restore": _restore,
    "audit": _audit,
}
