"""The events AWS would send the bot, shaped as EventBridge delivers them to its queue.

* :func:`push_event`: ``ECR Image Action`` PUSH, one per tag pushed.
* :func:`lifecycle_run_event`: ``AWS Service Event via CloudTrail`` carrying a lifecycle run's
  ``PolicyExecutionEvent`` record: the images a run expired and the rules it applied, spelled as
  CloudTrail spells them (``"Image count more than"``).

Example:
    >>> event = push_event("app", "sha256:ab", "v2", at=1_671_797_100.0)
    >>> event["detail-type"], event["detail"]["action-type"], event["time"]
    ('ECR Image Action', 'PUSH', '2022-12-23T12:05:00Z')
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.demo.emulator import ACCOUNT, REGION
from bot.text import short_digest

_TAG_STATUS = {"tagged": "Tagged", "untagged": "Untagged", "any": "Any"}
_COUNT_TYPE = {
    "imageCountMoreThan": "Image count more than",
    "sinceImagePushed": "Time since image pushed",
}


@dataclass(frozen=True, slots=True)
class Expired:
    """One image a lifecycle run expired: the rule that did it, and the image as ECR logs it."""

    rule_priority: int
    digest: str
    tags: tuple[str, ...]
    pushed_at: float


def iso(at: float) -> str:
    """An instant as EventBridge and CloudTrail write it.

    Example:
        >>> iso(0.0)
        '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(detail_type: str, at: float, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ecr",
        "account": ACCOUNT,
        "time": iso(at),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def push_event(repository: str, digest: str, tag: str, *, at: float) -> dict[str, Any]:
    """The event of a completed push of ``tag``."""
    detail = {
        "result": "SUCCESS",
        "repository-name": repository,
        "image-digest": digest,
        "action-type": "PUSH",
        "image-tag": tag,
    }
    return _envelope("ECR Image Action", at, detail)


def logged_rules(policy_text: str) -> list[dict[str, Any]]:
    """A policy's rules as a ``PolicyExecutionEvent`` records them.

    Example:
        >>> logged_rules('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
        ...                 "countType": "imageCountMoreThan", "countNumber": 5}}]}''')[0]
        ... # doctest: +NORMALIZE_WHITESPACE
        {'rulePriority': 1, 'description': None, 'lifecycleEventSelection': {'tagStatus':
        'Tagged', 'tagPrefixList': ['v'], 'countType': 'Image count more than', 'countNumber': 5},
        'action': 'expire'}
    """
    rules = []
    for rule in json.loads(policy_text)["rules"]:
        selection = rule["selection"]
        logged: dict[str, Any] = {
            "tagStatus": _TAG_STATUS.get(selection["tagStatus"], selection["tagStatus"]),
            "tagPrefixList": selection.get("tagPrefixList", []),
            "countType": _COUNT_TYPE.get(selection["countType"], selection["countType"]),
        }
        if "countUnit" in selection:
            logged["countUnit"] = selection["countUnit"].capitalize()
        logged["countNumber"] = selection["countNumber"]
        rules.append(
            {
                "rulePriority": rule["rulePriority"],
                "description": rule.get("description"),
                "lifecycleEventSelection": logged,
                "action": rule["action"]["type"],
            }
        )
    return rules


def lifecycle_image(
    digest: str, tags: Sequence[str], pushed_at_ms: int, rule_priority: int = 1
) -> dict[str, Any]:
    """One ``lifecycleEventImageActions`` entry of a ``PolicyExecutionEvent``.

    Example:
        >>> lifecycle_image("sha256:ab", ["v1"], 0)["lifecycleEventImage"]["tagStatus"]
        'Tagged'
    """
    return {
        "lifecycleEventImage": {
            "digest": digest,
            "tagStatus": "Tagged" if tags else "Untagged",
            "tagList": list(tags),
            "pushedAt": pushed_at_ms,
        },
        "rulePriority": rule_priority,
    }


def policy_execution_record(
    repository: str,
    event_time: str,
    actions: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    *,
    failures: list[dict[str, Any]] | None = None,
    region: str = REGION,
) -> dict[str, Any]:
    """A lifecycle run's CloudTrail record (``PolicyExecutionEvent``), shaped like AWS's sample.

    Example:
        >>> policy_execution_record("app", "2022-12-24T03:14:00Z", [], [])["eventName"]
        'PolicyExecutionEvent'
    """
    return {
        "eventVersion": "1.09",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "eventTime": event_time,
        "eventSource": "ecr.amazonaws.com",
        "eventName": "PolicyExecutionEvent",
        "awsRegion": region,
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": None,
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "resources": [
            {"ARN": f"arn:aws:ecr:{region}:{ACCOUNT}:repository/{repository}", "accountId": ACCOUNT}
        ],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "serviceEventDetails": {
            "repositoryName": repository,
            "lifecycleEventPolicy": {
                "lifecycleEventRules": rules,
                "lastEvaluatedAt": 0,
                "policyVersion": 1,
                "policyId": "ceb86829-58e7-9498-920c-aa042e33037b",
            },
            "lifecycleEventImageActions": actions,
            "lifecycleEventFailureDetails": failures or [],
        },
        "eventCategory": "Management",
    }


def lifecycle_run_event(
    repository: str, policy_text: str, expired: Sequence[Expired], *, at: float
) -> dict[str, Any]:
    """The event of a lifecycle run that expired ``expired`` under ``policy_text``."""
    actions = [
        lifecycle_image(image.digest, image.tags, int(image.pushed_at * 1000), image.rule_priority)
        for image in expired
    ]
    record = policy_execution_record(repository, iso(at), actions, logged_rules(policy_text))
    return _envelope("AWS Service Event via CloudTrail", at, record)


def describe(event: dict[str, Any]) -> str:
    """An event in a few words, for the narration.

    Example:
        >>> describe(push_event("app", "sha256:" + "a" * 64, "v2", at=0.0))
        'ECR Image Action PUSH app:v2 (sha256:aaaaaaaaaaaa…)'
    """
    detail = event["detail"]
    if "action-type" in detail:
        image = f"{detail['repository-name']}:{detail.get('image-tag', '')}"
        digest = short_digest(str(detail["image-digest"]))
        return f"{event['detail-type']} {detail['action-type']} {image} (sha256:{digest}…)"
    details = detail.get("serviceEventDetails", {})
    images = len(details.get("lifecycleEventImageActions", []))
    return (
        f"{event['detail-type']}: {detail['eventName']} for {details.get('repositoryName')}, "
        f"{images} images expired"
    )
