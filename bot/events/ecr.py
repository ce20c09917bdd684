"""``ECR Image Action`` (PUSH, DELETE, UPDATE_STORAGE_CLASS) and ``ECR Image Scan`` events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field

from bot.events.base import EcrEvent, EventModel, arn_account


def _failure_as_failure(value: object) -> object:
    # The ECR guide's samples spell a failed action both FAILURE and FAILED.
    return "FAILURE" if value == "FAILED" else value


Result = Annotated[Literal["SUCCESS", "FAILURE"], BeforeValidator(_failure_as_failure)]


class _ImageActionDetail(EventModel):
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


class ImageActionEvent(EcrEvent):
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


class ImageScanDetail(EventModel):
    """A basic scan finished: status and finding counts per severity present."""

    scan_status: str = Field(alias="scan-status")
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")
    image_tags: tuple[str, ...] = Field(default=(), alias="image-tags")
    finding_severity_counts: dict[str, int] = Field(
        default_factory=dict, alias="finding-severity-counts"
    )


class ImageScanEvent(EcrEvent):
    """``detail-type: ECR Image Scan`` (source ``aws.ecr``)."""

    detail_type: Literal["ECR Image Scan"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    detail: ImageScanDetail

    @property
    def registry(self) -> str | None:
        """The event's account, else the account in the repository ARN of ``resources``."""
        if self.account:
            return self.account
        return next((a for a in map(arn_account, self.resources) if a), None)

    @property
    def repository_name(self) -> str:
        """The scanned image's repository."""
        return self.detail.repository_name

    @property
    def kind(self) -> str:
        """``image_scan``."""
        return "image_scan"
