"""The interfaces the flows talk to, and the plain data that crosses them (pure).

The watch flow and the ops flow never import an adapter: they are handed objects that satisfy
these protocols. :mod:`bot.edge` implements them on AWS, Redis and Slack; the functional tests
implement them in memory. The other two seams live with their data:
:class:`bot.state.store.Store` and :class:`bot.inventory.sources.InventorySource`.

::

    Registry     one ECR registry (account + region): repositories, images, policies, tags
    Trail        CloudTrail's record of what lifecycle runs, deletions and pushes did
    Cloud        every registry, trail and inventory source, for one unit of work
    Notifier     where alerts are shown (Slack)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.diagnose.cloudtrail_models import ImageDeletion, LifecycleAction, LookupResult, TagPush
from bot.inventory.sources import InventorySource
from bot.lifecycle.compare import LifecyclePreview
from bot.lifecycle.images import Image
from bot.refs import ImageRef, RepositoryKey

if TYPE_CHECKING:
    from bot.risk.models import Risk
    from bot.state.records import AlertRecord
    from bot.watch.reconcile import Resolution


@dataclass(frozen=True, slots=True)
class Repository:
    """One ECR repository and the settings that matter to lifecycle and retagging."""

    key: RepositoryKey
    arn: str
    uri: str
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A repository's lifecycle policy and when ECR last ran it (None: not reported yet)."""

    text: str
    last_evaluated_at: float | None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest exactly as ECR stores it (the bytes matter: they define the digest)."""

    digest: str
    text: str
    media_type: str | None


class Registry(Protocol):
    """One ECR registry: an account in a region (see :class:`bot.edge.aws.ecr.EcrRegistry`).

    Example::

        repository = await registry.repository("app")
        images = await registry.images(repository) if repository else []
    """

    @property
    def label(self) -> str:
        """How messages name the registry (``prod/eu-west-1``)."""
        ...

    @property
    def region(self) -> str:
        """The region it is in."""
        ...

    async def repositories(self) -> Sequence[Repository]:
        """Every repository."""
        ...

    async def repository(self, name: str, registry_id: str | None = None) -> Repository | None:
        """One repository by name, or None when it does not exist."""
        ...

    async def registry_id(self) -> str:
        """The account id of the registry."""
        ...

    async def lifecycle_policy(self, repository: Repository) -> PolicyInfo | None:
        """The lifecycle policy and when ECR last ran it, or None."""
        ...

    async def lifecycle_policy_text(self, repository: Repository) -> str | None:
        """The lifecycle policy JSON, or None."""
        ...

    async def put_lifecycle_policy(self, repository: Repository, text: str) -> None:
        """Replace the lifecycle policy."""
        ...

    async def repository_policy_text(self, repository: Repository) -> str | None:
        """The repository (permissions) policy JSON, or None."""
        ...

    async def images(self, repository: Repository) -> list[Image]:
        """Every image, archived ones included."""
        ...

    async def image(self, repository: Repository, digest: str) -> Image | None:
        """One image by digest, or None."""
        ...

    async def index_children(
        self, repository: Repository, images: Sequence[Image]
    ) -> dict[str, tuple[str, ...]]:
        """Child digests of the image indexes among ``images``."""
        ...

    async def manifests(self, key: RepositoryKey, digests: Sequence[str]) -> list[Manifest]:
        """The stored manifests of these digests; missing ones are left out."""
        ...

    async def put_tag(self, repository: Repository, manifest: Manifest, tag: str) -> bool:
        """Point ``tag`` at the manifest's image; False when it was already there."""
        ...

    async def put_manifest(
        self, repository: Repository, manifest: Manifest, tag: str | None = None
    ) -> bool:
        """Put the exact manifest bytes, tagged or untagged."""
        ...

    async def remove_tag(self, repository: Repository, tag: str) -> None:
        """Remove one tag."""
        ...

    async def restore_from_archive(self, repository: Repository, digest: str) -> str:
        """Start restoring an archived image; the new status."""
        ...

    async def missing_layers(self, repository: Repository, layers: Sequence[str]) -> list[str]:
        """Which of these layer digests the repository no longer has."""
        ...


Instant = datetime | float


