"""What an alert's buttons carry: one image, and where the alert is (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import UsageError
from bot.ops import args as words
from bot.refs import RepositoryKey


@dataclass(frozen=True, slots=True)
class ImageButton:
    """A button on an alert: the image, and the alert's channel and message."""

    repository: RepositoryKey
    digest: str
    channel: str | None = None
    thread_ts: str | None = None


def parse_image(args: Sequence[str]) -> ImageButton:
    """Read a full image reference (region and account included), as the CLI would pass it.

    Example:
        >>> parse_image(["123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "a" * 64]
        ...             ).repository.region
        'eu-west-1'
    """
    words.count(args, 1, 1, "the button")
    ref = words.image(args[0])
    if ref.digest is None or ref.registry is None or ref.region is None:
        raise UsageError("a full image URI with a digest is needed here")
    return ImageButton(RepositoryKey(ref.registry, ref.region, ref.repository), ref.digest)
