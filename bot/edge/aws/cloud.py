"""The AWS estate the bot watches, opened for one unit of work: registries, CloudTrail and the
inventory sources of every configured account and region (implements :class:`bot.ports.Cloud`).

This is the composition of the AWS adapters: the one place that knows which adapter serves which
interface. Commands and the watcher open a cloud, then talk only to the interfaces.

Example::

    async with open_cloud(settings) as cloud:
        registry = await cloud.registry_for_ref(parse_image_ref("app:v1"))
        repository = await registry.repository("app")
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.edge.aws.clients import AwsClients, AwsTarget, targets
from bot.edge.aws.cloudtrail import CloudTrailForensics
from bot.edge.aws.ecr import EcrRegistry
from bot.edge.aws.ecs import EcsSource
from bot.edge.aws.lambda_functions import LambdaSource
from bot.edge.aws.preview import LifecyclePreviews
from bot.edge.kube.inventory import kubernetes_sources
from bot.edge.static_refs import StaticReferences
from bot.errors import LifeguardError, NotWatched
from bot.inventory.models import ImageUse
from bot.inventory.sources import InventorySource
from bot.ports import Registry
from bot.refs import ImageRef, RepositoryKey
from bot.settings import AwsAccount, Settings

# Account ids of credentials that do not name their account (default chain, profiles), found
# once per process with DescribeRegistry.
_DISCOVERED: dict[tuple[str, str], str] = {}


class FailedSource:
    """A source that could not even be set up; collecting it reports why.

    Example:
        >>> import asyncio
        >>> source = FailedSource("kubernetes", LifeguardError("no context prod"))
        >>> asyncio.run(source.collect())
        Traceback (most recent call last):
        ...
        bot.errors.LifeguardError: no context prod
    """

    def __init__(self, name: str, error: LifeguardError) -> None:
        self._name = name
        self.error = error

    @property
    def name(self) -> str:
        """The source that failed."""
        return self._name

    async def collect(self) -> list[ImageUse]:
        """Raise the set-up error, so the inventory lists this source as failed."""
        raise self.error


class AwsCloud:
    """Registries, trails and inventory sources on one set of AWS clients.

    Example::

        async with AwsClients(settings.aws) as clients:
            cloud = AwsCloud(settings, clients)
            for registry in cloud.registries():
                print(registry.label)
    """

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients
        self.targets = targets(settings.aws)

    @property
    def calls(self) -> Counter[str]:
        """AWS calls made so far, by ``service.Operation``."""
        return self.clients.calls

    def registries(self) -> list[EcrRegistry]:
        """One registry per configured account and region."""
        return [EcrRegistry(self.clients, target) for target in self.targets]

    def registry_for(self, key: RepositoryKey) -> EcrRegistry:
        """The registry holding a repository the bot found earlier (its account and region)."""
        in_region = [t for t in self.targets if t.region == key.region]
        if not in_region:
            raise NotWatched(f"{key.name} is in {key.region}, {self._watched_regions()}")
        known = [t for t in in_region if self._known_account(t.account, t.region) == key.registry]
        return EcrRegistry(self.clients, (known or in_region)[0])

    async def registry_for_ref(self, ref: ImageRef) -> EcrRegistry:
        """The registry a reference names; :class:`NotWatched` when the bot does not watch it.

        A short reference (``app:v1``) means the first configured account and region.
        """
        if ref.region is None and ref.registry is None:
            return EcrRegistry(self.clients, self.targets[0])
        region = ref.region or self.targets[0].region
        in_region = [t for t in self.targets if t.region == region]
        if not in_region:
            raise NotWatched(
                f"{ref} is not in a registry this bot watches: {region} is not one of its regions "
                f"({', '.join(self._regions())}). Nothing was changed."
            )
        if ref.registry is None:
            return EcrRegistry(self.clients, in_region[0])
        for target in in_region:
            if await self._account_id(target) == ref.registry:
                return EcrRegistry(self.clients, target)
        raise NotWatched(
            f"{ref} is not in a registry this bot watches: account {ref.registry} is not one of "
            f"its accounts in {region}. Nothing was changed."
        )

    def trail_for(self, registry: Registry) -> CloudTrailForensics:
        """CloudTrail of the registry's account and region."""
        target = next(t for t in self.targets if t.label == registry.label)
        return CloudTrailForensics(self.clients, target)

    def previews_for(self, registry: Registry) -> LifecyclePreviews:
        """AWS's lifecycle previews in the registry's account and region."""
        target = next(t for t in self.targets if t.label == registry.label)
        preview = self.settings.preview
        return LifecyclePreviews(
            self.clients, target, poll_interval=preview.poll_interval, timeout=preview.timeout
        )

    async def inventory_sources(self) -> list[InventorySource]:
        """Every enabled inventory source: ECS and Lambda per target, Kubernetes, static file."""
        found: list[InventorySource] = []
        inventory = self.settings.inventory
        for target in self.targets:
            if inventory.ecs:
                found.append(
                    EcsSource(
                        self.clients, target, revisions=inventory.ecs_task_definition_revisions
                    )
                )
            if inventory.lambda_functions:
                found.append(LambdaSource(self.clients, target, versions=inventory.lambda_versions))
        if self.settings.kubernetes.enabled:
            try:
                found.extend(await kubernetes_sources(self.settings.kubernetes))
            except LifeguardError as exc:
                found.append(FailedSource("kubernetes", exc))
        if inventory.static_references is not None:
            found.append(StaticReferences(inventory.static_references))
        return found

    def target_for_region(self, region: str | None) -> AwsTarget:
        """The first configured target in ``region`` (the first target when None or unknown)."""
        return next((t for t in self.targets if t.region == region), self.targets[0])

    async def account_id(self, target: AwsTarget) -> str:
        """The account id of a target (asked once per process when the credentials do not say)."""
        return await self._account_id(target)

    def _regions(self) -> list[str]:
        return list(dict.fromkeys(t.region for t in self.targets))

    def _watched_regions(self) -> str:
        return f"a region this bot does not watch ({', '.join(self._regions())})"

    @staticmethod
    def _known_account(account: AwsAccount, region: str) -> str | None:
        if account.role_arn:
            return account.role_arn.split(":")[4]
        return _DISCOVERED.get((account.profile or "", region))

    async def _account_id(self, target: AwsTarget) -> str:
        known = self._known_account(target.account, target.region)
        if known is None:
            known = await EcrRegistry(self.clients, target).registry_id()
            _DISCOVERED[(target.account.profile or "", target.region)] = known
        return known


