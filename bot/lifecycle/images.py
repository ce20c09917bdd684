"""Images as the lifecycle evaluator sees them.

An :class:`Image` holds exactly the ``DescribeImages`` fields that lifecycle evaluation depends on.
Times are float seconds since the epoch (UTC): the evaluator compares hundreds of thousands of them,
and floats are the cheapest comparable form. :mod:`bot.lifecycle.timefmt` converts for display.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
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


_new = object.__new__
_set_digest, _set_tags, _set_pushed_at, _set_last_pulled_at, _set_status = (
    Image.__dict__[name].__set__
    for name in ("digest", "tags", "pushed_at", "last_pulled_at", "status")
)
_set_last_archived_at, _set_last_activated_at, _set_media_type, _set_children = (
    Image.__dict__[name].__set__
    for name in ("last_archived_at", "last_activated_at", "media_type", "children")
)


def make_image(  # noqa: PLR0917 (positional on purpose: one call per image)
    digest: str,
    tags: tuple[str, ...],
    pushed_at: float,
    last_pulled_at: float | None,
    status: ImageStatus,
    last_archived_at: float | None,
    last_activated_at: float | None,
    media_type: str | None,
    children: tuple[str, ...] = (),
) -> Image:
    """``Image(...)`` with every field given positionally, in half the time.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; reading
    100,000 images pays for that twice over. This sets the slots directly, with the same result.

    Example:
        >>> make_image("sha256:" + "a" * 64, ("v1",), 1.0, None, ImageStatus.ACTIVE, None, None,
        ...            None) == Image("sha256:" + "a" * 64, ("v1",), 1.0)
        True
    """
    image = _new(Image)
    _set_digest(image, digest)
    _set_tags(image, tags)
    _set_pushed_at(image, pushed_at)
    _set_last_pulled_at(image, last_pulled_at)
    _set_status(image, status)
    _set_last_archived_at(image, last_archived_at)
    _set_last_activated_at(image, last_activated_at)
    _set_media_type(image, media_type)
    _set_children(image, children)
    return image


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Creating 100,000 images or decisions otherwise triggers full collections over every live
    object (the caller's decoded JSON included), which cost more than the work itself.

    Example:
        >>> with gc_paused():
        ...     gc.isenabled()
        False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle_heap() -> None:
    """Collect cyclic garbage once, then exempt every object alive now from later collections.

    A long-running process holding many long-lived objects (a warm cache of 100,000 images)
    otherwise walks all of them at every full collection. Acyclic objects frozen here are still
    freed by reference counting when they are dropped.

    Example:
        >>> settle_heap(); gc.get_freeze_count() > 0
        True
    """
    gc.collect()
    gc.freeze()
