"""The alert loop: scan, warn the owning channel once per at-risk image, keep threads current.

Every cycle (one replica at a time, under a lock in the store):

1. scan every repository against the inventory (the same scan as ``ecr-lifeguard scan``);
2. save the manifest of every in-use image not saved yet (``restore`` re-pushes it later);
3. post one alert per at-risk image, in its owner's channel; never post the same risk twice,
   update the message in place when the risk changes, and leave snoozed alerts alone until ECR
   evaluates the repository again;
4. update the message of every open alert whose risk ended: protected, no longer in use, policy
   changed, or image deleted (then with a Restore button);
5. end the leases whose time is up, and say so in their threads.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from bot.assemble import inventory_sources, registries
from bot.auth import Actor
from bot.aws.clients import AwsClients
from bot.aws.ecr import EcrRegistry
from bot.errors import LifeguardError
from bot.inventory.sources import collect_inventory
from bot.lifecycle.timefmt import human
from bot.refs import RepositoryKey
from bot.risk.models import Risk
from bot.scan import RepositoryResult, ScanOptions, ScanReport, scan
from bot.services.core import CommandError, Lifeguard
from bot.services.protect import ProtectService
from bot.services.results import UnprotectResult
from bot.state.records import AlertRecord, AlertState, Lease, SavedManifest, image_key
from bot.state.store import JsonObject

log = logging.getLogger(__name__)

LOCK = "alert-loop"
LAST_SCAN = "last-scan"
SNOOZE_WITHOUT_EVALUATION = 24 * 3600.0
ResolvedReason = Literal["protected", "safe", "deleted"]


@dataclass(frozen=True)
class Resolution:
    """Why an open alert ended."""

    reason: ResolvedReason
    detail: str
    lease: Lease | None = None


class Notifier(Protocol):
    """Where alerts are shown (Slack, in production)."""

    async def post_alert(self, channel: str, risk: Risk, now: float) -> tuple[str, str]:
        """Post a new alert; return where it went: the channel id and the message id (``ts``)."""
        ...

    async def update_alert(self, record: AlertRecord, risk: Risk, now: float) -> None:
        """Show the current state of a risk in the existing message."""
        ...

    async def resolve_alert(self, record: AlertRecord, resolution: Resolution) -> None:
        """Show that the risk ended, and why, in the existing message."""
        ...

    async def reply(self, channel: str, thread_ts: str, text: str) -> None:
        """Add a reply in an alert's thread."""
        ...


