"""Images as the lifecycle evaluator sees them.

An :class:`Image` holds exactly the ``DescribeImages`` fields that lifecycle evaluation depends on.
Times are float seconds since the epoch (UTC): the evaluator compares hundreds of thousands of them,
and floats are the cheapest comparable form. :mod:`bot.lifecycle.timefmt` converts for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ImageStatus(StrEnum):
    """``ImageDetail.imageStatus``: where the image lives now."""

    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    ACTIVATING = "ACTIVATING"


INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


@dataclass(frozen=True, slots=True)
class Image:
    """One image (manifest digest) in a repository.

    ``children`` lists the digests an image index references (from ``BatchGetImage``); it is empty
    for a plain image manifest.

    Example:
        >>> img = Image(digest="sha256:" + "a" * 64, tags=("v1",), pushed_at=1_700_000_000.0)
        >>> img.storage_class, img.effective_pushed_at
        ('standard', 1700000000.0)
    """

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    last_pulled_at: float | None = None
    status: ImageStatus = ImageStatus.ACTIVE
    last_archived_at: float | None = None
    last_activated_at: float | None = None
    media_type: str | None = None
    children: tuple[str, ...] = field(default=())

    @property
    def storage_class(self) -> str:
        """``archive`` while archived or being restored (not pullable yet), else ``standard``."""
        return "standard" if self.status is ImageStatus.ACTIVE else "archive"

    @property
    def effective_pushed_at(self) -> float:
        """When ECR ranks and ages the image from: the last restore if any, else the first push."""
        return self.last_activated_at if self.last_activated_at is not None else self.pushed_at

    @property
    def pull_reference_at(self) -> float:
        """The time ``sinceImagePulled`` measures from.

        The last pull; the first push when never pulled; the last restore when the image was
        restored and not pulled since.
        """
        restored, pulled = self.last_activated_at, self.last_pulled_at
        if restored is not None and (pulled is None or pulled < restored):
            return restored
        return pulled if pulled is not None else self.pushed_at

    @property
    def is_index(self) -> bool:
        """True for an image index (multi-platform manifest list)."""
        return bool(self.children) or self.media_type in INDEX_MEDIA_TYPES

    @property
    def short_digest(self) -> str:
        """The first 12 hex digits of the digest, as people quote it."""
        return self.digest.removeprefix("sha256:")[:12]