class Trail(Protocol):
    """CloudTrail event history of one account and region (see
    :class:`bot.edge.aws.cloudtrail.CloudTrailForensics`)."""

    async def lifecycle_actions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[LifecycleAction]:
        """What lifecycle runs expired (or failed to) in the window."""
        ...

    async def deletions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[ImageDeletion]:
        """``BatchDeleteImage`` calls in the window, with who made them."""
        ...

    async def tag_pushes(
        self, repository: str | None, start: Instant, end: Instant, tag: str | None = None
    ) -> LookupResult[TagPush]:
        """``PutImage`` calls in the window (of ``tag`` when given)."""
        ...


class Notifier(Protocol):
    """Where alerts are shown (Slack, in production; see :class:`bot.edge.slack.SlackNotifier`)."""

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post a new alert; return where it went: the channel id and the message id (``ts``)."""
        ...

    async def update_alert(self, record: AlertRecord, risk: Risk | None, now: float) -> None:
        """Show the current state of a risk in the existing message (from what the record
        keeps when ``risk`` is None)."""
        ...

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Show that the risk ended, and why, in the existing message."""
        ...

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        """Add a reply in an alert's thread."""
        ...

    async def post(self, channel: str, payload: dict[str, object]) -> str:
        """Post any message; return its ``ts``."""
        ...


class Cloud(Protocol):
    """The registries, trails and inventory sources the bot watches, opened for one unit of work
    (see :class:`bot.edge.aws.cloud.AwsCloud`).

    Example::

        async with deps.cloud() as cloud:
            registry = await cloud.registry_for_ref(ref)   # NotWatched for other regions/accounts
    """

    def registries(self) -> Sequence[Registry]:
        """One registry per configured account and region."""
        ...

    def registry_for(self, key: RepositoryKey) -> Registry:
        """The registry holding a repository found earlier."""
        ...

    async def registry_for_ref(self, ref: ImageRef) -> Registry:
        """The registry a reference names; ``NotWatched`` when the bot does not watch it."""
        ...

    def trail_for(self, registry: Registry) -> Trail:
        """CloudTrail of the registry's account and region."""
        ...

    async def inventory_sources(self) -> Sequence[InventorySource]:
        """Every enabled inventory source."""
        ...

    def previews_for(self, registry: Registry) -> Previewer:
        """AWS's lifecycle previews in the registry's account and region."""
        ...


class Previewer(Protocol):
    """AWS's own lifecycle policy preview (see :class:`bot.edge.aws.preview.LifecyclePreviews`)."""

    async def preview(
        self, repository: RepositoryKey, policy_text: str | None = None
    ) -> LifecyclePreview | None:
        """AWS's preview of the current (or given) policy; None without a policy."""
        ...


class QueueMessage(Protocol):
    """One received message (see :class:`bot.edge.aws.sqs.Message`)."""

    @property
    def message_id(self) -> str:
        """The queue's id of the message."""
        ...

    @property
    def body(self) -> str:
        """What was sent."""
        ...

    @property
    def receive_count(self) -> int:
        """How many times it was received (this time included)."""
        ...

    @property
    def sent_at(self) -> float:
        """When it was sent, epoch seconds."""
        ...


class Queue(Protocol):
    """The queue events arrive on (see :class:`bot.edge.aws.sqs.SqsQueue`)."""

    async def receive(self, count: int, *, wait: int, visibility: float) -> Sequence[Any]:
        """Up to ``count`` messages, long-polling ``wait`` seconds."""
        ...

    async def delete(self, message: Any) -> None:
        """Remove a message that was handled."""
        ...

    async def extend(self, message: Any, seconds: float) -> None:
        """Keep a message hidden ``seconds`` more (0: release it now)."""
        ...

    async def max_receive_count(self) -> int | None:
        """After how many receives a message goes to the dead-letter queue."""
        ...


class Meter(Protocol):
    """Where the flows report what they did (Prometheus, in production)."""

    def event(self, kind: str, outcome: str) -> None:
        """One event handled: its kind, and how (applied, ignored, duplicate, rejected...)."""
        ...

    def alert_latency(self, seconds: float) -> None:
        """From an event's time to the alert it caused."""
        ...

    def queue_lag(self, seconds: float) -> None:
        """The age of the oldest message just received."""
        ...

    def preview(self, agreed: bool, differences: int) -> None:
        """One AWS preview compared with the local evaluation."""
        ...


class NoMeter:
    """A :class:`Meter` that keeps nothing."""

    def event(self, kind: str, outcome: str) -> None:
        """Nothing kept."""

    def alert_latency(self, seconds: float) -> None:
        """Nothing kept."""

    def queue_lag(self, seconds: float) -> None:
        """Nothing kept."""

    def preview(self, agreed: bool, differences: int) -> None:
        """Nothing kept."""