@asynccontextmanager
async def open_cloud(settings: Settings) -> AsyncIterator[AwsCloud]:
    """Fresh AWS clients for one unit of work (assumed-role credentials stay current).

    Example::

        async with open_cloud(settings) as cloud:
            sources = await cloud.inventory_sources()
    """
    async with AwsClients(settings.aws) as clients:
        yield AwsCloud(settings, clients)


class SharedCloud:
    """AWS clients kept across units of work for a stream of events, renewed every
    ``renew_after`` seconds: building clients costs more than the calls of one event, and
    assumed-role credentials last an hour. Clients being renewed close when their last user is
    done.

    Example::

        shared = SharedCloud(settings)
        async with shared() as cloud:          # a CloudFactory, like ``lambda: open_cloud(...)``
            registry = cloud.registry_for(key)
        await shared.close()
    """

    def __init__(
        self,
        settings: Settings,
        *,
        renew_after: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.renew_after = renew_after
        self.clock = clock
        self._current: tuple[AwsClients, float] | None = None
        self._users: Counter[int] = Counter()
        self._retired: dict[int, AwsClients] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AwsCloud]:
        clients = await self._clients()
        self._users[id(clients)] += 1
        try:
            yield AwsCloud(self.settings, clients)
        finally:
            self._users[id(clients)] -= 1
            await self._close_retired()

    async def _clients(self) -> AwsClients:
        async with self._lock:
            if self._current is not None and self.clock() - self._current[1] < self.renew_after:
                return self._current[0]
            if self._current is not None:
                self._retired[id(self._current[0])] = self._current[0]
            clients = await AwsClients(self.settings.aws).__aenter__()
            self._current = (clients, self.clock())
            return clients

    async def _close_retired(self) -> None:
        for key, clients in list(self._retired.items()):
            if self._users[key] <= 0:
                del self._retired[key]
                del self._users[key]
                await clients.__aexit__(None, None, None)

    async def close(self) -> None:
        """Close every client (the stream is over)."""
        if self._current is not None:
            self._retired[id(self._current[0])] = self._current[0]
            self._current = None
        for key in list(self._retired):
            self._users[key] = 0
        await self._close_retired()
