"""Every error ECR Lifeguard raises, and the one place that turns an error into what a person sees.

::

    LifeguardError
    ├── InputError            a document or argument is wrong; ``problems`` says where
    │   ├── UsageError        an ``/ecr`` command or CLI verb is written wrong; ``usage`` shows how
    │   └── CliInputError     a command-line option or input file is wrong, one line per problem
    ├── ConfigError           a setting is missing or invalid
    │   └── StartupError      the bot cannot start: Slack refuses a token, no AWS region (exit 1)
    ├── CommandError          a command cannot be done as asked (nothing was changed)
    │   ├── NotWatched        the reference names a registry this bot is not configured for
    │   └── Busy              another change to the same image is in progress
    ├── Denied                the actor may not do this (the refusal is audited)
    ├── StoreUnavailable      the state store cannot record a change, so ECR was not touched
    ├── LockLost              a fenced write came after the lock moved to someone else
    ├── EventRejected         an SQS message is not an event the bot handles (logged, deleted)
    └── UpstreamError         AWS, Kubernetes, Slack or Redis failed or refused
        ├── CredentialsError  no usable credentials: says how to provide them
        ├── AccessDenied      an IAM/RBAC permission is missing: names it
        ├── NotFound          the named resource does not exist
        ├── Throttled         rate limited even after retries
        ├── Unreachable       the endpoint cannot be reached
        ├── TagImmutable      ECR refuses to move a tag (immutable repository)
        └── LayersMissing     a re-push failed because the image's layers are gone

Adapters translate SDK exceptions into these at the edge; the core and the commands never see a
botocore, redis or slack_sdk exception. :func:`explain` is the only mapping from an exception to
the words, the audience and the exit status a person gets: Slack replies, ``@app.error``, the
CLI and the bot verbs all call it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

log = logging.getLogger(__name__)


class Exit(IntEnum):
    """What the process exit status of ``ecr-lifeguard`` means.

    Example:
        >>> int(Exit.INVALID_INPUT)
        2
    """

    OK = 0
    UPSTREAM_FAILURE = 1  # AWS, Kubernetes, Slack or Redis failed or refused us
    INVALID_INPUT = 2  # the command line, an input file or a setting is wrong; or refused
    FOUND = 3  # something is at risk (scan), a lint finding reached --fail-on, previews differ


class LifeguardError(Exception):
    """Base of every error ECR Lifeguard raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input document.

    Example:
        >>> str(Problem("rules[0].rulePriority", "must be an integer"))
        'rules[0].rulePriority: must be an integer'
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(LifeguardError, ValueError):
    """A document could not be used; ``problems`` says why, one entry per problem.

    Example:
        >>> err = InputError([Problem("rules", "a policy needs at least one rule")])
        >>> str(err)
        'rules: a policy needs at least one rule'
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, path: str, message: str) -> InputError:
        """Build an error with exactly one problem.

        Example:
            >>> InputError.single("", "the file is empty").problems[0].message
            'the file is empty'
        """
        return cls([Problem(path, message)])


class UsageError(InputError):
    """A command is written wrong; ``str()`` says what, ``usage`` how to write it.

    Example:
        >>> err = UsageError("retag takes 2 arguments, got 1", "retag", "retag <ref> <new-tag>")
        >>> str(err), err.usage
        ('retag takes 2 arguments, got 1', 'retag <ref> <new-tag>')
    """

    def __init__(self, message: str, verb: str | None = None, usage: str = "") -> None:
        self.verb = verb
        self.usage = usage
        super().__init__([Problem("", message)])


class CliInputError(InputError):
    """Bad input from the command line: each line of ``lines`` is one problem, option or file first.

    Example:
        >>> CliInputError(["--images nope.json: no such file"]).lines
        ['--images nope.json: no such file']
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__([Problem("", line) for line in self.lines])

    @classmethod
    def from_input_error(cls, source: str, error: InputError) -> CliInputError:
        """Prefix every problem of a parse error with the file it came from.

        Example:
            >>> CliInputError.from_input_error("p.json", InputError.single("rules", "empty")).lines
            ['p.json: rules: empty']
        """
        return cls([f"{source}: {problem}" for problem in error.problems])


class ConfigError(LifeguardError):
    """A setting is missing or invalid; the message names it.

    Example:
        >>> str(ConfigError("SLACK_BOT_TOKEN: required"))
        'SLACK_BOT_TOKEN: required'
    """


class StartupError(ConfigError):
    """The bot cannot start with what it was given: Slack refused a token, or no AWS region is
    configured. One line, exit status 1."""


class CommandError(LifeguardError):
    """A command cannot be done as asked; the message says why and what to do instead."""


class NotWatched(CommandError):
    """The reference names a region or account this bot is not configured for."""


class Busy(CommandError):
    """Another change to the same image is still in progress."""


class Denied(LifeguardError):
    """The actor may not do this; the message says who may (the refusal has been audited)."""


class StoreUnavailable(LifeguardError):
    """The state store cannot record a change, so the change was refused before touching ECR."""


class LockLost(LifeguardError):
    """A write made under a lock was refused: the lock expired and someone else holds it now."""


RejectionKind = Literal["oversized", "malformed", "unknown"]


