"""Typed events: frozen pydantic models of what EventBridge delivers about ECR and ECS.

The envelope (``version``, ``id``, ``detail-type``, ``source``, ``account``, ``time``, ``region``,
``resources``) is kept apart from the payload (``detail``). :data:`Event` is a discriminated union
on ``detail-type``; inside it, ``ECR Image Action`` is a union on ``detail.action-type`` and the two
CloudTrail detail-types are unions on ``detail.eventName`` (for ``eventSource:
ecr.amazonaws.com`` only). Shapes follow ``ecr-behaviour.md`` §4 and the AWS samples in
``tests/fixtures/events/``.

Rules every model follows:

* unknown fields are ignored (AWS adds fields), a required field missing or of the wrong type is a
  validation error;
* AWS's hyphenated and camelCase keys are aliases; Python names are snake_case;
* every event offers the same small surface, so a consumer needs no ``isinstance`` ladder:
  :attr:`~EventEnvelope.event_id`, :attr:`~EventEnvelope.at` (epoch seconds),
  :attr:`~EventEnvelope.repository` (a :class:`~bot.refs.RepositoryKey`, None for ECS events) and
  :attr:`~EventEnvelope.kind` (a short name for metrics, one of :data:`EVENT_KINDS`).

Use :func:`bot.events.parse.parse_message` to build one from an SQS message body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from bot.refs import RepositoryKey

ECR_EVENT_SOURCE = "ecr.amazonaws.com"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _failure_as_failure(value: object) -> object:
    # The ECR guide's samples spell a failed action both FAILURE and FAILED.
    return "FAILURE" if value == "FAILED" else value


Result = Annotated[Literal["SUCCESS", "FAILURE"], BeforeValidator(_failure_as_failure)]


# -- the envelope -------------------------------------------------------------------------------


class EventEnvelope(_Model):
    """What every EventBridge event carries, whatever its ``detail``.

    ``account`` is optional: moto's EventBridge leaves it out (AWS always sends it).
    """

    version: str
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str | None = None
    time: datetime
    region: str
    resources: tuple[str, ...] = ()

    @property
    def event_id(self) -> str:
        """The EventBridge event id: unique per event, the key for idempotency."""
        return self.id

    @property
    def at(self) -> float:
        """When the event happened, in epoch seconds (UTC)."""
        return _epoch(self.time)

    @property
    def repository(self) -> RepositoryKey | None:
        """The ECR repository the event concerns; None when it concerns none (ECS events)."""
        return None

    @property
    def kind(self) -> str:
        """A short, stable name of what happened, for metrics labels and logs."""
        return "event"


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


class _EcrEvent(EventEnvelope):
    """An event about one ECR repository: its registry must be known."""

    @property
    def registry(self) -> str | None:
        """The account id of the registry the repository lives in, when the event says."""
        return self.account

    @property
    def repository_name(self) -> str:
        """The name of the repository (subclasses read it from their detail)."""
        raise NotImplementedError

    @property
    def repository(self) -> RepositoryKey:
        """The repository the event concerns (account, region, name)."""
        assert self.registry is not None  # checked at validation
        return RepositoryKey(self.registry, self.region, self.repository_name)

    @model_validator(mode="after")
    def _registry_known(self) -> _EcrEvent:
        if self.registry is None:
            raise ValueError(
                "account is missing and the event names no registry, so the repository "
                "cannot be identified"
            )
        return self


# -- ECR Image Action ---------------------------------------------------------------------------


class _ImageActionDetail(_Model):
    result: Result
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")
    image_tag: str | None = Field(default=None, alias="image-tag")

    KIND: ClassVar[str] = "image_action"

    @property
    def succeeded(self) -> bool:
        """True when ECR reports the action as done (``result: SUCCESS``)."""
        return self.result == "SUCCESS"


class ImagePushed(_ImageActionDetail):
    """``ECR Image Action`` PUSH: an image push completed (one event per tag pushed)."""

    action_type: Literal["PUSH"] = Field(alias="action-type")
    KIND: ClassVar[str] = "image_push"


class ImageDeleted(_ImageActionDetail):
    """``ECR Image Action`` DELETE: an image was deleted."""

    action_type: Literal["DELETE"] = Field(alias="action-type")
    KIND: ClassVar[str] = "image_delete"


class ImageStorageClassChanged(_ImageActionDetail):
    """``ECR Image Action`` UPDATE_STORAGE_CLASS: an image was archived or restored.

    ``last_activated_at`` is set when a restore (``target_storage_class`` STANDARD) completed.
    """

    action_type: Literal["UPDATE_STORAGE_CLASS"] = Field(alias="action-type")
    target_storage_class: Literal["ARCHIVE", "STANDARD"] = Field(alias="target-storage-class")
    manifest_media_type: str | None = Field(default=None, alias="manifest-media-type")
    artifact_media_type: str | None = Field(default=None, alias="artifact-media-type")
    last_activated_at: datetime | None = Field(default=None, alias="last-activated-at")
    KIND: ClassVar[str] = "image_storage_class"


ImageAction = Annotated[
    ImagePushed | ImageDeleted | ImageStorageClassChanged, Field(discriminator="action_type")
]


class ImageActionEvent(_EcrEvent):
    """``detail-type: ECR Image Action`` (source ``aws.ecr``).

    Example:
        >>> from bot.events.parse import parse_message
        >>> event = parse_message('''{"version": "0", "id": "e-1", "detail-type":
        ...   "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
        ...   "time": "2019-11-16T01:54:34Z", "region": "us-west-2", "resources": [],
        ...   "detail": {"result": "SUCCESS", "repository-name": "app", "action-type": "PUSH",
        ...              "image-digest": "sha256:7f5b", "image-tag": "latest"}}''')
        >>> event.kind, event.repository.name, event.detail.image_tag, event.at
        ('image_push', 'app', 'latest', 1573869274.0)
    """

    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    detail: ImageAction

    @property
    def repository_name(self) -> str:
        """The repository the image belongs to."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """``image_push``, ``image_delete`` or ``image_storage_class``."""
        return self.detail.KIND


# -- ECR Image Scan -----------------------------------------------------------------------------


class ImageScanDetail(_Model):
    """A basic scan finished: status and finding counts per severity present."""

    scan_status: str = Field(alias="scan-status")
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")
    image_tags: tuple[str, ...] = Field(default=(), alias="image-tags")
    finding_severity_counts: dict[str, int] = Field(
        default_factory=dict, alias="finding-severity-counts"
    )


class ImageScanEvent(_EcrEvent):
    """``detail-type: ECR Image Scan`` (source ``aws.ecr``)."""

    detail_type: Literal["ECR Image Scan"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    detail: ImageScanDetail

    @property
    def registry(self) -> str | None:
        """The event's account, else the account in the repository ARN of ``resources``."""
        if self.account:
            return self.account
        return next((a for a in map(_arn_account, self.resources) if a), None)

    @property
    def repository_name(self) -> str:
        """The scanned image's repository."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """``image_scan``."""
        return "image_scan"


# -- CloudTrail records -------------------------------------------------------------------------


class UserIdentity(_Model):
    """Who made a call, as CloudTrail records it (``userIdentity``)."""

    type: str | None = None
    principal_id: str | None = Field(default=None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    invoked_by: str | None = Field(default=None, alias="invokedBy")

    @property
    def who(self) -> str:
        """The most specific name available: ARN, invoking service, principal id or type."""
        return self.arn or self.invoked_by or self.principal_id or self.type or "unknown"


class CloudTrailResource(_Model):
    """One entry of a CloudTrail record's ``resources``."""

    arn: str = Field(alias="ARN")
    account_id: str | None = Field(default=None, alias="accountId")
    type: str | None = None


