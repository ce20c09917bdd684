"""What a verb is: its name, how it is written, who may run it, what it calls, how it runs and how
its result is shown (pure). The registry in :mod:`bot.ops.registry` lists them; Slack's ``/ecr``,
its buttons and the CLI are generated from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.errors import Exit

if TYPE_CHECKING:
    from bot.ops.call import Call

A = TypeVar("A")
R = TypeVar("R")
Payload = dict[str, Any]


@dataclass(frozen=True)
class Pending:
    """A change that waits for the asker's answer: the token, the question, the verb that applies
    it (``apply-guard``, ``move-tag``) and the one that drops it (``cancel``)."""

    token: str
    question: str
    confirm_verb: str


@dataclass
class Reply:
    """What a verb's run shows: a Slack message, the same for a terminal, who sees it, the exit
    status, a question waiting for an answer, and news to post later.

    ``follow_up`` is awaited in the background after the reply was shown; the text it returns is
    posted where the reply went (the alert's thread when there is one). ``update`` is new content
    for the message whose button was clicked (e.g. the alert, now snoozed).
    """

    payload: Payload
    lines: list[str]
    public: bool = False
    exit: Exit = Exit.OK
    pending: Pending | None = None
    update: Payload | None = None
    follow_up: Callable[[], Awaitable[str | None]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Verb(Generic[A, R]):
    """One verb.

    ``permission`` names what the verb does for authorisation and audit ("protect"); None for
    read-only verbs, which everyone may run. ``iam_actions`` lists the AWS actions its runner may
    call (a meta test checks they are granted in ``deploy/iam/``). ``typed`` verbs can be written
    after ``/ecr`` and on the CLI; the others are answers to buttons. ``audit_as`` names the
    action in the audit log when it is not the verb's name.

    Example::

        VERB = Verb(
            name="unprotect",
            usage="unprotect <ref>",
            summary="end a protection now",
            parse=parse_unprotect,
            run=run_unprotect,
            present=present_unprotect,
            permission="unprotect",
            iam_actions=("ecr:DescribeImages", "ecr:BatchDeleteImage"),
        )
    """

    name: str
    usage: str
    summary: str
    parse: Callable[[Sequence[str]], A]
    run: Callable[[Call, A], Awaitable[R]]
    present: Callable[[R], Reply]
    permission: str | None = None
    iam_actions: tuple[str, ...] = ()
    typed: bool = True
    audit_as: str = ""

    @property
    def action(self) -> str:
        """The action its audit entries name (``audit_as``, else the verb's name)."""
        return self.audit_as or self.name