@dataclass(frozen=True)
class CycleSummary:
    """What one cycle did, for logs and metrics."""

    ran: bool
    risks: int = 0
    posted: int = 0
    updated: int = 0
    resolved: int = 0
    unrouted: int = 0
    leases_ended: int = 0
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        """The cycle in one log line."""
        return (
            f"{_plural(self.risks, 'risk')}, {self.posted} posted, {self.updated} updated, "
            f"{self.resolved} resolved, {self.unrouted} without a channel, "
            f"{_plural(self.leases_ended, 'lease')} ended, {_plural(len(self.problems), 'problem')}"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def fingerprint(risk: Risk) -> str:
    """What makes a risk the "same" risk: the action, the rule and the kind of timing."""
    return f"{risk.action}:{risk.rule_priority}:{risk.when.kind}"


def route(risk: Risk, lifeguard: Lifeguard) -> str | None:
    """The channel for an alert: the owner of the most urgent consumer, else the repository
    rules, else the default channel (None when nothing is configured).

    Example::

        channel = route(risk, lifeguard)
    """
    for use in sorted(risk.uses, key=lambda u: -u.kind):
        if use.consumer.channel:
            return use.consumer.channel
    routing = lifeguard.settings.routing
    for rule in routing.rules:
        if fnmatch.fnmatchcase(risk.repository.name, rule.repositories):
            return rule.channel
    return routing.default_channel


class AlertLoop:
    """Runs the cycles. See the module docstring.

    Example::

        loop = AlertLoop(lifeguard, SlackNotifier(client))
        summary = await loop.cycle()        # or: await loop.run_forever(stop_event)
    """

    def __init__(self, lifeguard: Lifeguard, notifier: Notifier) -> None:
        self.lifeguard = lifeguard
        self.notifier = notifier
        self.token = secrets.token_hex(8)
        self.last: CycleSummary | None = None

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Cycle every ``bot.scan_interval`` until ``stop`` is set; a failed cycle is logged."""
        interval = self.lifeguard.settings.bot.scan_interval
        while not stop.is_set():
            try:
                self.last = await self.cycle()
                if self.last.ran:
                    log.info("alert cycle: %s", self.last.describe())
            except Exception:  # the loop must outlive any one failure; it is logged in full
                log.exception("alert cycle failed; retrying at the next interval")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                continue

    async def cycle(self) -> CycleSummary:
        """One cycle, unless another replica holds the loop's lock."""
        store, settings = self.lifeguard.store, self.lifeguard.settings
        if not await store.acquire(LOCK, self.token, ttl=max(settings.bot.scan_interval, 60) * 2):
            return CycleSummary(ran=False)
        try:
            report = await self._scan()
            await store.put(LAST_SCAN, last_scan_summary(report))
            posted, updated, unrouted, failures = await self._alert(report)
            resolved = await self._resolve(report)
            ended = await self._end_leases()
        finally:
            await store.release(LOCK, self.token)
        return CycleSummary(
            True,
            len(report.risks),
            posted,
            updated,
            resolved,
            unrouted,
            ended,
            (*report.problems, *failures),
        )

    async def _scan(self) -> ScanReport:
        lifeguard = self.lifeguard
        settings = lifeguard.settings
        options = ScanOptions(
            now=lifeguard.clock(),
            repository_globs=tuple(settings.scan.repositories),
            horizon=settings.scan.horizon_days * 86_400,
            push_margin=settings.scan.push_margin,
        )
        async with lifeguard.aws() as aws:
            inventory = await collect_inventory(await inventory_sources(settings, aws))
            report = await scan(registries(settings, aws), inventory, options)
            await self._save_manifests(aws, report.repositories)
        return report

    async def _save_manifests(self, aws: AwsClients, results: Sequence[RepositoryResult]) -> None:
        vault, now = self.lifeguard.vault, self.lifeguard.clock()
        for result in results:
            # The scan already read these images: only their manifests are fetched here.
            tags = {i.digest: i.tags for i in result.in_use_images}
            wanted = [d for d in tags if not await vault.has(result.key, d)]
            if not wanted:
                continue
            registry = self.lifeguard.registry_for(aws, result.key)
            for manifest in await registry.manifests(result.key, wanted):
                saved = SavedManifest(
                    manifest.text, manifest.media_type, tags[manifest.digest], now
                )
                await vault.save(result.key, manifest.digest, saved)

    async def _alert(self, report: ScanReport) -> tuple[int, int, int, list[str]]:
        posted = updated = unrouted = 0
        failures: list[str] = []
        evaluated = {r.key: r.last_evaluated_at for r in report.repositories}
        for risk in report.risks:
            try:
                done = await self._alert_one(risk, evaluated.get(risk.repository), report)
            except LifeguardError as exc:  # one channel failing must not silence the others
                log.warning("alert for %s@%s not sent: %s", risk.repository, risk.digest, exc)
                failures.append(f"alert for {risk.repository.name}@{risk.digest[:19]}: {exc}")
                continue
            posted += done == "posted"
            updated += done == "updated"
            unrouted += done == "unrouted"
        return posted, updated, unrouted, failures

    async def _alert_one(self, risk: Risk, evaluated: float | None, report: ScanReport) -> str:
        key = image_key(risk.repository, risk.digest)
        record = await self.lifeguard.alerts.get(key)
        if record is not None and record.state == "open":
            changed = await self._refresh(record, risk, evaluated, report)
            return "updated" if changed else "unchanged"
        channel = route(risk, self.lifeguard)
        if channel is None:
            log.warning(
                "no channel for %s@%s: set routing.default_channel", risk.repository, risk.digest
            )
            return "unrouted"
        posted = await self._post(key, channel, risk, record, report.now)
        return "posted" if posted else "unchanged"

    async def _post(
        self, key: str, channel: str, risk: Risk, previous: AlertRecord | None, now: float
    ) -> int:
        alerts = self.lifeguard.alerts
        if previous is not None:  # the same image is at risk again: reopen its thread
            record = replace(previous, state="open", fingerprint=fingerprint(risk), posted_at=now)
            await self.notifier.update_alert(record, risk, now)
            await self.notifier.reply(record.channel, record.ts, "At risk again.")
            await alerts.put(record)
            return 1
        if not await alerts.claim(key, self.token):
            return 0
        try:
            channel, ts = await self.notifier.post_alert(channel, risk, now)
        except Exception:
            await alerts.release_claim(key)
            raise
        record = AlertRecord(
            risk.repository, risk.digest, channel, ts, "open", fingerprint(risk), now
        )
        await alerts.put(record)
        return 1

    async def _refresh(
        self, record: AlertRecord, risk: Risk, evaluated: float | None, report: ScanReport
    ) -> int:
        if record.snoozed:
            if not _evaluated_since(record, evaluated, report.now):
                return 0
            record = replace(record, snoozed_at=None, snoozed_evaluation=None)
            await self.notifier.reply(
                record.channel, record.ts, "ECR evaluated the repository again: the snooze ended."
            )
        elif record.fingerprint == fingerprint(risk):
            return 0
        record = replace(record, fingerprint=fingerprint(risk))
        await self.notifier.update_alert(record, risk, report.now)
        await self.lifeguard.alerts.put(record)
        return 1

    async def _resolve(self, report: ScanReport) -> int:
        current = {image_key(r.repository, r.digest) for r in report.risks}
        scanned = {r.key for r in report.repositories if r.error is None}
        resolved = 0
        for record in await self.lifeguard.alerts.open_alerts():
            if record.key in current or record.repository not in scanned:
                continue
            resolution = await self._why_resolved(record.repository, record.digest)
            await self.notifier.resolve_alert(record, resolution)
            state: AlertState = "deleted" if resolution.reason == "deleted" else "resolved"
            await self.lifeguard.alerts.put(replace(record, state=state))
            resolved += 1
        return resolved

    async def _why_resolved(self, repository: RepositoryKey, digest: str) -> Resolution:
        lifeguard = self.lifeguard
        lease = await lifeguard.leases.get(repository, digest)
        if lease is not None:
            until = human(lease.until)
            return Resolution("protected", f"protected by {lease.owner} until {until}", lease)
        async with lifeguard.aws() as aws:
            registry: EcrRegistry = lifeguard.registry_for(aws, repository)
            found = await registry.repository(repository.name, registry_id=repository.registry)
            image = await registry.image(found, digest) if found else None
        if image is None:
            return Resolution("deleted", "the image was deleted")
        return Resolution(
            "safe", "no longer at risk: the policy changed, or nothing uses the image any more"
        )

    async def _end_leases(self) -> int:
        ended = await ProtectService(self.lifeguard).end_due_leases()
        for result in ended:
            await self._tell_lease_ended(result)
        return len(ended)

    async def _tell_lease_ended(self, result: UnprotectResult) -> None:
        lease = result.lease
        if lease.channel and lease.thread_ts:
            await self.notifier.reply(
                lease.channel,
                lease.thread_ts,
                f"The protection by {lease.owner} ended: {result.note}.",
            )


def _evaluated_since(record: AlertRecord, evaluated: float | None, now: float) -> bool:
    """Whether ECR evaluated the repository since the snooze (24 hours when it does not say)."""
    if record.snoozed_evaluation is not None and evaluated is not None:
        return evaluated > record.snoozed_evaluation
    return now - (record.snoozed_at or now) >= SNOOZE_WITHOUT_EVALUATION


async def snooze(
    lifeguard: Lifeguard, actor: Actor, repository: RepositoryKey, digest: str
) -> AlertRecord:
    """Silence an alert until ECR evaluates the repository's policy again (read-only: anyone).

    Example::

        record = await snooze(lifeguard, Actor("U123", "C1"), repository, digest)
    """
    record = await lifeguard.alerts.get(image_key(repository, digest))
    if record is None:
        raise CommandError("There is no alert for this image any more.")
    async with lifeguard.aws() as aws:
        registry = lifeguard.registry_for(aws, repository)
        found = await registry.repository(repository.name, registry_id=repository.registry)
        info = await registry.lifecycle_policy(found) if found else None
    now = lifeguard.clock()
    evaluation = info.last_evaluated_at if info else None
    snoozed = replace(record, snoozed_at=now, snoozed_evaluation=evaluation)
    await lifeguard.alerts.put(snoozed)
    await lifeguard.record(actor, "snooze", "ok", repository, digest=digest)
    return snoozed


def last_scan_summary(report: ScanReport) -> JsonObject:
    """What the App Home shows of the last scan: when, and each risk in a few words."""
    return {
        "at": report.now,
        "repositories": len(report.repositories),
        "problems": list(report.problems)[:10],
        "risks": [
            {
                "repository": risk.repository.name,
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