class _CloudTrailRecord(_Model):
    event_version: str | None = Field(default=None, alias="eventVersion")
    event_source: Literal["ecr.amazonaws.com"] = Field(alias="eventSource")
    event_time: datetime = Field(alias="eventTime")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    cloudtrail_event_id: str = Field(alias="eventID")
    user_identity: UserIdentity = Field(alias="userIdentity")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    resources: tuple[CloudTrailResource, ...] | None = None

    KIND: ClassVar[str] = "cloudtrail"

    @property
    def who(self) -> str:
        """Who made the call (``userIdentity.arn`` or the next best name)."""
        return self.user_identity.who

    def registry_hint(self) -> str | None:
        """The registry the record names, if any (subclasses look in their parameters first)."""
        for resource in self.resources or ():
            if resource.account_id:
                return resource.account_id
        return self.recipient_account_id


class ImageId(_Model):
    """An ``imageIds`` entry: a digest, a tag, or both."""

    image_digest: str | None = Field(default=None, alias="imageDigest")
    image_tag: str | None = Field(default=None, alias="imageTag")


class _RepositoryParameters(_Model):
    repository_name: str = Field(alias="repositoryName")
    registry_id: str | None = Field(default=None, alias="registryId")


class _ApiCall(_CloudTrailRecord):
    """An ECR API call; ``error_code`` and ``error_message`` are set when the call failed."""

    error_code: str | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")
    request_parameters: _RepositoryParameters = Field(alias="requestParameters")
    response_elements: Any = Field(default=None, alias="responseElements")

    @property
    def succeeded(self) -> bool:
        """True when CloudTrail recorded no error for the call."""
        return self.error_code is None

    @property
    def repository_name(self) -> str:
        """The repository the call named."""
        return self.request_parameters.repository_name

    def registry_hint(self) -> str | None:
        """The ``registryId`` the call named, else the registry the record names."""
        response_registry = getattr(self.response_elements, "registry_id", None)
        return self.request_parameters.registry_id or response_registry or super().registry_hint()


