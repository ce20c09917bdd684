"""What is in use: consumers (services, pods, functions...) and the images they use.

Pure (stdlib only). Inventory sources (ECS, Kubernetes, Lambda, static files) produce
:class:`ImageUse` entries; :func:`bot.inventory.resolve.uses_by_digest` matches them to the
images of one repository by digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bot.refs import ImageRef

# The tag (ECS, Lambda) or annotation (Kubernetes) that names the Slack channel owning a workload.
CHANNEL_TAG = "ecr-lifeguard/channel"


class UseKind(IntEnum):
    """How an image is used; a higher value is a more urgent use.

    Example:
        >>> max(UseKind.ROLLBACK, UseKind.RUNNING).label
        'running now'
    """

    STATIC = 1  # named in a static reference file
    ROLLBACK = 2  # a rollback target: previous revision, ReplicaSet, function version
    LAUNCH = 3  # what a service launches on scale-out or replacement, or a job on schedule
    RUNNING = 4  # a container runs it now

    @property
    def label(self) -> str:
        """How people say it."""
        return _LABELS[self]


_LABELS = {
    UseKind.STATIC: "static reference",
    UseKind.ROLLBACK: "rollback target",
    UseKind.LAUNCH: "launched on scale-out or replacement",
    UseKind.RUNNING: "running now",
}


@dataclass(frozen=True, slots=True)
class Consumer:
    """Something that uses images: an ECS service, a pod, a Lambda function, a static entry.

    ``kind`` is a short machine word (``ecs-service``, ``k8s-deployment``, ``lambda-function``...);
    ``name`` is what people call it (``prod/checkout``); ``channel`` is the Slack channel that
    owns it, when a tag or annotation says so.

    Example:
        >>> c = Consumer("ecs-service", "prod/checkout", account="111111111111", region="eu-west-1")
        >>> c.where
        'ecs-service prod/checkout (111111111111, eu-west-1)'
    """

    kind: str
    name: str
    account: str | None = None
    region: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    channel: str | None = None

    @property
    def where(self) -> str:
        """The consumer with its location, for messages."""
        location = ", ".join(part for part in (self.cluster, self.account, self.region) if part)
        return f"{self.kind} {self.name}" + (f" ({location})" if location else "")


@dataclass(frozen=True, slots=True)
class ImageUse:
    """One use of one image by one consumer.

    ``ref`` is the image as the consumer names it. When the consumer exposes the digest it runs,
    ``ref.digest`` holds it; a tag-only reference is resolved to today's digest by
    :mod:`bot.inventory.resolve`. ``detail`` says which part of the consumer uses it (a container,
    a revision).

    Example:
        >>> from bot.refs import parse_image_ref
        >>> use = ImageUse(parse_image_ref("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1"),
        ...                UseKind.RUNNING, Consumer("k8s-pod", "shop/web-1"), detail="web")
        >>> use.ref.region, use.kind.label
        ('eu-west-1', 'running now')
    """

    ref: ImageRef
    kind: UseKind
    consumer: Consumer
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedUse:
    """An :class:`ImageUse` matched to one digest of a repository.

    ``note`` says how the digest was found when the consumer did not report it itself (a tag
    resolved to today's digest, or the child of an image index in use).
    """

    use: ImageUse
    digest: str
    note: str | None = None

    @property
    def kind(self) -> UseKind:
        """How urgent this use is."""
        return self.use.kind

    @property
    def consumer(self) -> Consumer:
        """Who uses the image."""
        return self.use.consumer
