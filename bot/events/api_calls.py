"""``AWS API Call via CloudTrail``: the ECR calls the bot reacts to, typed for what it needs.

``requestParameters`` and ``responseElements`` keep only the fields the bot uses; the response is
None when the call failed (``errorCode`` and ``errorMessage`` then say why).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag

from bot.events.base import EventModel
from bot.events.cloudtrail import CloudTrailEvent, CloudTrailRecord, cloudtrail_tag


class ImageId(EventModel):
    """An ``imageIds`` entry: a digest, a tag, or both."""

    image_digest: str | None = Field(default=None, alias="imageDigest")
    image_tag: str | None = Field(default=None, alias="imageTag")


class _RepositoryParameters(EventModel):
    repository_name: str = Field(alias="repositoryName")
    registry_id: str | None = Field(default=None, alias="registryId")


class _ApiCall(CloudTrailRecord):
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


class LifecyclePolicyElements(EventModel):
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


class ImageFailure(EventModel):
    """A ``failures`` entry: an image a call could not act on, and why."""

    image_id: ImageId | None = Field(default=None, alias="imageId")
    failure_code: str | None = Field(default=None, alias="failureCode")
    failure_reason: str | None = Field(default=None, alias="failureReason")


class BatchDeleteImageElements(EventModel):
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


class PutImageResult(EventModel):
    """``responseElements.image`` of ``PutImage``."""

    registry_id: str | None = Field(default=None, alias="registryId")
    repository_name: str | None = Field(default=None, alias="repositoryName")
    image_id: ImageId = Field(alias="imageId")


class PutImageElements(EventModel):
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


class MutabilityExclusion(EventModel):
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


class UpdateImageStorageClassElements(EventModel):
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


ApiCallRecord = Annotated[
    Annotated[PutLifecyclePolicyCall, Tag("PutLifecyclePolicy")]
    | Annotated[DeleteLifecyclePolicyCall, Tag("DeleteLifecyclePolicy")]
    | Annotated[BatchDeleteImageCall, Tag("BatchDeleteImage")]
    | Annotated[PutImageCall, Tag("PutImage")]
    | Annotated[PutImageTagMutabilityCall, Tag("PutImageTagMutability")]
    | Annotated[UpdateImageStorageClassCall, Tag("UpdateImageStorageClass")],
    Discriminator(cloudtrail_tag),
]


class CloudTrailApiCall(CloudTrailEvent):
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
    detail: ApiCallRecord
