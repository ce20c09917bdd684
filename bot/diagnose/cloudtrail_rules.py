"""Back to policy JSON: the lifecycle rules a ``PolicyExecutionEvent`` recorded, in API spelling.

CloudTrail logs each rule with human-readable enumerations (``"Image count more than"``); the
converter maps them back to API names, or gives None when unsure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.diagnose.cloudtrail_models import LifecycleRuleRecord

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