class PutLifecyclePolicyParameters(_RepositoryParameters):
    """``PutLifecyclePolicy`` request parameters: the new policy text."""

    lifecycle_policy_text: str = Field(alias="lifecyclePolicyText")


class LifecyclePolicyElements(_Model):
    """``PutLifecyclePolicy`` / ``DeleteLifecyclePolicy`` response elements.

    For a deletion, ``lifecycle_policy_text`` is the policy that was deleted.
    """

    registry_id: str | None = Field(default=None, alias="registryId")
    repository_name: str | None = Field(default=None, alias="repositoryName")
    lifecycle_policy_text: str | None = Field(default=None, alias="lifecyclePolicyText")


class PutLifecyclePolicyCall(_ApiCall):
    """A ``PutLifecyclePolicy`` call: the repository's policy was replaced (or the call failed)."""

    event_name: Literal["PutLifecyclePolicy"] = Field(alias="eventName")
    request_parameters: PutLifecyclePolicyParameters = Field(alias="requestParameters")
    response_elements: LifecyclePolicyElements | None = Field(
        default=None, alias="responseElements"
    )
    KIND: ClassVar[str] = "put_lifecycle_policy"

    @property
    def policy_text(self) -> str:
        """The policy the call set."""
        return self.request_parameters.lifecycle_policy_text


class DeleteLifecyclePolicyCall(_ApiCall):
    """A ``DeleteLifecyclePolicy`` call; ``deleted_policy_text`` is the policy it removed."""

    event_name: Literal["DeleteLifecyclePolicy"] = Field(alias="eventName")
    request_parameters: _RepositoryParameters = Field(alias="requestParameters")
    response_elements: LifecyclePolicyElements | None = Field(
        default=None, alias="responseElements"
    )
    KIND: ClassVar[str] = "delete_lifecycle_policy"

    @property
    def deleted_policy_text(self) -> str | None:
        """The policy the call removed, when the response recorded it."""
        elements = self.response_elements
        return elements.lifecycle_policy_text if elements else None


class BatchDeleteImageParameters(_RepositoryParameters):
    """``BatchDeleteImage`` request parameters: the images asked for."""

    image_ids: tuple[ImageId, ...] = Field(alias="imageIds")


class ImageFailure(_Model):
    """A ``failures`` entry: an image a call could not act on, and why."""

    image_id: ImageId | None = Field(default=None, alias="imageId")
    failure_code: str | None = Field(default=None, alias="failureCode")
    failure_reason: str | None = Field(default=None, alias="failureReason")


class BatchDeleteImageElements(_Model):
    """``BatchDeleteImage`` response elements: what was deleted, and what was not."""

    image_ids: tuple[ImageId, ...] = Field(default=(), alias="imageIds")
    failures: tuple[ImageFailure, ...] = ()


class BatchDeleteImageCall(_ApiCall):
    """A ``BatchDeleteImage`` call: images (or tags) deleted by a person or a tool."""

    event_name: Literal["BatchDeleteImage"] = Field(alias="eventName")
    request_parameters: BatchDeleteImageParameters = Field(alias="requestParameters")
    response_elements: BatchDeleteImageElements | None = Field(
        default=None, alias="responseElements"
    )
    KIND: ClassVar[str] = "batch_delete_image"

    @property
    def deleted(self) -> tuple[ImageId, ...]:
        """What the response reports as deleted (the request when the record has no response)."""
        if self.response_elements is not None:
            return self.response_elements.image_ids
        return self.request_parameters.image_ids if self.succeeded else ()


