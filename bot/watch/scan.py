"""The scan: every repository's lifecycle policy, evaluated and joined with what is in use.

For each repository matching the globs: read the lifecycle policy (or take the proposed one); no
policy means nothing is at risk and no further call is made. Otherwise read every image (1,000
per call), the index manifests when there are image indexes, evaluate, and assess the in-use
images. One repository failing does not stop the others.

Example::

    async with open_cloud(settings) as cloud:
        inventory = await collect_inventory(await cloud.inventory_sources())
        options = ScanOptions.from_settings(settings.scan, now=time.time())
        report = await scan(cloud.registries(), inventory, options)
        for risk in report.risks:
            print(risk.repository, risk.digest, risk.when.describe(report.now))
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.errors import LifeguardError
from bot.inventory.models import ImageUse
from bot.inventory.resolve import uses_by_digest
from bot.inventory.sources import Inventory
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.images import Image
from bot.lifecycle.inputs import attach_children
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.problems import InputError
from bot.lifecycle.timefmt import DAY
from bot.ports import Registry, Repository
from bot.refs import RepositoryKey
from bot.risk.assess import DEFAULT_HORIZON, DEFAULT_PUSH_MARGIN, assess, aws_only_risks
from bot.risk.models import Risk
from bot.settings import ScanSettings

PolicySource = Literal["current", "proposed", "none"]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to scan and how far ahead to look."""

    now: float
    repository_globs: tuple[str, ...] = ("*",)
    proposed_policy: LifecyclePolicy | None = None
    horizon: float = DEFAULT_HORIZON
    push_margin: int = DEFAULT_PUSH_MARGIN
    # Digests AWS's lifecycle preview acts on that the local evaluation keeps, by repository.
    aws_only: Mapping[RepositoryKey, Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: ScanSettings,
        now: float,
        *,
        globs: tuple[str, ...] | None = None,
        proposed_policy: LifecyclePolicy | None = None,
        aws_only: Mapping[RepositoryKey, Mapping[str, int]] | None = None,
    ) -> ScanOptions:
        """The options the ``scan`` settings give, with the globs narrowed when asked.

        Example:
            >>> ScanOptions.from_settings(ScanSettings(horizon_days=1), 0.0).horizon
            86400.0
        """
        return cls(
            now=now,
            repository_globs=globs or tuple(settings.repositories),
            proposed_policy=proposed_policy,
            horizon=settings.horizon_days * DAY,
            push_margin=settings.push_margin,
            aws_only=aws_only or {},
        )


@dataclass(frozen=True, slots=True)
class RepositoryResult:
    """One repository's outcome."""

    key: RepositoryKey
    policy: PolicySource
    images: int = 0
    in_use: int = 0
    risks: tuple[Risk, ...] = ()
    error: str | None = None
    in_use_images: tuple[Image, ...] = ()
    last_evaluated_at: float | None = None
    digests: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ScanReport:
    """Everything a scan found, most severe risk first."""

    now: float
    options: ScanOptions
    repositories: tuple[RepositoryResult, ...]
    inventory: Inventory
    failures: tuple[str, ...] = field(default=())

    @property
    def risks(self) -> list[Risk]:
        """Every risk, the most severe and soonest first."""
        found = [risk for result in self.repositories for risk in result.risks]
        return sorted(found, key=lambda r: (-r.severity, r.upcoming, r.when.at or 0.0))

    @property
    def problems(self) -> list[str]:
        """Failures of registries, repositories and inventory sources, as sentences."""
        found = list(self.failures)
        found += [f"{r.key}: {r.error}" for r in self.repositories if r.error]
        found += [f"{f.source}: {f.error}" for f in self.inventory.failures]
        return found


ProgressCallback = Callable[[str, int, int], None]
# What a scan read of a repository: its policy text (None: none), when ECR last ran it, images.
Keep = Callable[[RepositoryKey, str | None, float | None, list[Image]], Awaitable[None]]


