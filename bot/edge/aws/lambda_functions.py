"""The Lambda inventory source: the images container-image functions run and can roll back to.

Lambda keeps the digest it resolved when a version was published (``GetFunction``
``Code.ResolvedImageUri``) and fails a function whose image was deleted (spec: ecr-behaviour.md
§6.3). So every version that can be invoked counts, not just ``$LATEST``:

- **running**: ``$LATEST`` and every version an alias points to (including the extra version of
  a weighted alias);
- **rollback**: the newest ``versions`` other published versions.

Lambda has no batch read: each function costs ``ListVersionsByFunction``, ``ListAliases`` and one
``GetFunction`` per version reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.edge.aws.clients import AwsClients, AwsTarget
from bot.errors import NotFound
from bot.inventory.models import CHANNEL_TAG, Consumer, ImageUse, UseKind
from bot.refs import ImageRef, ecr_image_ref

LATEST = "$LATEST"


@dataclass(frozen=True, slots=True)
class VersionUse:
    """One version of a function that the inventory reports, and why."""

    qualifier: str
    kind: UseKind
    detail: str


class LambdaSource:
    """Images that container-image Lambda functions run (``$LATEST``, aliases) or roll back to.

    One source per account and region (``AwsTarget``); implements
    :class:`~bot.inventory.sources.InventorySource`.

    Example::

        async with AwsClients(settings.aws) as aws:
            sources = [
                LambdaSource(aws, target, versions=settings.inventory.lambda_versions)
                for target in targets(settings.aws)
            ]
            inventory = await collect_inventory(sources)
    """

    def __init__(self, aws: AwsClients, target: AwsTarget, versions: int = 3) -> None:
        self.aws = aws
        self.target = target
        self.versions = versions

    @property
    def name(self) -> str:
        """How progress and error messages name this source."""
        return f"lambda {self.target.label}"

    async def collect(self) -> list[ImageUse]:
        """The uses of every function whose package type is Image."""
        functions: list[dict[str, Any]] = []
        async for page in self.aws.paginate(self.target, "lambda", "list_functions"):
            functions.extend(
                f for f in page.get("Functions", []) if f.get("PackageType") == "Image"
            )
        found = await self._gather(
            [partial(self.function_uses, str(f["FunctionName"])) for f in functions]
        )
        return list(dict.fromkeys(use for uses in found for use in uses))

    async def function_uses(self, function: str) -> list[ImageUse]:
        """The uses of one function; none when it was deleted meanwhile."""
        try:
            versions, aliases = await asyncio.gather(
                self._listed(function, "list_versions_by_function", "Versions"),
                self._listed(function, "list_aliases", "Aliases"),
            )
            plan = version_plan([str(v["Version"]) for v in versions], aliases, self.versions)
            qualifiers = list(dict.fromkeys(p.qualifier for p in plan))
            answers = await self._gather(
                [partial(self._get_function, function, q) for q in qualifiers]
            )
        except NotFound:
            return []
        code = dict(zip(qualifiers, answers, strict=True))
        tags = code[LATEST].get("Tags") or {}
        channel = tags.get(CHANNEL_TAG) if isinstance(tags, dict) else None
        arn = str(code[LATEST].get("Configuration", {}).get("FunctionArn", ""))
        consumer = Consumer(
            "lambda-function",
            function,
            account=_arn_account(arn),
            region=self.target.region,
            channel=str(channel) if channel else None,
        )
        uses = []
        for use in plan:
            ref = _code_ref(code[use.qualifier].get("Code", {}))
            if ref is not None:
                uses.append(ImageUse(ref, use.kind, consumer, use.detail))
        return uses

    async def _listed(self, function: str, operation: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        async for page in self.aws.paginate(
            self.target, "lambda", operation, FunctionName=function
        ):
            items.extend(page.get(key, []))
        return items

    async def _get_function(self, function: str, qualifier: str) -> dict[str, Any]:
        params = {} if qualifier == LATEST else {"Qualifier": qualifier}
        response: dict[str, Any] = await self.aws.call(
            self.target, "lambda", "get_function", FunctionName=function, **params
        )
        return response

    async def _gather(self, factories: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
        # The clients limit concurrent requests per account and region.
        return list(await asyncio.gather(*(factory() for factory in factories)))


def version_plan(versions: list[str], aliases: list[dict[str, Any]], keep: int) -> list[VersionUse]:
    """Which versions to report: ``$LATEST``, aliased versions, then the ``keep`` newest others.

    Example:
        >>> plan = version_plan(["$LATEST", "1", "2", "3", "4"],
        ...                     [{"Name": "live", "FunctionVersion": "2"}], keep=1)
        >>> [(p.qualifier, p.kind.name, p.detail) for p in plan]
        [('$LATEST', 'RUNNING', '$LATEST'), ('2', 'RUNNING', 'alias live → 2'), ('4', 'ROLLBACK', 'version 4')]
    """  # noqa: E501
    plan = [VersionUse(LATEST, UseKind.RUNNING, LATEST)]
    aliased: set[str] = set()
    for alias in aliases:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        for version in [alias.get("FunctionVersion"), *weights]:
            if version:
                aliased.add(str(version))
                detail = f"alias {alias.get('Name', '?')} → {version}"
                plan.append(VersionUse(str(version), UseKind.RUNNING, detail))
    published = sorted((int(v) for v in versions if v.isdigit() and v not in aliased), reverse=True)
    plan.extend(VersionUse(str(v), UseKind.ROLLBACK, f"version {v}") for v in published[:keep])
    return plan


def _code_ref(code: dict[str, Any]) -> ImageRef | None:
    """The image a version runs: the resolved ``repo@sha256:…``, else the URI it was given."""
    for key in ("ResolvedImageUri", "ImageUri"):
        value = code.get(key)
        ref = ecr_image_ref(value) if isinstance(value, str) else None
        if ref is not None:
            return ref
    return None


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None