class PutImageParameters(_RepositoryParameters):
    """``PutImage`` request parameters (the manifest itself is not kept)."""

    image_tag: str | None = Field(default=None, alias="imageTag")
    image_digest: str | None = Field(default=None, alias="imageDigest")
    image_manifest_media_type: str | None = Field(default=None, alias="imageManifestMediaType")


class PutImageResult(_Model):
    """``responseElements.image`` of ``PutImage``."""

    registry_id: str | None = Field(default=None, alias="registryId")
    repository_name: str | None = Field(default=None, alias="repositoryName")
    image_id: ImageId = Field(alias="imageId")


class PutImageElements(_Model):
    """``PutImage`` response elements."""

    image: PutImageResult

    @property
    def registry_id(self) -> str | None:
        """The registry the image was put in."""
        return self.image.registry_id


class PutImageCall(_ApiCall):
    """A ``PutImage`` call: a push's last step, or a retag of an existing manifest."""

    event_name: Literal["PutImage"] = Field(alias="eventName")
    request_parameters: PutImageParameters = Field(alias="requestParameters")
    response_elements: PutImageElements | None = Field(default=None, alias="responseElements")
    KIND: ClassVar[str] = "put_image"

    @property
    def image_digest(self) -> str | None:
        """The digest ECR stored (``responseElements.image.imageId``), else the one requested."""
        if self.response_elements is not None and self.response_elements.image.image_id:
            found = self.response_elements.image.image_id.image_digest
            if found:
                return found
        return self.request_parameters.image_digest

    @property
    def image_tag(self) -> str | None:
        """The tag the call put (None: an untagged push)."""
        return self.request_parameters.image_tag


class MutabilityExclusion(_Model):
    """One ``imageTagMutabilityExclusionFilters`` entry."""

    filter_type: str | None = Field(default=None, alias="filterType")
    filter: str | None = None


class PutImageTagMutabilityParameters(_RepositoryParameters):
    """``PutImageTagMutability`` request parameters."""

    image_tag_mutability: str = Field(alias="imageTagMutability")
    exclusion_filters: tuple[MutabilityExclusion, ...] = Field(
        default=(), alias="imageTagMutabilityExclusionFilters"
    )


class PutImageTagMutabilityCall(_ApiCall):
    """A ``PutImageTagMutability`` call: tags became (im)mutable, which retagging depends on."""

    event_name: Literal["PutImageTagMutability"] = Field(alias="eventName")
    request_parameters: PutImageTagMutabilityParameters = Field(alias="requestParameters")
    KIND: ClassVar[str] = "put_image_tag_mutability"

    @property
    def image_tag_mutability(self) -> str:
        """``MUTABLE``, ``IMMUTABLE`` or one of the ``*_WITH_EXCLUSION`` settings."""
        return self.request_parameters.image_tag_mutability


class UpdateImageStorageClassParameters(_RepositoryParameters):
    """``UpdateImageStorageClass`` request parameters."""

    image_id: ImageId = Field(alias="imageId")
    target_storage_class: str = Field(alias="targetStorageClass")


class UpdateImageStorageClassElements(_Model):
    """``UpdateImageStorageClass`` response elements."""

    registry_id: str | None = Field(default=None, alias="registryId")
    image_id: ImageId | None = Field(default=None, alias="imageId")
    image_status: str | None = Field(default=None, alias="imageStatus")


class UpdateImageStorageClassCall(_ApiCall):
    """An ``UpdateImageStorageClass`` call: an image archived or restored by hand."""

    event_name: Literal["UpdateImageStorageClass"] = Field(alias="eventName")
    request_parameters: UpdateImageStorageClassParameters = Field(alias="requestParameters")
    response_elements: UpdateImageStorageClassElements | None = Field(
        default=None, alias="responseElements"
    )
    KIND: ClassVar[str] = "update_image_storage_class"

    @property
    def image_digest(self) -> str | None:
        """The digest acted on (the response's, else the request's)."""
        if self.response_elements and self.response_elements.image_id:
            found = self.response_elements.image_id.image_digest
            if found:
                return found
        return self.request_parameters.image_id.image_digest


def _cloudtrail_tag(detail: Any) -> str | None:
    """The union tag of a CloudTrail record: its eventName, for ECR's records only."""
    if not isinstance(detail, dict):
        return None
    name, source = detail.get("eventName"), detail.get("eventSource")
    if not isinstance(name, str):
        return None
    return name if source == ECR_EVENT_SOURCE else f"{source}:{name}"


