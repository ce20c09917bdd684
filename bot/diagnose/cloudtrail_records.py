"""Reading ``CloudTrailEvent`` records of ECR calls, defensively: pure, no AWS call.

Each reader (:func:`_lifecycle`, :func:`_deletion`, :func:`_tag_push`) takes one decoded
:class:`_Record` and returns what it found with the number of entries it could not read; a record
that cannot be read at all raises one of ``_UNREADABLE``, which the lookup counts as malformed.
:func:`lifecycle_rule_record` reads one rule of the policy a lifecycle run logged, and
:func:`tag_moves` derives tag moves from the pushes read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from bot.diagnose.cloudtrail_models import (
    ImageDeletion,
    ImageFailure,
    LifecycleAction,
    LifecycleRuleRecord,
    TagMove,
    TagPush,
)
from bot.lifecycle.timefmt import parse_instant

EVENT_SOURCE = "ecr.amazonaws.com"

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


def read_records(
    events: Iterable[Any],
    event_name: str,
    repository: str | None,
    read: Any,
) -> tuple[list[Any], int, int]:
    """Read LookupEvents-shaped events of one ``event_name`` with a reader (:func:`_lifecycle`,
    :func:`_deletion`, :func:`_tag_push`): what they hold, oldest first, and how many were
    malformed and unrelated. The CloudTrail adapter and the events the bot stored share this.
    """
    items: list[Any] = []
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
    return items, malformed, unrelated


def as_lookup_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudTrail record (as EventBridge delivers it in ``detail``) in the shape LookupEvents
    returns it, so the same readers read both.

    Example:
        >>> as_lookup_event({"eventID": "e1", "eventTime": "2020-03-12T20:22:12Z"})["EventId"]
        'e1'
    """
    return {
        "CloudTrailEvent": json.dumps(record),
        "EventTime": record.get("eventTime"),
        "EventId": record.get("eventID"),
    }


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


def _event_time(item: Any) -> float:
    return float(item.event_time)
