"""The cloud the demo's bot sees: the real AWS adapters on the emulator, plus the static cluster.

:class:`DemoCloud` is the product's :class:`~bot.edge.aws.cloud.AwsCloud` (ECR registry, ECS
inventory) with two stand-ins: the Kubernetes cluster of :mod:`bot.demo.cluster`, and a
CloudTrail whose history has not caught up yet (moto has no ``LookupEvents``; real CloudTrail
delivers some 15 minutes late). why-missing then answers, as in production right after a
deletion, from the lifecycle event the bot received.

Example::

    async with demo_cloud(settings) as cloud:
        sources = await cloud.inventory_sources()    # ECS on moto, and the static cluster
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bot.demo.cluster import StaticCluster
from bot.diagnose.cloudtrail_models import ImageDeletion, LifecycleAction, LookupResult, TagPush
from bot.edge.aws.cloud import AwsCloud, open_cloud
from bot.edge.aws.ecr import EcrRegistry
from bot.edge.aws.preview import LifecyclePreviews
from bot.inventory.sources import InventorySource
from bot.ports import Instant, Registry, Trail
from bot.refs import ImageRef, RepositoryKey
from bot.settings import Settings


class NotYetInCloudTrail:
    """A :class:`~bot.ports.Trail` whose event history is still empty.

    Example:
        >>> import asyncio
        >>> asyncio.run(NotYetInCloudTrail().deletions("app", 0.0, 1.0)).items
        ()
    """

    async def lifecycle_actions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[LifecycleAction]:
        """Nothing yet."""
        return LookupResult(())

    async def deletions(
        self, repository: str | None, start: Instant, end: Instant
    ) -> LookupResult[ImageDeletion]:
        """Nothing yet."""
        return LookupResult(())

    async def tag_pushes(
        self, repository: str | None, start: Instant, end: Instant, tag: str | None = None
    ) -> LookupResult[TagPush]:
        """Nothing yet."""
        return LookupResult(())


class DemoCloud:
    """:class:`bot.ports.Cloud` on the emulator; see the module docstring."""

    def __init__(self, aws: AwsCloud, cluster: StaticCluster) -> None:
        self.aws = aws
        self.cluster = cluster

    def registries(self) -> Sequence[EcrRegistry]:
        """The emulator's registry."""
        return self.aws.registries()

    def registry_for(self, key: RepositoryKey) -> EcrRegistry:
        """The registry holding a repository."""
        return self.aws.registry_for(key)

    async def registry_for_ref(self, ref: ImageRef) -> EcrRegistry:
        """The registry a reference names."""
        return await self.aws.registry_for_ref(ref)

    def trail_for(self, registry: Registry) -> Trail:
        """CloudTrail, before it has caught up."""
        return NotYetInCloudTrail()

    async def inventory_sources(self) -> Sequence[InventorySource]:
        """ECS (and whatever else the settings enable) on the emulator, and the cluster."""
        return [*await self.aws.inventory_sources(), self.cluster]

    def previews_for(self, registry: Registry) -> LifecyclePreviews:
        """AWS's lifecycle previews (the demo turns them off: moto has none)."""
        return self.aws.previews_for(registry)


@asynccontextmanager
async def demo_cloud(settings: Settings) -> AsyncIterator[DemoCloud]:
    """Fresh clients on the emulator for one unit of work (a :data:`CloudFactory`)."""
    async with open_cloud(settings) as aws:
        yield DemoCloud(aws, StaticCluster.embedded())