ApiCallRecord = Annotated[
    Annotated[PutLifecyclePolicyCall, Tag("PutLifecyclePolicy")]
    | Annotated[DeleteLifecyclePolicyCall, Tag("DeleteLifecyclePolicy")]
    | Annotated[BatchDeleteImageCall, Tag("BatchDeleteImage")]
    | Annotated[PutImageCall, Tag("PutImage")]
    | Annotated[PutImageTagMutabilityCall, Tag("PutImageTagMutability")]
    | Annotated[UpdateImageStorageClassCall, Tag("UpdateImageStorageClass")],
    Discriminator(_cloudtrail_tag),
]


class CloudTrailApiCall(_EcrEvent):
    """``detail-type: AWS API Call via CloudTrail`` for an ECR call; ``detail`` is the record.

    Example:
        >>> from bot.events.parse import parse_event
        >>> event = parse_event({"version": "0", "id": "e-2", "source": "aws.ecr",
        ...   "detail-type": "AWS API Call via CloudTrail", "account": "123456789012",
        ...   "time": "2024-05-01T10:00:00Z", "region": "eu-west-1", "resources": [],
        ...   "detail": {"eventSource": "ecr.amazonaws.com", "eventName": "PutLifecyclePolicy",
        ...     "eventTime": "2024-05-01T10:00:00Z", "eventID": "c-1",
        ...     "userIdentity": {"arn": "arn:aws:iam::123456789012:user/alice"},
        ...     "requestParameters": {"repositoryName": "app", "lifecyclePolicyText": "{}"}}})
        >>> event.kind, event.detail.who, event.repository.region
        ('put_lifecycle_policy', 'arn:aws:iam::123456789012:user/alice', 'eu-west-1')
    """

    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    detail: ApiCallRecord

    @property
    def registry(self) -> str | None:
        """The ``registryId`` the call named, else the record's account, else the event's."""
        return self.detail.registry_hint() or self.account

    @property
    def repository_name(self) -> str:
        """The repository the call named."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """The call, in snake case: ``put_lifecycle_policy``, ``put_image``..."""
        return self.detail.KIND


# -- CloudTrail service event: PolicyExecutionEvent ---------------------------------------------


class LifecycleEventSelection(_Model):
    """A rule's selection as the lifecycle run logs it (human-readable enumerations)."""

    tag_status: str | None = Field(default=None, alias="tagStatus")
    tag_prefix_list: tuple[str, ...] = Field(default=(), alias="tagPrefixList")
    tag_pattern_list: tuple[str, ...] = Field(default=(), alias="tagPatternList")
    count_type: str | None = Field(default=None, alias="countType")
    count_unit: str | None = Field(default=None, alias="countUnit")
    count_number: int | None = Field(default=None, alias="countNumber")


class LifecycleEventRule(_Model):
    """One rule of the policy a lifecycle run applied."""

    rule_priority: int = Field(alias="rulePriority")
    description: str | None = None
    selection: LifecycleEventSelection | None = Field(default=None, alias="lifecycleEventSelection")
    action: str | dict[str, Any] | None = None


class LifecycleEventPolicy(_Model):
    """The policy a lifecycle run applied (``lifecycleEventPolicy``)."""

    rules: tuple[LifecycleEventRule, ...] = Field(default=(), alias="lifecycleEventRules")
    last_evaluated_at: int | None = Field(default=None, alias="lastEvaluatedAt")
    policy_version: int | None = Field(default=None, alias="policyVersion")
    policy_id: str | None = Field(default=None, alias="policyId")


class LifecycleEventImage(_Model):
    """The image a lifecycle action concerned; ``pushed_at_ms`` is epoch milliseconds."""

    digest: str
    tag_status: str | None = Field(default=None, alias="tagStatus")
    tag_list: tuple[str, ...] = Field(default=(), alias="tagList")
    pushed_at_ms: int | None = Field(default=None, alias="pushedAt")

    @property
    def pushed_at(self) -> float | None:
        """The push time ECR ranked the image by, in epoch seconds."""
        return self.pushed_at_ms / 1000 if self.pushed_at_ms is not None else None


class LifecycleImageAction(_Model):
    """An image the run acted on, and the rule that did it."""

    image: LifecycleEventImage = Field(alias="lifecycleEventImage")
    rule_priority: int = Field(alias="rulePriority")


class LifecycleImageFailure(LifecycleImageAction):
    """An image the run failed to act on (e.g. ``ImageReferencedByManifestList``)."""

    failure_code: str | None = Field(default=None, alias="failureCode")
    failure_reason: str | None = Field(default=None, alias="failureReason")


