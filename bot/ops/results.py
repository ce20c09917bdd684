"""What the verbs return: plain frozen dataclasses the Slack blocks and the CLI render (pure).

Kept apart from the verbs so that the renderers import no AWS or Redis adapter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from bot.lifecycle.decisions import Evaluation
from bot.lifecycle.images import Image
from bot.refs import RepositoryKey
from bot.state.records import Lease

RetagStatus = Literal["done", "already", "needs_confirmation"]
RestoreStatus = Literal["already_active", "restoring", "repushed"]


@dataclass(frozen=True)
class PolicyChange:
    """A change to a repository's lifecycle policy: the text before and after.

    ``token`` is set while the change waits for confirmation.
    """

    repository: RepositoryKey
    before: str
    after: str
    token: str | None = None


@dataclass(frozen=True)
class Shielding:
    """What the evaluator says about the image under the policy in force."""

    shielded: bool
    explanation: str


@dataclass(frozen=True)
class ProtectResult:
    """The outcome of ``protect``; ``tags`` are the image's tags (its keep tag included)."""

    lease: Lease
    keep_tag_added: bool
    change: PolicyChange | None
    applied: bool
    shielding: Shielding | None
    extended: bool = False
    recorded: bool = True
    note: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnprotectResult:
    """The outcome of ending a lease: whether the keep tag went, and why not if it stayed;
    ``tags`` are the image's tags afterwards."""

    lease: Lease
    tag_removed: bool
    note: str
    recorded: bool = True
    record_note: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetagResult:
    """The outcome of ``retag``; ``moved_from`` is the image the tag left (or would leave)."""

    status: RetagStatus
    repository: RepositoryKey
    tag: str
    image: Image
    moved_from: Image | None = None
    token: str | None = None
    recorded: bool = True
    note: str | None = None


@dataclass(frozen=True)
class RestoreResult:
    """The outcome of ``restore``."""

    status: RestoreStatus
    repository: RepositoryKey
    digest: str
    tags: tuple[str, ...] = ()
    recorded: bool = True
    note: str | None = None
    follow_up: Callable[[], Awaitable[str]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PlanResult:
    """A repository's policy evaluated now."""

    repository: RepositoryKey
    evaluation: Evaluation