async def scan(
    registries: Sequence[Registry],
    inventory: Inventory,
    options: ScanOptions,
    progress: ProgressCallback | None = None,
    keep: Keep | None = None,
) -> ScanReport:
    """Scan the repositories of every registry; see the module docstring.

    ``progress(label, done, total)`` is called as repositories finish; ``keep(key, policy,
    images)`` is awaited with what was read of each repository (the scheduler caches it).
    """
    failures: list[str] = []
    work: list[tuple[Registry, Repository]] = []
    listings = await asyncio.gather(*(r.repositories() for r in registries), return_exceptions=True)
    for registry, listing in zip(registries, listings, strict=True):
        if isinstance(listing, LifeguardError):
            failures.append(f"{registry.label}: {listing}")
        elif isinstance(listing, BaseException):
            raise listing
        else:
            work.extend((registry, repo) for repo in listing if _selected(repo, options))
    uses = _uses_by_repository(inventory.uses)
    done = 0

    # Concurrency is bounded in one place: the AWS clients' limit per account and region.
    async def one(registry: Registry, repo: Repository) -> RepositoryResult:
        nonlocal done
        result = await _scan_repository(registry, repo, uses, options, keep)
        done += 1
        if progress is not None:
            progress(repo.key.name, done, len(work))
        return result

    results = await asyncio.gather(*(one(registry, repo) for registry, repo in work))
    return ScanReport(options.now, options, tuple(results), inventory, tuple(failures))


def _selected(repo: Repository, options: ScanOptions) -> bool:
    return any(fnmatch.fnmatchcase(repo.key.name, glob) for glob in options.repository_globs)


UsesIndex = dict[tuple[str | None, str | None, str], list[ImageUse]]


def _uses_by_repository(uses: Sequence[ImageUse]) -> UsesIndex:
    index: UsesIndex = defaultdict(list)
    for use in uses:
        index[(use.ref.registry, use.ref.region, use.ref.repository)].append(use)
    return index


def uses_for(key: RepositoryKey, index: UsesIndex) -> list[ImageUse]:
    """The uses that name this repository; short references (no registry) match by name.

    Example:
        >>> from bot.inventory.models import Consumer, UseKind
        >>> from bot.refs import ImageRef
        >>> use = ImageUse(ImageRef("app", "v1"), UseKind.STATIC, Consumer("static", "x"))
        >>> len(uses_for(RepositoryKey("1", "eu-west-1", "app"), _uses_by_repository([use])))
        1
    """
    return [
        *index.get((key.registry, key.region, key.name), []),
        *index.get((None, key.region, key.name), []),
        *index.get((None, None, key.name), []),
    ]


async def _scan_repository(
    registry: Registry,
    repo: Repository,
    uses: UsesIndex,
    options: ScanOptions,
    keep: Keep | None = None,
) -> RepositoryResult:
    key = repo.key
    try:
        policy, source, evaluated_at, text = await _policy(registry, repo, options)
        if policy is None:
            if keep is not None:
                await keep(key, None, None, [])
            return RepositoryResult(key, "none")
        images = await registry.images(repo)
        if any(image.is_index for image in images):
            images = attach_children(images, await registry.index_children(repo, images))
        if keep is not None and source == "current":
            await keep(key, text, evaluated_at, images)
    except LifeguardError as exc:
        return RepositoryResult(key, "current", error=str(exc))
    except InputError as exc:
        return RepositoryResult(key, "current", error=f"lifecycle policy not understood: {exc}")
    return assess_repository(
        key, policy, images, uses_for(key, uses), options, source=source, evaluated_at=evaluated_at
    )


def assess_repository(
    key: RepositoryKey,
    policy: LifecyclePolicy,
    images: list[Image],
    uses: list[ImageUse],
    options: ScanOptions,
    *,
    source: PolicySource = "current",
    evaluated_at: float | None = None,
) -> RepositoryResult:
    """Evaluate a repository's policy over its images and assess the ones in use (pure).

    The scan calls this for every repository; the event consumer calls it for the one repository
    an event concerns, from the cached images.
    """
    evaluation = evaluate(policy, images, options.now)
    in_use = uses_by_digest(images, uses)
    risks = assess(
        key, evaluation, in_use, horizon=options.horizon, push_margin=options.push_margin
    )
    aws_acts = options.aws_only.get(key)
    if aws_acts:
        risks += aws_only_risks(key, evaluation, in_use, aws_acts, risks)
    return RepositoryResult(
        key,
        source,
        len(images),
        len(in_use),
        tuple(risks),
        in_use_images=tuple(image for image in images if image.digest in in_use),
        last_evaluated_at=evaluated_at,
        digests=frozenset(image.digest for image in images),
    )


def uses_index(uses: Sequence[ImageUse]) -> UsesIndex:
    """The inventory's uses indexed by the repository they name (for :func:`uses_for`)."""
    return _uses_by_repository(uses)


async def _policy(
    registry: Registry, repo: Repository, options: ScanOptions
) -> tuple[LifecyclePolicy | None, PolicySource, float | None, str | None]:
    current = await registry.lifecycle_policy(repo) if options.proposed_policy is None else None
    if options.proposed_policy is not None:
        return options.proposed_policy, "proposed", None, None
    if current is None:
        return None, "none", None, None
    return parse_policy(current.text), "current", current.last_evaluated_at, current.text
