"""``AWS Service Event via CloudTrail`` for ECR: the record of a lifecycle policy run
(``eventName: PolicyExecutionEvent``, §4.2), with the images it expired and the ones it failed to.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag

from bot.events.base import EventModel
from bot.events.cloudtrail import CloudTrailEvent, CloudTrailRecord, cloudtrail_tag


class LifecycleEventSelection(EventModel):
    """A rule's selection as the lifecycle run logs it (human-readable enumerations)."""

    tag_status: str | None = Field(default=None, alias="tagStatus")
    tag_prefix_list: tuple[str, ...] = Field(default=(), alias="tagPrefixList")
    tag_pattern_list: tuple[str, ...] = Field(default=(), alias="tagPatternList")
    count_type: str | None = Field(default=None, alias="countType")
    count_unit: str | None = Field(default=None, alias="countUnit")
    count_number: int | None = Field(default=None, alias="countNumber")


class LifecycleEventRule(EventModel):
    """One rule of the policy a lifecycle run applied."""

    rule_priority: int = Field(alias="rulePriority")
    description: str | None = None
    selection: LifecycleEventSelection | None = Field(default=None, alias="lifecycleEventSelection")
    action: str | dict[str, Any] | None = None


class LifecycleEventPolicy(EventModel):
    """The policy a lifecycle run applied (``lifecycleEventPolicy``)."""

    rules: tuple[LifecycleEventRule, ...] = Field(default=(), alias="lifecycleEventRules")
    last_evaluated_at: int | None = Field(default=None, alias="lastEvaluatedAt")
    policy_version: int | None = Field(default=None, alias="policyVersion")
    policy_id: str | None = Field(default=None, alias="policyId")


class LifecycleEventImage(EventModel):
    """The image a lifecycle action concerned; ``pushed_at_ms`` is epoch milliseconds."""

    digest: str
    tag_status: str | None = Field(default=None, alias="tagStatus")
    tag_list: tuple[str, ...] = Field(default=(), alias="tagList")
    pushed_at_ms: int | None = Field(default=None, alias="pushedAt")

    @property
    def pushed_at(self) -> float | None:
        """The push time ECR ranked the image by, in epoch seconds."""
        return self.pushed_at_ms / 1000 if self.pushed_at_ms is not None else None


class LifecycleImageAction(EventModel):
    """An image the run acted on, and the rule that did it."""

    image: LifecycleEventImage = Field(alias="lifecycleEventImage")
    rule_priority: int = Field(alias="rulePriority")


class LifecycleImageFailure(LifecycleImageAction):
    """An image the run failed to act on (e.g. ``ImageReferencedByManifestList``)."""

    failure_code: str | None = Field(default=None, alias="failureCode")
    failure_reason: str | None = Field(default=None, alias="failureReason")


class PolicyExecutionDetails(EventModel):
    """``serviceEventDetails`` of a ``PolicyExecutionEvent``.

    A run that acts on 10 or more images is logged as several events.
    """

    repository_name: str = Field(alias="repositoryName")
    policy: LifecycleEventPolicy | None = Field(default=None, alias="lifecycleEventPolicy")
    image_actions: tuple[LifecycleImageAction, ...] = Field(
        default=(), alias="lifecycleEventImageActions"
    )
    failures: tuple[LifecycleImageFailure, ...] = Field(
        default=(), alias="lifecycleEventFailureDetails"
    )


class PolicyExecution(CloudTrailRecord):
    """The CloudTrail record of a lifecycle run (``eventName: PolicyExecutionEvent``)."""

    event_name: Literal["PolicyExecutionEvent"] = Field(alias="eventName")
    service_event_details: PolicyExecutionDetails = Field(alias="serviceEventDetails")
    KIND: ClassVar[str] = "lifecycle_execution"

    @property
    def repository_name(self) -> str:
        """The repository whose policy ran."""
        return self.service_event_details.repository_name


ServiceEventRecord = Annotated[
    Annotated[PolicyExecution, Tag("PolicyExecutionEvent")], Discriminator(cloudtrail_tag)
]


class CloudTrailServiceEvent(CloudTrailEvent):
    """``detail-type: AWS Service Event via CloudTrail`` for ECR: a lifecycle run's record.

    Example:
        >>> from bot.events.parse import parse_event
        >>> event = parse_event({"version": "0", "id": "e-3", "source": "aws.ecr",
        ...   "detail-type": "AWS Service Event via CloudTrail", "account": "123456789012",
        ...   "time": "2020-03-12T20:22:12Z", "region": "us-west-2", "resources": [],
        ...   "detail": {"eventSource": "ecr.amazonaws.com", "eventName": "PolicyExecutionEvent",
        ...     "eventTime": "2020-03-12T20:22:12Z", "eventID": "c-2",
        ...     "userIdentity": {"invokedBy": "AWS Internal"},
        ...     "serviceEventDetails": {"repositoryName": "testrepo",
        ...       "lifecycleEventImageActions": [{"rulePriority": 1, "lifecycleEventImage":
        ...         {"digest": "sha256:ddba", "pushedAt": 1584042813000}}]}}})
        >>> [action] = event.detail.service_event_details.image_actions
        >>> event.kind, action.image.pushed_at, action.rule_priority
        ('lifecycle_execution', 1584042813.0, 1)
    """

    detail_type: Literal["AWS Service Event via CloudTrail"] = Field(alias="detail-type")
    detail: ServiceEventRecord
