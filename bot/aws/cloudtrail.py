"""CloudTrail forensics: what lifecycle policies, deletions and pushes did to an ECR repository.

CloudTrail event history serves the last 90 days through ``LookupEvents``: one lookup attribute
per call, at most 50 events a page, and **two requests per second per account and region**. Each
lookup here asks for one event name (``PolicyExecutionEvent``, ``BatchDeleteImage``, ``PutImage``),
pages with ``NextToken`` behind a limiter shared by every lookup against the same account and
region, reads each ``CloudTrailEvent`` JSON string defensively, and keeps ECR's records for the
repository asked about (or all repositories, with ``repository=None``: one lookup serves them all).

Unreadable records are skipped and counted (``LookupResult.malformed``), never fatal. A lookup
reads at most ``max_pages`` pages and then says ``truncated``. An empty answer means "nothing in
CloudTrail's event history", not "never happened": history ends after 90 days and events arrive
some minutes late.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from bot.aws.clients import AwsClients, AwsTarget
from bot.lifecycle.timefmt import parse_instant, to_datetime

EVENT_SOURCE = "ecr.amazonaws.com"
LOOKUP_RATE = 2.0
PAGE_SIZE = 50
DEFAULT_MAX_PAGES = 20
HISTORY_DAYS = 90

T = TypeVar("T")
Instant = datetime | float


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


class RequestSpacer:
    """Runs one request at a time, each starting ``1 / rate`` seconds after the previous *ended*.

    Counting from the end (not the start) of the previous request means the server sees requests
    at least ``1 / rate`` apart whatever the network latency, at the cost of some throughput.

    Example::

        spacer = RequestSpacer(2.0)
        async with spacer.slot():
            await aws.call(target, "cloudtrail", "lookup_events", ...)
        async with spacer.slot():   # starts half a second after the first call returned
            ...
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = -math.inf
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the turn of the next request, and hold it while the request runs."""
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                self._next = self._clock() + self.interval


_SPACERS: weakref.WeakKeyDictionary[AwsClients, dict[tuple[str, float], RequestSpacer]] = (
    weakref.WeakKeyDictionary()
)


def shared_spacer(aws: AwsClients, target: AwsTarget, rate: float = LOOKUP_RATE) -> RequestSpacer:
    """The one LookupEvents limiter of this unit of work for an account and region (and rate).

    Example:
        >>> from bot.settings import AwsAccount, AwsSettings
        >>> aws, here = AwsClients(AwsSettings()), AwsTarget(AwsAccount(), "eu-west-1")
        >>> shared_spacer(aws, here) is shared_spacer(aws, AwsTarget(AwsAccount(), "eu-west-1"))
        True
    """
    spacers = _SPACERS.setdefault(aws, {})
    key = (target.label, rate)
    if key not in spacers:
        spacers[key] = RequestSpacer(rate)
    return spacers[key]


class CloudTrailForensics:
    """Looks up what happened to ECR images in CloudTrail event history (the last 90 days).

    Needs ``cloudtrail:LookupEvents``; without it every method raises
    :class:`bot.errors.AccessDenied`. ``rate`` (requests per second) and ``max_pages`` bound the
    cost: at the documented 2/s, 20 pages of 50 events take ten seconds plus the latency.

    Example::

        async with AwsClients(settings.aws) as aws:
            trail = CloudTrailForensics(aws, target)
            found = await trail.lifecycle_actions("team/app", now - 14 * DAY, now)
            for action in found.items:
                print(action.digest, action.tags, action.rule_priority)
            if found.truncated:
                print("older events were not read")
    """

    def __init__(
        self,
        aws: AwsClients,
        target: AwsTarget,
        *,
        rate: float = LOOKUP_RATE,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.aws = aws
        self.target = target
        self.max_pages = max_pages
        self._spacer = shared_spacer(aws, target, rate)

    async def lifecycle_actions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[LifecycleAction]:
        """Images lifecycle runs expired (or failed to) between ``start`` and ``end``.

        A run over ten or more images is logged as several events; their actions are all returned.

        Example::

            found = await trail.lifecycle_actions("blog", datetime(2022, 12, 1, tzinfo=UTC), now)
            [(a.digest, a.tags, a.rule.description) for a in found.items if a.rule]
        """
        return await self._collect("PolicyExecutionEvent", repository, start, end, _lifecycle)

    async def deletions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[ImageDeletion]:
        """``BatchDeleteImage`` calls between ``start`` and ``end``, with who made them.

        Example::

            for deletion in (await trail.deletions("team/app", start, end)).items:
                print(deletion.principal, deletion.digests, deletion.tags)
        """
        return await self._collect("BatchDeleteImage", repository, start, end, _deletion)

    async def tag_pushes(
        self, repository: str | None, start: Instant, end: Instant, tag: str | None = None
    ) -> LookupResult[TagPush]:
        """``PutImage`` calls (pushes, retags) between ``start`` and ``end``; of ``tag`` if given.

        Example::

            pushes = await trail.tag_pushes("team/app", start, end, tag="prod")
            moves = tag_moves(pushes.items)   # where "prod" pointed before and after
        """
        found = await self._collect("PutImage", repository, start, end, _tag_push)
        if tag is None:
            return found
        kept = tuple(push for push in found.items if push.tag == tag)
        return LookupResult(
            kept,
            found.truncated,
            found.pages,
            found.malformed,
            found.unrelated + len(found.items) - len(kept),
        )

    async def _collect(
        self,
        event_name: str,
        repository: str | None,
        start: Instant,
        end: Instant,
        read: Callable[[_Record], tuple[list[T], int]],
    ) -> LookupResult[T]:
        events, pages, truncated = await self._lookup(event_name, start, end)
        items: list[T] = []
        malformed = unrelated = 0
        for event in events:
            try:
                record = _Record(event, event_name)
                if not record.concerns(repository):
                    unrelated += 1
                    continue
                found, bad = read(record)
            except _UNREADABLE:
                malformed += 1
                continue
            items.extend(found)
            malformed += bad
        items.sort(key=_event_time)
        return LookupResult(tuple(items), truncated, pages, malformed, unrelated)

    async def _lookup(
        self, event_name: str, start: Instant, end: Instant
    ) -> tuple[list[Any], int, bool]:
        first, last = parse_instant(start), parse_instant(end)
        if first > last:
            raise ValueError(f"start ({to_datetime(first)}) is after end ({to_datetime(last)})")
        params: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": event_name}],
            "StartTime": to_datetime(first),
            "EndTime": to_datetime(last),
            "MaxResults": PAGE_SIZE,
        }
        events: list[Any] = []
        for page in range(1, self.max_pages + 1):
            async with self._spacer.slot():
                response = await self.aws.call(self.target, "cloudtrail", "lookup_events", **params)
            events.extend(response.get("Events") or [])
            token = response.get("NextToken")
            if not token:
                return events, page, False
            params["NextToken"] = token
        return events, self.max_pages, True


def _event_time(item: Any) -> float:
    return float(item.event_time)


# Reading records -------------------------------------------------------------------------------

_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError)


class _Record:
    """A decoded ``CloudTrailEvent``; raises one of ``_UNREADABLE`` when it cannot be read."""

    def __init__(self, event: Any, event_name: str) -> None:
        self.data = _mapping(json.loads(event["CloudTrailEvent"]))
        self.event_name = event_name
        self.event_time = parse_instant(self.data.get("eventTime") or event["EventTime"])
        self.event_id = _text(self.data.get("eventID") or event["EventId"])
        self.principal = _principal(self.data, event)

    @property
    def repository(self) -> str:
        """The repository the record is about."""
        return _text(self.section()["repositoryName"])

    def section(self) -> dict[str, Any]:
        """Where the repository is named: service event details, or the request parameters."""
        lifecycle = self.event_name == "PolicyExecutionEvent"
        return _mapping(self.data["serviceEventDetails" if lifecycle else "requestParameters"])

    def concerns(self, repository: str | None) -> bool:
        """ECR's own record of a call that succeeded, for this repository (or any)."""
        return (
            self.data.get("eventSource") == EVENT_SOURCE
            and self.data.get("eventName") == self.event_name
            and not self.data.get("errorCode")
            and repository in (None, self.repository)
        )


