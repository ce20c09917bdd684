"""The ECS inventory source: what tasks run, what services launch next, what they can roll back to.

Three kinds of use, per account and region (spec: ecr-behaviour.md §6.1):

- **running**: every task with desired status RUNNING in every cluster; ``DescribeTasks``
  ``containers[].imageDigest`` is the digest ECS resolved when the task started.
- **launch**: what each service starts on scale-out or task replacement. Since ECS pins digests per
  deployment, that is ``DescribeServiceRevisions`` ``containerImages[].imageDigest`` of the
  revisions being deployed and of the latest successful deployment, even after the tag moved on.
  Where the service-revision APIs are unavailable, the deployments' task definitions stand in
  (their image strings only: the digest is not reported).
- **rollback**: the newest revisions of every active task-definition family.

Every read is batched as far as ECS allows: ``DescribeTasks`` 100 tasks, ``DescribeServices``
10 services and ``DescribeServiceRevisions`` 20 revisions per call; each task definition is
described once per collection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.errors import AccessDenied, NotFound, UpstreamError
from bot.inventory.models import CHANNEL_TAG, Consumer, ImageUse, UseKind
from bot.refs import ImageRef, ecr_image_ref

T = TypeVar("T")
EPOCH = datetime.fromtimestamp(0, UTC)

PAGE_SIZE = 100
DESCRIBE_TASKS_LIMIT = 100
DESCRIBE_SERVICES_LIMIT = 10
DESCRIBE_REVISIONS_LIMIT = 20
DIGEST_NOT_REPORTED = "task definition image (digest not reported)"
# Deployments whose target revision ECS is launching (or may launch) right now.
ACTIVE_DEPLOYMENTS = frozenset(
    {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
)
# Error codes meaning "this endpoint does not offer the service-revision APIs".
UNAVAILABLE_CODES = frozenset(
    {"UnknownOperationException", "UnknownOperation", "InvalidAction", "ValidationException"}
    | {"NotImplemented", "NotImplementedException", "UnsupportedOperation"}
)


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """The parts of a task-definition revision the inventory needs."""

    arn: str
    family: str
    revision: int
    containers: tuple[tuple[str, str], ...]  # (container name, image string)
    channel: str | None = None

    @property
    def label(self) -> str:
        """``family:revision``, as ECS names it."""
        return f"{self.family}:{self.revision}"

    def ecr_images(self) -> list[tuple[str, ImageRef]]:
        """(container name, reference) of the containers whose image is in ECR."""
        refs = [(name, ecr_image_ref(image)) for name, image in self.containers]
        return [(name, ref) for name, ref in refs if ref is not None]


# The list and describe operations per kind, spelled out so that the IAM policy test finds them.
_OPERATIONS = {
    "tasks": ("list_tasks", "describe_tasks"),
    "services": ("list_services", "describe_services"),
}


class EcsSource:
    """Images that ECS tasks run, services launch and task definitions roll back to.

    One source per account and region (``AwsTarget``); implements
    :class:`~bot.inventory.sources.InventorySource`.

    Example::

        async with AwsClients(settings.aws) as aws:
            sources = [
                EcsSource(aws, target, revisions=settings.inventory.ecs_task_definition_revisions)
                for target in targets(settings.aws)
            ]
            inventory = await collect_inventory(sources)
    """

    def __init__(self, aws: AwsClients, target: AwsTarget, revisions: int = 3) -> None:
        self.aws = aws
        self.target = target
        self.revisions = revisions
        self._definitions: dict[str, asyncio.Future[TaskDefinition | None]] = {}
        self._revisions_api = True

    @property
    def name(self) -> str:
        """How progress and error messages name this source."""
        return f"ecs {self.target.label}"

    async def collect(self) -> list[ImageUse]:
        """Running, launch and rollback uses of ECR images (other registries are left out)."""
        self._definitions = {}
        rollback = await self.rollback_targets()
        clusters = [arn async for arn in self._listed("list_clusters", "clusterArns")]
        per_cluster = await self._gather([partial(self.cluster_uses, arn) for arn in clusters])
        return list(dict.fromkeys([use for uses in per_cluster for use in uses] + rollback))

    async def cluster_uses(self, cluster_arn: str) -> list[ImageUse]:
        """The running and launch uses of one cluster."""
        services = await self._described(cluster_arn, "services", DESCRIBE_SERVICES_LIMIT)
        channels = {s["serviceName"]: _tag(s.get("tags")) for s in services}
        tasks = await self._described(
            cluster_arn, "tasks", DESCRIBE_TASKS_LIMIT, desiredStatus="RUNNING"
        )
        running = [use for task in tasks for use in self._task_uses(task, channels)]
        return running + await self._launching(services)

    async def _described(
        self, cluster_arn: str, kind: str, limit: int, **filters: Any
    ) -> list[dict[str, Any]]:
        """Every task or service of a cluster: ``List…``, then ``Describe…`` in batches."""
        list_operation, describe_operation = _OPERATIONS[kind]
        key = f"{kind[:-1]}Arns"
        listed = self._listed(list_operation, key, cluster=cluster_arn, **filters)
        arns = [arn async for arn in listed]

        async def describe(batch: list[str]) -> list[dict[str, Any]]:
            params: dict[str, Any] = {"cluster": cluster_arn, kind: batch, "include": ["TAGS"]}
            response = await self.aws.call(self.target, "ecs", describe_operation, **params)
            return list(response.get(kind, []))

        batches = await self._gather([partial(describe, batch) for batch in _chunks(arns, limit)])
        return [item for batch in batches for item in batch]

    def _task_uses(self, task: dict[str, Any], channels: dict[str, str | None]) -> list[ImageUse]:
        cluster = _arn_name(task.get("clusterArn", ""))
        definition_arn = task.get("taskDefinitionArn", "")
        channel = _tag(task.get("tags")) or self._known_channel(definition_arn)
        group = str(task.get("group", ""))
        if group.startswith("service:"):  # the service's channel first, as for its launch uses
            service = group.removeprefix("service:")
            channel = channels.get(service) or channel
            name, kind = f"{cluster}/{service}", "ecs-service"
        else:
            name, kind = f"{cluster}/{_family_and_revision(definition_arn)[0]}", "ecs-task"
        consumer = self._consumer(kind, name, task["taskArn"], channel)
        refs = [
            (c.get("name", "?"), _digest_ref(c.get("image"), c.get("imageDigest")))
            for c in task.get("containers", [])
        ]
        return [
            ImageUse(ref, UseKind.RUNNING, consumer, f"container {name}")
            for name, ref in refs
            if ref is not None
        ]

    # -- services: what they launch next ----------------------------------------------------------

    async def _launching(self, services: list[dict[str, Any]]) -> list[ImageUse]:
        if not services:
            return []
        if self._revisions_api:
            try:
                return await self._from_revisions(services)
            except UpstreamError as exc:
                if not api_unavailable(exc):
                    raise
                self._revisions_api = False
        found = await self._gather([partial(self._from_deployments, s) for s in services])
        return [use for uses in found for use in uses]

    async def _from_revisions(self, services: list[dict[str, Any]]) -> list[ImageUse]:
        targets = await self._gather([partial(self._target_revisions, s) for s in services])
        wanted = list(dict.fromkeys(arn for arns in targets for arn in arns))
        batches = await self._gather(
            [
                partial(
                    self.aws.call,
                    self.target,
                    "ecs",
                    "describe_service_revisions",
                    serviceRevisionArns=batch,
                )
                for batch in _chunks(wanted, DESCRIBE_REVISIONS_LIMIT)
            ]
        )
        revisions = {
            r["serviceRevisionArn"]: r for b in batches for r in b.get("serviceRevisions", [])
        }
        uses: list[ImageUse] = []
        for service, arns in zip(services, targets, strict=True):
            found = [revisions[arn] for arn in arns if arn in revisions]
            if not found:
                uses.extend(await self._from_deployments(service))
            for revision in found:
                uses.extend(await self._revision_uses(service, revision))
        return uses

    async def _target_revisions(self, service: dict[str, Any]) -> list[str]:
        """Target revisions of in-progress deployments, then of the latest successful one."""
        deployments: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "cluster": service["clusterArn"],
            "service": service["serviceArn"],
            "status": sorted({*ACTIVE_DEPLOYMENTS, "SUCCESSFUL"}),
            "maxResults": PAGE_SIZE,
        }
        while True:
            try:
                page = await self.aws.call(self.target, "ecs", "list_service_deployments", **params)
            except NotFound:
                return []
            deployments.extend(page.get("serviceDeployments", []))
            if not page.get("nextToken"):
                break
            params["nextToken"] = page["nextToken"]
        active = [d for d in deployments if d.get("status") in ACTIVE_DEPLOYMENTS]
        done = [d for d in deployments if d.get("status") == "SUCCESSFUL"]
        if done:
            active.append(
                max(done, key=lambda d: d.get("finishedAt") or d.get("createdAt") or EPOCH)
            )
        return [
            str(d["targetServiceRevisionArn"]) for d in active if d.get("targetServiceRevisionArn")
        ]

    async def _revision_uses(
        self, service: dict[str, Any], revision: dict[str, Any]
    ) -> list[ImageUse]:
        images = revision.get("containerImages") or []
        if not images:  # no digests resolved (e.g. never scaled above 0): use the task definition
            return await self._definition_launch_uses(service, revision.get("taskDefinition", ""))
        consumer = self._service_consumer(service)
        where = f"service revision {_arn_name(revision['serviceRevisionArn'])}"
        refs = [
            (i.get("containerName", "?"), _digest_ref(i.get("image"), i.get("imageDigest")))
            for i in images
        ]
        return [
            ImageUse(ref, UseKind.LAUNCH, consumer, f"container {name}, {where}{note}")
            for name, ref in refs
            if ref is not None
            for note in [f": {DIGEST_NOT_REPORTED}" if ref.digest is None else ""]
        ]

    async def _from_deployments(self, service: dict[str, Any]) -> list[ImageUse]:
        """Fallback: the task definitions of the service's current deployments."""
        arns = [
            d["taskDefinition"]
            for d in service.get("deployments", [])
            if d.get("taskDefinition") and d.get("status") != "INACTIVE"
        ] or [service.get("taskDefinition", "")]
        found = await self._gather(
            [partial(self._definition_launch_uses, service, arn) for arn in dict.fromkeys(arns)]
        )
        return [use for uses in found for use in uses]

    async def _definition_launch_uses(self, service: dict[str, Any], arn: str) -> list[ImageUse]:
        definition = await self.task_definition(arn) if arn else None
        if definition is None:
            return []
        consumer = self._service_consumer(service, definition.channel)
        return [
            ImageUse(ref, UseKind.LAUNCH, consumer, f"container {name}, {definition.label}{note}")
            for name, ref in definition.ecr_images()
            for note in [f": {DIGEST_NOT_REPORTED}" if ref.digest is None else ""]
        ]

    def _service_consumer(self, service: dict[str, Any], fallback: str | None = None) -> Consumer:
        name = f"{_arn_name(service.get('clusterArn', ''))}/{service['serviceName']}"
        channel = _tag(service.get("tags")) or fallback
        return self._consumer("ecs-service", name, service["serviceArn"], channel)

    # -- task definitions: rollback targets -------------------------------------------------------

    async def rollback_targets(self) -> list[ImageUse]:
        """The images of the newest ``revisions`` revisions of every active family."""
        if self.revisions == 0:
            return []
        families = [
            family
            async for family in self._listed(
                "list_task_definition_families", "families", status="ACTIVE"
            )
        ]
        newest = await self._gather([partial(self._newest_revisions, f) for f in families])
        arns = [arn for arns in newest for arn in arns]
        definitions = await self._gather([partial(self.task_definition, arn) for arn in arns])
        return [
            ImageUse(ref, UseKind.ROLLBACK, self._definition_consumer(d), detail)
            for d in definitions
            if d is not None
            for name, ref in d.ecr_images()
            for detail in [f"revision {d.revision}, container {name}"]
        ]

    def _definition_consumer(self, definition: TaskDefinition) -> Consumer:
        return self._consumer(
            "ecs-task-definition", definition.family, definition.arn, definition.channel
        )

    async def _newest_revisions(self, family: str) -> list[str]:
        response = await self.aws.call(
            self.target,
            "ecs",
            "list_task_definitions",
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
            maxResults=self.revisions,
        )
        arns = [
            arn
            for arn in response.get("taskDefinitionArns", [])
            if _family_and_revision(arn)[0] == family
        ]
        arns.sort(key=lambda arn: _family_and_revision(arn)[1], reverse=True)
        return arns[: self.revisions]

    async def task_definition(self, arn: str) -> TaskDefinition | None:
        """One task-definition revision (described once per collection), or None when gone."""
        if arn not in self._definitions:
            self._definitions[arn] = asyncio.ensure_future(self._describe_task_definition(arn))
        return await self._definitions[arn]

    async def _describe_task_definition(self, arn: str) -> TaskDefinition | None:
        try:
            response = await self.aws.call(
                self.target, "ecs", "describe_task_definition", taskDefinition=arn, include=["TAGS"]
            )
        except NotFound:
            return None
        definition = response["taskDefinition"]
        family, revision = _family_and_revision(definition["taskDefinitionArn"])
        containers = tuple(
            (str(c.get("name", "?")), str(c["image"]))
            for c in definition.get("containerDefinitions", [])
            if c.get("image")
        )
        return TaskDefinition(
            definition["taskDefinitionArn"],
            family,
            revision,
            containers,
            _tag(response.get("tags")),
        )

    def _known_channel(self, arn: str) -> str | None:
        """The channel tag of a task definition already described, without calling ECS."""
        future = self._definitions.get(arn)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        definition = future.result()
        return definition.channel if definition else None

    # -- helpers ------------------------------------------------------------------------------

    def _consumer(self, kind: str, name: str, arn: str, channel: str | None) -> Consumer:
        return Consumer(
            kind, name, account=_arn_account(arn), region=self.target.region, channel=channel
        )

    async def _listed(self, operation: str, key: str, **params: Any) -> AsyncIterator[Any]:
        async for page in self.aws.paginate(
            self.target, "ecs", operation, PaginationConfig={"PageSize": PAGE_SIZE}, **params
        ):
            for item in page.get(key, []):
                yield item

    async def _gather(self, factories: list[Callable[[], Awaitable[T]]]) -> list[T]:
        # The clients limit concurrent requests per account and region.
        return list(await asyncio.gather(*(factory() for factory in factories)))


