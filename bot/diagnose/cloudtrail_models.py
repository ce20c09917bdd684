"""What CloudTrail records say about ECR images: the items :mod:`bot.edge.aws.cloudtrail` returns.

Plain frozen dataclasses, read from ``CloudTrailEvent`` JSON by
:mod:`bot.diagnose.cloudtrail_records`; the adapter :mod:`bot.edge.aws.cloudtrail` returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LifecycleRuleRecord:
    """A lifecycle rule as a ``PolicyExecutionEvent`` records it (human-readable enumerations).

    ``selection`` is ``lifecycleEventSelection`` as logged, e.g. ``{"tagStatus": "Tagged",
    "countType": "Image count more than", ...}``; :func:`policy_rule` turns it into policy JSON.
    """

    priority: int
    description: str | None
    selection: dict[str, Any] = field(hash=False)
    action: str | None = None


@dataclass(frozen=True, slots=True)
class LifecycleAction:
    """One image a lifecycle run acted on (or failed to: ``failure_code`` is then set).

    ``pushed_at`` is the push time ECR ranked the image by, in epoch seconds; ``rule`` is the rule
    of ``rule_priority`` as the same event recorded it, and ``policy`` every rule the event
    recorded. ECR logs at most 100 tags per image.
    """

    repository: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    rule_priority: int
    event_time: float
    event_id: str
    failure_code: str | None = None
    failure_reason: str | None = None
    rule: LifecycleRuleRecord | None = field(default=None, compare=False)
    policy: tuple[LifecycleRuleRecord, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ImageFailure:
    """An image a ``BatchDeleteImage`` call could not delete, and why."""

    digest: str | None
    tag: str | None
    code: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ImageDeletion:
    """A ``BatchDeleteImage`` call: what it removed and who made it.

    ``digests`` and ``tags`` are what the response reports as deleted (the request when the record
    has no response). Deleting by tag only untags an image that keeps other tags.
    """

    repository: str
    digests: tuple[str, ...]
    tags: tuple[str, ...]
    principal: str
    event_time: float
    event_id: str
    failures: tuple[ImageFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class TagPush:
    """A ``PutImage`` call: a push or a retag, pointing ``tag`` (None: untagged) at ``digest``."""

    repository: str
    tag: str | None
    digest: str
    principal: str
    event_time: float
    event_id: str


@dataclass(frozen=True, slots=True)
class TagMove:
    """A tag that a ``PutImage`` moved from one digest to another."""

    repository: str
    tag: str
    previous_digest: str
    digest: str
    principal: str
    event_time: float
    event_id: str


@dataclass(frozen=True, slots=True)
class LookupResult(Generic[T]):
    """What one lookup found, oldest first, and how complete the answer is.

    ``truncated``: more pages were left unread (``max_pages``). ``malformed``: records, or entries
    within a record, that could not be read. ``unrelated``: readable records for another repository,
    another event source, another tag, or failed API calls.
    """

    items: tuple[T, ...]
    truncated: bool = False
    pages: int = 0
    malformed: int = 0
    unrelated: int = 0
