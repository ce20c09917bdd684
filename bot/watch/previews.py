"""AWS's own lifecycle previews, compared image by image with the local evaluation.

The local evaluator explains and forecasts; ``StartLifecyclePolicyPreview`` is the ground truth for
"now". A repository gets a preview after every change of its policy, and otherwise at most once
every ``preview.every`` (a day); the scheduler runs at most ``preview.per_cycle`` a cycle, so
previews are rate-limited across repositories. Each verdict is stored: alerts say when AWS agrees;
an image AWS acts on that the local evaluation keeps is alerted too (either side expiring it is
enough); each difference is logged with both answers, counted, and reported once to the audit
channel.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.errors import InputError, LifeguardError
from bot.lifecycle.compare import Comparison, compare
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.parse import parse_policy
from bot.ops.deps import Dependencies
from bot.ports import Meter, NoMeter
from bot.refs import RepositoryKey
from bot.state.records import AuditEntry
from bot.text import plural

log = logging.getLogger(__name__)

DUE = "previews:due"


def _name(key: RepositoryKey) -> str:
    return f"{key.registry}/{key.region}/{key.name}"


def _key(name: str) -> RepositoryKey:
    registry, region, repository = name.split("/", 2)
    return RepositoryKey(registry, region, repository)


@dataclass(frozen=True)
class Verdict:
    """The last comparison of a repository: when, whether AWS agreed, and the digests AWS acts
    on that the local evaluation keeps (digest → rule priority)."""

    at: float
    agrees: bool
    compared: int
    differences: tuple[str, ...]
    aws_only: dict[str, int]


class PreviewBook:
    """Which repositories are due a preview, and the last verdict of each.

    Example::

        book = PreviewBook(store)
        await book.due_now(key)                 # the policy changed
        for key in await book.due(now, limit=5):
            ...
    """

    def __init__(self, deps: Dependencies) -> None:
        self.store = deps.store

    async def due_now(self, key: RepositoryKey, at: float = 0.0) -> None:
        """Preview this repository at the next chance."""
        await self.store.index_set(DUE, _name(key), at)

    async def due_later(self, key: RepositoryKey, at: float) -> None:
        """Preview it at ``at`` (unless something asks sooner)."""
        await self.store.index_set(DUE, _name(key), at)

    async def known(self) -> set[RepositoryKey]:
        """Every repository with a preview scheduled."""
        return {_key(name) for name, _ in await self.store.index_range(DUE)}

    async def due(self, now: float, limit: int) -> list[RepositoryKey]:
        """The repositories due by ``now``, soonest first."""
        return [_key(name) for name, _ in (await self.store.index_range(DUE, high=now))[:limit]]

    async def keep(self, key: RepositoryKey, verdict: Verdict) -> None:
        """Store a repository's verdict."""
        await self.store.put(
            f"preview:{_name(key)}",
            {
                "at": verdict.at,
                "agrees": verdict.agrees,
                "compared": verdict.compared,
                "differences": list(verdict.differences),
                "aws_only": verdict.aws_only,
            },
        )

    async def verdict(self, key: RepositoryKey) -> Verdict | None:
        """The last verdict of a repository."""
        data = await self.store.get(f"preview:{_name(key)}")
        if data is None:
            return None
        return Verdict(
            float(data["at"]),
            bool(data["agrees"]),
            int(data["compared"]),
            tuple(data["differences"]),
            {str(k): int(v) for k, v in data["aws_only"].items()},
        )

    async def aws_only(self, keys: list[RepositoryKey]) -> Mapping[RepositoryKey, dict[str, int]]:
        """For the scan: the digests AWS acts on that the local evaluation keeps, by repository."""
        found = {}
        for key in keys:
            verdict = await self.verdict(key)
            if verdict is not None and verdict.aws_only:
                found[key] = verdict.aws_only
        return found


class Previews:
    """Runs the due previews and compares them. See the module docstring.

    Example::

        previews = Previews(deps, meter)
        await previews.schedule(scanned_keys)   # a daily preview for each repository
        compared = await previews.run_due()
    """

    def __init__(self, deps: Dependencies, meter: Meter | None = None) -> None:
        self.deps = deps
        self.book = PreviewBook(deps)
        self.cache = deps.cache
        self.meter = meter or NoMeter()

    async def schedule(self, keys: list[RepositoryKey]) -> None:
        """Give each repository not yet scheduled a preview within a day (spread out)."""
        known = await self.book.known()
        for key in keys:
            if key not in known:
                spread = int(hashlib.sha256(_name(key).encode()).hexdigest()[:8], 16) % 3600
                await self.book.due_later(key, self.deps.clock() + spread)

    async def run_due(self) -> list[Comparison]:
        """Preview and compare the repositories due now (at most ``preview.per_cycle``)."""
        settings = self.deps.settings.preview
        if not settings.enabled:
            return []
        done = []
        for key in await self.book.due(self.deps.clock(), settings.per_cycle):
            try:
                comparison = await self.run(key)
            except LifeguardError as exc:
                log.warning("the lifecycle preview of %s failed: %s", key.name, exc)
                comparison = None
            await self.book.due_later(key, self.deps.clock() + settings.every)
            if comparison is not None:
                done.append(comparison)
        return done

    async def run(self, key: RepositoryKey) -> Comparison | None:
        """AWS's preview of a repository, compared with the local evaluation of the same policy
        over the same images; the verdict is stored."""
        cached = await self.cache.load(key)
        async with self.deps.cloud() as cloud:
            registry = cloud.registry_for(key)
            preview = await cloud.previews_for(registry).preview(key)
        if preview is None or cached is None:
            return None
        try:
            policy = parse_policy(preview.policy_text)
        except InputError as exc:
            log.warning("AWS previewed a policy the evaluator cannot read (%s): %s", key, exc)
            return None
        local = evaluate(policy, cached.images, self.deps.clock())
        comparison = compare(preview.results, local, aws_as_of=preview.started_at)
        await self._record(key, comparison)
        return comparison

    async def _record(self, key: RepositoryKey, comparison: Comparison) -> None:
        self.meter.preview(comparison.agrees, len(comparison.differences))
        aws_only = {
            d.digest: d.aws.rule_priority
            for d in comparison.differences
            if not d.aws.kept and d.local.kept and d.aws.rule_priority is not None
        }
        lines = tuple(d.describe() for d in comparison.differences)
        verdict = Verdict(
            self.deps.clock(), comparison.agrees, comparison.compared, lines, aws_only
        )
        previous = await self.book.verdict(key)
        await self.book.keep(key, verdict)
        if comparison.agrees:
            return
        for line in lines:
            log.warning("AWS's lifecycle preview of %s differs: %s", key.name, line)
        if previous is not None and previous.differences == lines:
            return  # reported already
        fingerprint = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        await self.deps.audit.record(
            AuditEntry.about(
                key,
                id=f"preview-{_name(key)}-{fingerprint}",
                at=self.deps.clock(),
                actor="ecr-lifeguard",
                action="lifecycle-preview",
                result="failed",
                detail=f"AWS's preview differs from the local evaluation on "
                f"{plural(len(lines), 'image')}: " + "; ".join(lines[:5]),
            )
        )