def _principal(data: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    identity = data.get("userIdentity")
    if isinstance(identity, dict):
        for key in ("arn", "invokedBy", "type"):
            if isinstance(identity.get(key), str) and identity[key]:
                return str(identity[key])
    username = event.get("Username")
    return username if isinstance(username, str) and username else "unknown"


def _lifecycle(record: _Record) -> tuple[list[LifecycleAction], int]:
    details = record.section()
    rules, bad = _rules(details.get("lifecycleEventPolicy"))
    actions: list[LifecycleAction] = []
    for key in ("lifecycleEventImageActions", "lifecycleEventFailureDetails"):
        for entry in details.get(key) or []:
            try:
                actions.append(_lifecycle_action(record, _mapping(entry), rules))
            except _UNREADABLE:
                bad += 1
    return actions, bad


def _lifecycle_action(
    record: _Record, entry: dict[str, Any], rules: Mapping[int, LifecycleRuleRecord]
) -> LifecycleAction:
    image = _mapping(entry["lifecycleEventImage"])
    priority = _integer(entry["rulePriority"])
    code = entry.get("failureCode")
    return LifecycleAction(
        repository=record.repository,
        digest=_text(image["digest"]),
        tags=_texts(image.get("tagList") or []),
        pushed_at=_milliseconds(image["pushedAt"]) / 1000,
        rule_priority=priority,
        event_time=record.event_time,
        event_id=record.event_id,
        failure_code=_text(code) if code is not None else None,
        failure_reason=_optional_text(entry.get("failureReason")),
        rule=rules.get(priority),
        policy=tuple(rules[p] for p in sorted(rules)),
    )


def _rules(policy: Any) -> tuple[dict[int, LifecycleRuleRecord], int]:
    rules: dict[int, LifecycleRuleRecord] = {}
    bad = 0
    entries = policy.get("lifecycleEventRules") if isinstance(policy, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        try:
            rule = lifecycle_rule_record(entry)
        except _UNREADABLE:
            bad += 1
        else:
            rules[rule.priority] = rule
    return rules, bad


def lifecycle_rule_record(entry: Mapping[str, Any]) -> LifecycleRuleRecord:
    """Read one ``lifecycleEventRules`` entry; raises KeyError/TypeError when it is unreadable.

    Example:
        >>> selection = {"tagStatus": "Any", "countType": "Image count more than", "countNumber": 2}
        >>> lifecycle_rule_record({"rulePriority": 1, "description": "keep 2", "action": "expire",
        ...                        "lifecycleEventSelection": selection}).priority
        1
    """
    return LifecycleRuleRecord(
        priority=_integer(entry["rulePriority"]),
        description=_optional_text(entry.get("description")),
        selection=dict(_mapping(entry["lifecycleEventSelection"])),
        action=_optional_text(entry.get("action")),
    )


def _deletion(record: _Record) -> tuple[list[ImageDeletion], int]:
    response = record.data.get("responseElements")
    response = response if isinstance(response, dict) else {}
    listed = response.get("imageIds")
    ids = [_mapping(i) for i in (listed if listed is not None else record.section()["imageIds"])]
    failures = tuple(_image_failure(_mapping(f)) for f in response.get("failures") or [])
    deletion = ImageDeletion(
        repository=record.repository,
        digests=_unique(i.get("imageDigest") for i in ids),
        tags=_unique(i.get("imageTag") for i in ids),
        principal=record.principal,
        event_time=record.event_time,
        event_id=record.event_id,
        failures=failures,
    )
    return [deletion], 0


def _image_failure(failure: dict[str, Any]) -> ImageFailure:
    image = failure.get("imageId")
    image = image if isinstance(image, dict) else {}
    return ImageFailure(
        digest=_optional_text(image.get("imageDigest")),
        tag=_optional_text(image.get("imageTag")),
        code=_text(failure["failureCode"]),
        reason=_optional_text(failure.get("failureReason")),
    )


def _tag_push(record: _Record) -> tuple[list[TagPush], int]:
    request = record.section()
    push = TagPush(
        repository=record.repository,
        tag=_optional_text(request.get("imageTag")),
        digest=_pushed_digest(request, record.data.get("responseElements")),
        principal=record.principal,
        event_time=record.event_time,
        event_id=record.event_id,
    )
    return [push], 0


def _pushed_digest(request: Mapping[str, Any], response: Any) -> str:
    image = response.get("image") if isinstance(response, dict) else None
    image_id = image.get("imageId") if isinstance(image, dict) else None
    if isinstance(image_id, dict) and isinstance(image_id.get("imageDigest"), str):
        return str(image_id["imageDigest"])
    if isinstance(request.get("imageDigest"), str):
        return str(request["imageDigest"])
    manifest = _text(request["imageManifest"])
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def tag_moves(pushes: Iterable[TagPush]) -> list[TagMove]:
    """The pushes that pointed a tag at a different digest than its previous push did.

    Only moves seen within the pushes given are found: the first push of a tag in a lookup window
    has no known predecessor.

    Example:
        >>> a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
        >>> moves = tag_moves([TagPush("app", "prod", a, "ci", 1.0, "e1"),
        ...                    TagPush("app", "prod", b, "ci", 2.0, "e2")])
        >>> [(m.tag, m.previous_digest == a, m.digest == b) for m in moves]
        [('prod', True, True)]
    """
    last: dict[tuple[str, str], str] = {}
    moves: list[TagMove] = []
    for push in sorted(pushes, key=_event_time):
        if push.tag is None:
            continue
        key = (push.repository, push.tag)
        previous = last.get(key)
        if previous is not None and previous != push.digest:
            moves.append(
                TagMove(
                    push.repository,
                    push.tag,
                    previous,
                    push.digest,
                    push.principal,
                    push.event_time,
                    push.event_id,
                )
            )
        last[key] = push.digest
    return moves


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(_text(item) for item in value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _milliseconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"expected epoch milliseconds, got {value!r}")
    return float(value)


def _unique(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_text(v) for v in values if v is not None))


# Back to policy JSON ---------------------------------------------------------------------------

_TAG_STATUSES = {"any": "any", "tagged": "tagged", "untagged": "untagged"}
# Spelled-out names seen in real events, then the API names themselves (accepted verbatim).
# UNCONFIRMED: how CloudTrail spells sinceImagePulled and sinceImageTransitioned; a spelled-out
# name not listed here (e.g. "Time since image pulled") converts to None rather than a guess.
_COUNT_TYPES = {
    "image count more than": "imageCountMoreThan",
    "time since image pushed": "sinceImagePushed",
    "imagecountmorethan": "imageCountMoreThan",
    "sinceimagepushed": "sinceImagePushed",
    "sinceimagepulled": "sinceImagePulled",
    "sinceimagetransitioned": "sinceImageTransitioned",
}
_COUNT_UNITS = {"days": "days"}
# UNCONFIRMED: whether and how records spell storageClass; matched case-insensitively.
_STORAGE_CLASSES = {"standard": "standard", "archive": "archive"}
# UNCONFIRMED: how a transition action is recorded (its target storage class is not logged).
_ACTIONS = {"expire": "expire"}
_SELECTION_KEYS = frozenset(
    {"tagStatus", "tagPrefixList", "tagPatternList", "storageClass"}
    | {"countType", "countUnit", "countNumber"}
)


def policy_rule(record: LifecycleRuleRecord) -> dict[str, Any] | None:
    """The lifecycle policy rule a CloudTrail rule record describes, or None when unsure.

    Human enumerations map back to API names (``"Image count more than"`` → ``imageCountMoreThan``,
    ``"Time since image pushed"`` → ``sinceImagePushed``, ``"Tagged"`` → ``tagged``, ``"Days"`` →
    ``days``); empty tag lists are dropped. Unknown names or keys give None (see the UNCONFIRMED
    notes above): better no policy than a wrong one.

    Example:
        >>> policy_rule(LifecycleRuleRecord(1, "keep 5", {"tagStatus": "Tagged",
        ...     "tagPrefixList": ["tag"], "countType": "Image count more than", "countNumber": 5},
        ...     "expire"))["selection"]
        {'tagStatus': 'tagged', 'tagPrefixList': ['tag'], 'countType': 'imageCountMoreThan', \
'countNumber': 5}
    """
    action = _ACTIONS.get(str(record.action).lower())
    selection = _policy_selection(record.selection)
    if action is None or selection is None:
        return None
    rule: dict[str, Any] = {"rulePriority": record.priority}
    if record.description:
        rule["description"] = record.description
    rule["selection"] = selection
    rule["action"] = {"type": action}
    return rule


def policy_from_rules(records: Sequence[LifecycleRuleRecord]) -> dict[str, Any] | None:
    """The whole lifecycle policy (rules by priority), or None if any rule cannot be converted.

    Example:
        >>> policy_from_rules([LifecycleRuleRecord(1, None, {"tagStatus": "Untagged",
        ...     "countType": "Time since image pulled", "countUnit": "Days", "countNumber": 9},
        ...     "expire")]) is None
        True
    """
    rules = [policy_rule(record) for record in sorted(records, key=lambda r: r.priority)]
    if not rules or any(rule is None for rule in rules):
        return None
    return {"rules": rules}


_INVALID: Any = object()


def _policy_selection(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    if not _SELECTION_KEYS.issuperset(raw):
        return None
    count = raw.get("countNumber")
    selection = {
        "tagStatus": _name(raw.get("tagStatus"), _TAG_STATUSES, required=True),
        "tagPrefixList": _entries(raw.get("tagPrefixList")),
        "tagPatternList": _entries(raw.get("tagPatternList")),
        "storageClass": _name(raw.get("storageClass"), _STORAGE_CLASSES),
        "countType": _name(raw.get("countType"), _COUNT_TYPES, required=True),
        "countUnit": _name(raw.get("countUnit"), _COUNT_UNITS),
        "countNumber": count if type(count) is int else _INVALID,
    }
    if any(value is _INVALID for value in selection.values()):
        return None
    return {key: value for key, value in selection.items() if value is not None}


def _name(value: Any, names: Mapping[str, str], *, required: bool = False) -> Any:
    if value is None:
        return _INVALID if required else None
    return names.get(str(value).lower(), _INVALID)


def _entries(value: Any) -> Any:
    if not value:
        return None
    if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
        return list(value)
    return _INVALID