class EventRejected(LifeguardError):
    """A message that is not an event the bot handles.

    ``kind`` is ``oversized`` (over the size limit, not parsed), ``malformed`` (not JSON, not an
    object, or a known event with a required field missing or of the wrong type) or ``unknown``
    (a well-formed event of a type or action the bot does not model). ``event_id`` is the event's
    ``id`` when it could be read. Every kind is logged once and the message deleted: none is
    worth a retry.

    Example:
        >>> err = EventRejected("unknown", 'detail-type "ECR Replication Action" is not handled')
        >>> str(err)
        'unknown event: detail-type "ECR Replication Action" is not handled'
    """

    def __init__(self, kind: RejectionKind, reason: str, *, event_id: str | None = None) -> None:
        self.kind: RejectionKind = kind
        self.reason = reason
        self.event_id = event_id
        super().__init__(f"{kind} event: {reason}")


class UpstreamError(LifeguardError):
    """A call to AWS, Kubernetes, Slack or Redis failed.

    ``service`` and ``operation`` say what was called, ``code`` is the upstream error code, and
    ``hint`` what to do about it.

    Example:
        >>> err = UpstreamError("ecr", "DescribeImages", "ServerException", "boom", hint="retry")
        >>> str(err)
        'ecr DescribeImages failed: ServerException: boom (retry)'
    """

    def __init__(
        self,
        service: str,
        operation: str,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        account: str | None = None,
        region: str | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.hint = hint
        self.account = account
        self.region = region
        where = ", ".join(p for p in (account, region) if p)
        text = f"{service} {operation} failed" + (f" in {where}" if where else "")
        text += f": {code}: {message}" if code else f": {message}"
        super().__init__(text + (f" ({hint})" if hint else ""))


class CredentialsError(UpstreamError):
    """No usable credentials were found, or they expired."""


class AccessDenied(UpstreamError):
    """The caller lacks a permission; ``operation`` names the action to grant."""


class NotFound(UpstreamError):
    """The named resource (repository, image, function...) does not exist."""


class Throttled(UpstreamError):
    """Still rate limited after the configured retries."""


class Unreachable(UpstreamError):
    """The endpoint could not be reached (network, DNS, wrong endpoint URL)."""


class TagImmutable(UpstreamError):
    """The tag already exists and the repository does not let it move."""


class LayersMissing(UpstreamError):
    """A re-push failed because the image's layers (or an index's images) are gone."""


Kind = Literal["usage", "input", "refused", "denied", "unavailable", "upstream", "internal"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a person is told about an error: the text, its kind, and the CLI exit status.

    ``usage`` is how to write the command, when the error is about how it was written. ``lines``
    is the same for a terminal, where it differs from ``text``. Every kind is shown only to the
    person who asked (never in the channel).
    """

    text: str
    kind: Kind
    exit: Exit
    usage: str = ""
    terminal: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        """The explanation for a terminal, one line each."""
        return self.terminal or tuple(self.text.splitlines())


def explain(exc: BaseException) -> Explanation:
    """The one mapping from an exception to what a person sees (Slack, CLI, the bot verbs).

    Anything that is not a :class:`LifeguardError` is a bug: it is logged in full with an
    incident id, and the person gets the id, never a traceback.

    Example:
        >>> explain(Denied("You may not protect images in app: ask #platform.")).kind
        'denied'
        >>> explain(UpstreamError("ecr", "PutImage", "ServerException", "boom", hint="retry")).text
        'ecr failed: boom. To fix: retry'
        >>> explain(UsageError("protect needs a reference", "protect", "protect <ref>")).usage
        'protect <ref>'
    """
    if isinstance(exc, UsageError):
        return Explanation(str(exc), "usage", Exit.INVALID_INPUT, exc.usage)
    if isinstance(exc, CliInputError):
        return Explanation("\n".join(exc.lines), "input", Exit.INVALID_INPUT)
    if isinstance(exc, InputError):
        return Explanation(f"That did not parse: {exc}", "input", Exit.INVALID_INPUT)
    if isinstance(exc, UpstreamError):
        return _upstream(exc)
    for kinds, kind, status in _PLAIN:
        if isinstance(exc, kinds):
            return Explanation(str(exc), kind, status)
    incident = secrets.token_hex(4)
    log.error("unexpected error (incident %s)", incident, exc_info=exc)
    return Explanation(
        f"Something went wrong on our side (incident {incident}); it is logged. "
        "Nothing was changed unless a message above says so.",
        "internal",
        Exit.UPSTREAM_FAILURE,
    )


# Errors whose message is what a person reads, most specific first.
_PLAIN: tuple[tuple[type[LifeguardError] | tuple[type[LifeguardError], ...], Kind, Exit], ...] = (
    (StartupError, "refused", Exit.UPSTREAM_FAILURE),
    (Denied, "denied", Exit.INVALID_INPUT),
    (StoreUnavailable, "unavailable", Exit.UPSTREAM_FAILURE),
    (LifeguardError, "refused", Exit.INVALID_INPUT),
)


def _upstream(exc: UpstreamError) -> Explanation:
    hint = f" To fix: {exc.hint}" if exc.hint else ""
    text = f"{exc.service} failed: {exc.message}.{hint}"
    terminal = (str(exc),)
    if isinstance(exc, CredentialsError):
        terminal = (exc.message, *((f"to fix: {exc.hint}",) if exc.hint else ()))
    return Explanation(text, "upstream", Exit.UPSTREAM_FAILURE, terminal=terminal)