class PolicyExecutionDetails(_Model):
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


class PolicyExecution(_CloudTrailRecord):
    """The CloudTrail record of a lifecycle run (``eventName: PolicyExecutionEvent``)."""

    event_name: Literal["PolicyExecutionEvent"] = Field(alias="eventName")
    service_event_details: PolicyExecutionDetails = Field(alias="serviceEventDetails")
    KIND: ClassVar[str] = "lifecycle_execution"

    @property
    def repository_name(self) -> str:
        """The repository whose policy ran."""
        return self.service_event_details.repository_name


ServiceEventRecord = Annotated[
    Annotated[PolicyExecution, Tag("PolicyExecutionEvent")], Discriminator(_cloudtrail_tag)
]


class CloudTrailServiceEvent(_EcrEvent):
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
    source: Literal["aws.ecr"]
    detail: ServiceEventRecord

    @property
    def registry(self) -> str | None:
        """The repository's account from the record's resources, else the event's account."""
        return self.detail.registry_hint() or self.account

    @property
    def repository_name(self) -> str:
        """The repository whose policy ran."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """``lifecycle_execution``."""
        return self.detail.KIND


# -- ECS ----------------------------------------------------------------------------------------


class EcsContainer(_Model):
    """A container of a task: the image it was started from and the digest ECS resolved."""

    name: str | None = None
    image: str | None = None
    image_digest: str | None = Field(default=None, alias="imageDigest")
    last_status: str | None = Field(default=None, alias="lastStatus")
    container_arn: str | None = Field(default=None, alias="containerArn")


class EcsTaskDetail(_Model):
    """What inventory freshness needs from a task state change."""

    cluster_arn: str = Field(alias="clusterArn")
    task_arn: str = Field(alias="taskArn")
    group: str | None = None
    last_status: str = Field(alias="lastStatus")
    desired_status: str = Field(alias="desiredStatus")
    containers: tuple[EcsContainer, ...] = ()
    task_definition_arn: str | None = Field(default=None, alias="taskDefinitionArn")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    @property
    def service_name(self) -> str | None:
        """The service that runs the task (``group: service:NAME``); None for standalone tasks."""
        if self.group and self.group.startswith("service:"):
            return self.group.removeprefix("service:")
        return None


class EcsTaskStateChange(EventEnvelope):
    """``detail-type: ECS Task State Change`` (source ``aws.ecs``)."""

    detail_type: Literal["ECS Task State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: EcsTaskDetail

    @property
    def kind(self) -> str:
        """``ecs_task``."""
        return "ecs_task"


class EcsDeploymentDetail(_Model):
    """A service deployment started, completed or failed."""

    event_type: str | None = Field(default=None, alias="eventType")
    event_name: Literal[
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        "SERVICE_DEPLOYMENT_COMPLETED",
        "SERVICE_DEPLOYMENT_FAILED",
    ] = Field(alias="eventName")
    deployment_id: str | None = Field(default=None, alias="deploymentId")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    reason: str | None = None


EcsDeployment = Annotated[EcsDeploymentDetail, Field(discriminator="event_name")]


class EcsDeploymentStateChange(EventEnvelope):
    """``detail-type: ECS Deployment State Change`` (source ``aws.ecs``); the service is in
    ``resources``.
    """

    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: EcsDeployment

    @property
    def service_arn(self) -> str | None:
        """The ARN of the service being deployed (the first service ARN in ``resources``)."""
        return next((r for r in self.resources if ":service/" in r), None)

    @property
    def kind(self) -> str:
        """``ecs_deployment``."""
        return "ecs_deployment"


Event = Annotated[
    ImageActionEvent
    | ImageScanEvent
    | CloudTrailApiCall
    | CloudTrailServiceEvent
    | EcsTaskStateChange
    | EcsDeploymentStateChange,
    Field(discriminator="detail_type"),
]

EVENT_KINDS: tuple[str, ...] = (
    *(m.KIND for m in (ImagePushed, ImageDeleted, ImageStorageClassChanged)),
    "image_scan",
    *(
        m.KIND
        for m in (
            PutLifecyclePolicyCall,
            DeleteLifecyclePolicyCall,
            BatchDeleteImageCall,
            PutImageCall,
            PutImageTagMutabilityCall,
            UpdateImageStorageClassCall,
        )
    ),
    PolicyExecution.KIND,
    "ecs_task",
    "ecs_deployment",
)
