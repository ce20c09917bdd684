"""Composition: build registries and inventory sources from the settings.

The one place that knows which adapter implements which interface; commands and the bot call
these functions and then talk only to the interfaces.
"""

from __future__ import annotations

from bot.aws.clients import AwsClients, targets
from bot.aws.ecr import EcrRegistry
from bot.aws.ecs import EcsSource
from bot.aws.lambda_functions import LambdaSource
from bot.errors import LifeguardError
from bot.inventory.models import ImageUse
from bot.inventory.sources import InventorySource
from bot.inventory.static import StaticReferences
from bot.kube.inventory import kubernetes_sources
from bot.settings import Settings


def registries(settings: Settings, aws: AwsClients) -> list[EcrRegistry]:
    """One registry reader per configured account and region."""
    return [EcrRegistry(aws, target) for target in targets(settings.aws)]


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


async def inventory_sources(settings: Settings, aws: AwsClients) -> list[InventorySource]:
    """Every enabled inventory source: ECS and Lambda per target, Kubernetes, static file."""
    found: list[InventorySource] = []
    inventory = settings.inventory
    for target in targets(settings.aws):
        if inventory.ecs:
            found.append(EcsSource(aws, target, revisions=inventory.ecs_task_definition_revisions))
        if inventory.lambda_functions:
            found.append(LambdaSource(aws, target, versions=inventory.lambda_versions))
    if settings.kubernetes.enabled:
        try:
            found.extend(await kubernetes_sources(settings.kubernetes))
        except LifeguardError as exc:
            found.append(FailedSource("kubernetes", exc))
    if inventory.static_references is not None:
        found.append(StaticReferences(inventory.static_references))
    return found
