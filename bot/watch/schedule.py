"""The scheduled work: a full scan and reconcile every ``bot.scan_interval``, on one replica at a
time, plus what every replica does for itself.

Every cycle, under the ``scheduler`` lock (expiring, with a fencing token, so another replica
takes over within one lock period when the holder dies):

1. scan every repository against the inventory (the same scan as ``ecr-lifeguard scan``);
2. save the manifest of every in-use image not saved yet (``restore`` re-pushes it later);
3. reconcile the alerts with what the scan found (:mod:`bot.watch.reconcile`);
4. end the leases whose time is up, and say so in their threads;
5. record changes that were interrupted (an intent older than a lock period).

On every replica, each cycle also replays this replica's journal into the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import LifeguardError
from bot.inventory.sources import collect_inventory
from bot.lifecycle.images import Image, settle_heap
from bot.ops.deps import Dependencies
from bot.ops.mutation import LOCK_TTL
from bot.ops.results import UnprotectResult
from bot.ops.verbs.unprotect import end_due_leases
from bot.ports import Cloud, Meter, NoMeter, Notifier
from bot.refs import RepositoryKey
from bot.state.journal import Journal
from bot.state.records import AuditEntry, SavedManifest, image_key
from bot.state.store import JsonObject
from bot.text import plural
from bot.watch.previews import Previews
from bot.watch.reconcile import Reconciler, ReconcileSummary, Resolution, resolve_alert
from bot.watch.scan import RepositoryResult, ScanOptions, ScanReport, scan

log = logging.getLogger(__name__)

LOCK = "scheduler"
LOCK_PERIOD = 60.0
LAST_SCAN = "last-scan"


@dataclass(frozen=True)
class CycleSummary:
    """What one cycle did, for logs and metrics."""

    ran: bool
    reconciled: ReconcileSummary | None = None
    leases_ended: int = 0
    interrupted: int = 0
    problems: tuple[str, ...] = ()
    severities: tuple[tuple[str, int], ...] = ()

    @property
    def risks(self) -> int:
        """In-use images at risk."""
        return self.reconciled.risks if self.reconciled else 0

    @property
    def posted(self) -> int:
        """Alerts posted (new, or reopened)."""
        return self.reconciled.posted if self.reconciled else 0

    @property
    def updated(self) -> int:
        """Alerts updated in place."""
        return self.reconciled.updated if self.reconciled else 0

    @property
    def resolved(self) -> int:
        """Alerts whose risk ended."""
        return self.reconciled.resolved if self.reconciled else 0

    @property
    def unrouted(self) -> int:
        """Risks without a channel to go to."""
        return self.reconciled.unrouted if self.reconciled else 0

    def describe(self) -> str:
        """The cycle in one log line."""
        reconciled = self.reconciled.describe() if self.reconciled else "no reconciliation"
        return (
            f"{reconciled}, {plural(self.leases_ended, 'lease')} ended, "
            f"{plural(self.interrupted, 'interrupted change')}, "
            f"{plural(len(self.problems), 'problem')}"
        )


class Scheduler:
    """Runs the cycles. See the module docstring.

    Example::

        scheduler = Scheduler(deps, SlackNotifier.from_settings(client, settings))
        summary = await scheduler.cycle()        # or: await scheduler.run_forever(stop_event)
    """

    def __init__(
        self,
        deps: Dependencies,
        notifier: Notifier,
        owner: str | None = None,
        *,
        meter: Meter | None = None,
        lock_period: float = LOCK_PERIOD,
    ) -> None:
        self.deps = deps
        self.lock_period = lock_period
        self.notifier = notifier
        self.owner = owner or secrets.token_hex(8)
        self.meter = meter or NoMeter()
        self.cache = deps.cache
        self.previews = Previews(deps, self.meter)
        self.drift = 0
        self.holding = False
        self.reconciler = Reconciler(
            deps.alerts,
            deps.leases,
            notifier,
            deps.settings.routing,
            owner=self.owner,
            clock=deps.clock,
        )
        self.last: CycleSummary | None = None

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Cycle every ``bot.scan_interval`` until ``stop`` is set; a failed cycle is logged."""
        interval = self.deps.settings.bot.scan_interval
        while not stop.is_set():
            try:
                self.last = await self.cycle()
                if self.last.ran:
                    log.info("cycle: %s", self.last.describe())
                settle_heap()
            except LifeguardError as exc:
                log.warning("cycle failed (%s); retrying at the next interval", exc)
            except Exception:  # the loop must outlive any one failure; it is logged in full
                log.exception("cycle failed; retrying at the next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def cycle(self) -> CycleSummary:
        """One cycle, unless another replica holds the scheduler lock."""
        await replay_journal(self.deps.journal, self.deps)
        deps = self.deps
        token = await deps.store.acquire(LOCK, self.owner, self.lock_period)
        if token is None:
            return CycleSummary(ran=False)
        keeper = asyncio.create_task(self._hold_lock())
        self.holding = True
        try:
            ended = await end_due_leases(deps)  # before the scan: it sees their keep tags gone
            report = await self.scan()
            await deps.store.put(LAST_SCAN, last_scan_summary(report))
            for result in ended:
                await self._tell_lease_ended(result, report)
            reconciled = await self.reconciler.reconcile(report)
            interrupted = await record_interrupted(deps)
            await self.previews.schedule([r.key for r in report.repositories if r.policy != "none"])
            await self.previews.run_due()
        finally:
            self.holding = False
            keeper.cancel()
            with contextlib.suppress(LifeguardError, asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LifeguardError):
                await deps.store.release(LOCK, self.owner)
        problems = (*report.problems, *reconciled.failures)
        severities = Counter(risk.severity.label for risk in report.risks)
        return CycleSummary(
            True, reconciled, len(ended), interrupted, problems, tuple(severities.items())
        )

    async def _hold_lock(self) -> None:
        """Renew the scheduler lock while a cycle runs; a replica that dies lets it go within
        one lock period."""
        while True:
            await asyncio.sleep(self.lock_period / 3)
            with contextlib.suppress(LifeguardError):
                await self.deps.store.acquire(LOCK, self.owner, self.lock_period)

    async def scan(self) -> ScanReport:
        """Scan every repository: cache what was read (counting the drift from what events
        kept), and save the manifests of in-use images."""
        deps = self.deps
        aws_only = await self.previews.book.aws_only(list(await self.previews.book.known()))
        options = ScanOptions.from_settings(deps.settings.scan, deps.clock(), aws_only=aws_only)
        async with deps.cloud() as cloud:
            inventory = await collect_inventory(await cloud.inventory_sources())
            report = await scan(cloud.registries(), inventory, options, keep=self._keep)
            await save_manifests(deps, cloud, report.repositories)
        return report

    async def _keep(
        self, key: RepositoryKey, policy: str | None, evaluated: float | None, images: list[Image]
    ) -> None:
        now = self.deps.clock()
        if policy is None:
            await self.cache.set_policy(key, None, at=now)
            return
        drift = await self.cache.replace(key, policy, evaluated, images)
        if drift.any:
            self.drift += drift.missed + drift.stale
            log.info(
                "the cache of %s had drifted: %d image(s) the events missed, %d gone",
                key.name, drift.missed, drift.stale,
            )  # fmt: skip

    async def _tell_lease_ended(self, result: UnprotectResult, report: ScanReport) -> None:
        """Say in the alert's thread that a protection ended, and whether the image is at risk
        again: the reconciliation that follows reopens the alert then, with when; otherwise the
        alert shows that the protection ended and the policy keeps the image."""
        lease = result.lease
        ended = f"The protection by {lease.owner} ended: {result.note}."
        at_risk = any(
            r.repository == lease.repository and r.digest == lease.digest for r in report.risks
        )
        record = await self.deps.alerts.get(image_key(lease.repository, lease.digest))
        with contextlib.suppress(LifeguardError):
            if record is not None and record.state == "resolved" and not at_risk:
                used = any(
                    image.digest == lease.digest
                    for result_ in report.repositories
                    if result_.key == lease.repository
                    for image in result_.in_use_images
                )
                why = "the lifecycle policy keeps it" if used else "nothing uses it any more"
                detail = (
                    f"the protection by {lease.owner} ended: {result.note}; "
                    f"it is not at risk again: {why}"
                )
                resolution = Resolution("lease_ended", detail, lease, at=self.deps.clock())
                await resolve_alert(self.deps.alerts, self.notifier, record, resolution)
            elif lease.channel and lease.thread_ts:
                await self.notifier.reply(lease.channel, lease.thread_ts, ended)


async def save_manifests(
    deps: Dependencies, cloud: Cloud, results: Sequence[RepositoryResult]
) -> int:
    """Save the manifest of every in-use image not saved yet; how many were saved."""
    vault, now, saved = deps.vault, deps.clock(), 0
    for result in results:
        # The scan already read these images: only their manifests are fetched here.
        tags = {i.digest: i.tags for i in result.in_use_images}
        wanted = [d for d in tags if not await vault.has(result.key, d)]
        if not wanted:
            continue
        registry = cloud.registry_for(result.key)
        for manifest in await registry.manifests(result.key, wanted):
            copy = SavedManifest(
                text=manifest.text,
                media_type=manifest.media_type,
                tags=tags[manifest.digest],
                saved_at=now,
            )
            saved += await vault.save(result.key, manifest.digest, copy)
    return saved


async def replay_journal(journal: Journal | None, deps: Dependencies) -> int:
    """Write this replica's journaled records into the store, if it answers; how many."""
    if journal is None:
        return 0
    try:
        return await journal.replay(deps.store)
    except LifeguardError as exc:
        log.warning("journal not replayed yet (the store still fails): %s", exc)
        return 0


async def record_interrupted(deps: Dependencies) -> int:
    """Audit the changes whose intent is older than a lock period: they were interrupted."""
    stale = await deps.intents.stale(before=deps.clock() - 2 * LOCK_TTL)
    for intent in stale:
        entry = AuditEntry.about(
            intent.repository,
            id=f"interrupted-{intent.id}",
            actor=intent.actor,
            action=intent.action,
            result="interrupted",
            digest=intent.digest,
            detail="the change was interrupted before its result was recorded; check the image "
            "(`/ecr why-missing` and `/ecr protections`) before trying again",
            at=deps.clock(),
        )
        await deps.audit.record(entry)
        await deps.intents.done(intent)
    return len(stale)


def last_scan_summary(report: ScanReport) -> JsonObject:
    """What the App Home shows of the last scan: when, and each risk in a few words."""
    return {
        "at": report.now,
        "repositories": len(report.repositories),
        "problems": list(report.problems)[:10],
        "risks": [
            {
                "repository": risk.repository.name,
                "registry": risk.repository.registry,
                "region": risk.repository.region,
                "digest": risk.digest,
                "tags": list(risk.decision.image.tags)[:5],
                "severity": risk.severity.label,
                "rule": risk.rule_priority,
                "action": risk.action,
                "when": risk.when.describe(report.now),
            }
            for risk in report.risks[:200]
        ],
    }