def api_unavailable(error: UpstreamError) -> bool:
    """Whether an error means the service-revision APIs cannot be used here (so fall back).

    Example:
        >>> api_unavailable(UpstreamError("ecs", "ListServiceDeployments",
        ...                               "UnknownOperationException", "unknown"))
        True
        >>> api_unavailable(UpstreamError("ecs", "ListServiceDeployments", "ServerException", "x"))
        False
    """
    return isinstance(error, AccessDenied) or error.code in UNAVAILABLE_CODES


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def _digest_ref(image: object, digest: object) -> ImageRef | None:
    """The ECR reference of an image string, carrying the digest ECS reported when it did."""
    ref = ecr_image_ref(image) if isinstance(image, str) else None
    if ref is None:
        return None
    if isinstance(digest, str) and digest.startswith("sha256:"):
        return replace(ref, digest=digest)
    return ref


def _tag(tags: object) -> str | None:
    """The owner channel from ECS tags (``[{"key": ..., "value": ...}]``)."""
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, dict) and tag.get("key") == CHANNEL_TAG and tag.get("value"):
            return str(tag["value"])
    return None


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def _arn_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _family_and_revision(arn: str) -> tuple[str, int]:
    """``arn:…:task-definition/web:7`` → ``("web", 7)``."""
    family, _, revision = _arn_name(arn).rpartition(":")
    return (family, int(revision)) if revision.isdigit() else (_arn_name(arn), 0)
