"""Inventory sources: the interface every source implements, and collecting from all of them.

A source (ECS, Kubernetes, Lambda, a static file) reports the images it uses as
:class:`~bot.inventory.models.ImageUse` entries. One failing source does not stop the others: its
error is reported next to what the rest found, so a scan can say its inventory is incomplete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.errors import LifeguardError
from bot.inventory.models import ImageUse


class InventorySource(Protocol):
    """Something that knows which images are in use.

    Example::

        class Fixed:
            name = "fixed"
            async def collect(self) -> list[ImageUse]:
                ref = parse_image_ref("app:v1")
                return [ImageUse(ref, UseKind.STATIC, Consumer("static", "x"))]
    """

    @property
    def name(self) -> str:
        """A short label for progress and error messages (``ecs prod/eu-west-1``)."""
        ...

    async def collect(self) -> list[ImageUse]:
        """Every image use this source can see. Raises :class:`bot.errors.LifeguardError`."""
        ...


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """A source that could not be read, and why."""

    source: str
    error: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """What every source reported, and which sources failed."""

    uses: tuple[ImageUse, ...]
    failures: tuple[SourceFailure, ...] = field(default=())
    per_source: tuple[tuple[str, int], ...] = field(default=())


async def collect_inventory(sources: Sequence[InventorySource]) -> Inventory:
    """Ask every source at once; keep going when one fails.

    Example:
        >>> import asyncio
        >>> class Broken:
        ...     name = "broken"
        ...     async def collect(self):
        ...         raise LifeguardError("cluster unreachable")
        >>> asyncio.run(collect_inventory([Broken()])).failures[0].error
        'cluster unreachable'
    """
    results = await asyncio.gather(*(s.collect() for s in sources), return_exceptions=True)
    uses: list[ImageUse] = []
    failures: list[SourceFailure] = []
    counts: list[tuple[str, int]] = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, LifeguardError):
            failures.append(SourceFailure(source.name, str(result)))
        elif isinstance(result, BaseException):
            raise result
        else:
            uses.extend(result)
            counts.append((source.name, len(result)))
    return Inventory(tuple(uses), tuple(failures), tuple(counts))
