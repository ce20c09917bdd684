"""Reconcile: make the alerts in Slack say what a scan found, for everything or one repository.

For each risk in scope: post one alert in its owner's channel (never the same risk twice; only one
replica posts it), update the message in place when the risk changes, and leave a snoozed alert
alone until its snooze ends or the risk gets worse. For each open alert in scope whose risk is
gone: say why in place — protected, the policy no longer touches it, nothing uses it any more,
or deleted (then with a Restore button). Pure: it speaks the Store and Notifier interfaces.

Example::

    reconciler = Reconciler(alerts, leases, notifier, settings.routing, owner="replica-1")
    summary = await reconciler.reconcile(report)                       # every repository
    summary = await reconciler.reconcile(report, scope=repository_key)  # one repository
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from bot.blocks.common import slack_date
from bot.blocks.subject import subject_of
from bot.errors import LifeguardError
from bot.lifecycle.timefmt import DAY
from bot.ports import Notifier
from bot.refs import RepositoryKey
from bot.risk.models import Risk
from bot.settings import RoutingSettings
from bot.state.records import (
    AlertBook,
    AlertRecord,
    AlertState,
    AlertSubject,
    GuardPending,
    Lease,
    LeaseBook,
    image_key,
)
from bot.text import plural, short_digest
from bot.watch.routing import route
from bot.watch.scan import RepositoryResult, ScanReport

log = logging.getLogger(__name__)
ESTIMATE_SLACK = 3_600.0  # seconds an alert's estimated moment may move before it is edited

ResolvedReason = Literal["protected", "policy", "unused", "deleted", "lease_ended"]
Outcome = Literal["posted", "updated", "unchanged", "unrouted"]


@dataclass(frozen=True)
class Resolution:
    """Why an open alert ended, and when that was seen (None: now, by the notifier's clock)."""

    reason: ResolvedReason
    detail: str
    lease: Lease | None = None
    at: float | None = None


def protected_detail(lease: Lease | None, now: float | None = None) -> str:
    """Who protects the image until when, for the alert's thread (a Slack date token).

    Example:
        >>> from bot.refs import RepositoryKey
        >>> lease = Lease(repository=RepositoryKey("1", "r", "app"), digest="sha256:ab",
        ...               owner="<@U1>", reason="", created_at=0.0, until=0.0, keep_tag="keep-ab")
        >>> protected_detail(lease)
        'protected by <@U1> until <!date^0^{date_short_pretty} {time}|1970-01-01 00:00 UTC>'
    """
    if lease is None:
        return "protected"
    return f"protected by {lease.owner} until {slack_date(lease.until, now)}"


def same_subject(shown: AlertSubject | None, now_known: AlertSubject) -> bool:
    """Whether the alert still names the same tags and consumers (the reasoning's wording, which
    may name ages, does not count).

    Example:
        >>> same_subject(AlertSubject(tags=("v1",)), AlertSubject(tags=("v1",), reason="x"))
        True
    """
    return shown is not None and (shown.tags, shown.consumers) == (
        now_known.tags,
        now_known.consumers,
    )


@dataclass
class ReconcileSummary:
    """What one reconciliation did, for logs and metrics."""

    risks: int = 0
    posted: int = 0
    updated: int = 0
    resolved: int = 0
    unrouted: int = 0
    failures: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The reconciliation in one log line.

        Example:
            >>> ReconcileSummary(risks=1, posted=1).describe()
            '1 risk, 1 posted, 0 updated, 0 resolved, 0 without a channel, 0 failures'
        """
        return (
            f"{plural(self.risks, 'risk')}, {self.posted} posted, {self.updated} updated, "
            f"{self.resolved} resolved, {self.unrouted} without a channel, "
            f"{plural(len(self.failures), 'failure')}"
        )


def fingerprint(risk: Risk) -> str:
    """What makes a risk the "same" risk: the action, the rule and the kind of timing.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.risk.models import RiskWhen
        >>> fingerprint(Risk(RepositoryKey("1", "r", "app"),
        ...                  Decision(Image("sha256:" + "a" * 64, (), 0.0), Outcome.EXPIRE),
        ...                  (), "", RiskWhen("now")))
        'EXPIRE:None:now'
    """
    return f"{risk.action}:{risk.rule_priority}:{risk.when.kind}"


def acts_at(risk: Risk, last_evaluated: float | None, now: float) -> float | None:
    """The moment ECR may act on the image: the instant the rule selects it, or for a risk that
    is due now ECR's next run (a day after its last, or within a day when it has not said);
    None when more pushes must come first.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.risk.models import RiskWhen
        >>> risk = Risk(RepositoryKey("1", "r", "app"),
        ...             Decision(Image("sha256:" + "a" * 64, (), 0.0), Outcome.EXPIRE),
        ...             (), "", RiskWhen("now"))
        >>> acts_at(risk, last_evaluated=1000.0, now=2000.0)
        87400.0
    """
    if risk.when.kind == "at":
        return risk.when.at
    if risk.when.kind == "after_pushes":
        return None
    if last_evaluated is not None and last_evaluated + DAY > now:
        return last_evaluated + DAY
    return now + DAY


def same_moment(shown: float | None, now_expected: float | None) -> bool:
    """Whether the moment an alert shows still stands: an estimate (ECR's next run, when ECR has
    not said when it last ran) that moved by less than an hour is not worth editing the message.

    Example:
        >>> same_moment(1000.0, 2800.0), same_moment(1000.0, 8200.0), same_moment(None, None)
        (True, False, True)
    """
    if shown is None or now_expected is None:
        return shown is now_expected
    return abs(shown - now_expected) < ESTIMATE_SLACK


async def resolve_alert(
    alerts: AlertBook, notifier: Notifier, record: AlertRecord, resolution: Resolution
) -> None:
    """Show in place that an alert's risk ended and why, and close it (shared with the verbs).

    Example::

        await resolve_alert(alerts, notifier, record, Resolution("protected", "by <@U1>", lease))
    """
    await notifier.resolve_alert(record, resolution)
    state: AlertState = "deleted" if resolution.reason == "deleted" else "resolved"
    await alerts.put(record.model_copy(update={"state": state}))


async def resolve_protected(
    alerts: AlertBook,
    leases: LeaseBook,
    notifier: Notifier,
    repository: RepositoryKey,
    digest: str,
    *,
    now: float | None = None,
) -> bool:
    """Close the open alert of an image that a lease now shields; True when there was one."""
    record = await alerts.get(image_key(repository, digest))
    if record is None or record.state != "open":
        return False
    lease = await leases.get(repository, digest)
    resolution = Resolution("protected", protected_detail(lease, now), lease, at=now)
    await resolve_alert(alerts, notifier, record.model_copy(update={"guard": None}), resolution)
    return True


async def show_guard_pending(
    alerts: AlertBook,
    notifier: Notifier,
    repository: RepositoryKey,
    digest: str,
    guard: GuardPending,
    *,
    now: float,
) -> bool:
    """Show on the open alert of an image that its keep tag is on but the guard rule waits for
    confirmation, with Apply on the alert; True when there was an open alert.

    Example::

        await show_guard_pending(alerts, notifier, key, digest, guard, now=clock())
    """
    record = await alerts.get(image_key(repository, digest))
    if record is None or record.state != "open":
        return False
    record = record.model_copy(update={"guard": guard})
    await notifier.update_alert(record, None, now)
    await alerts.put(record)
    return True


class Reconciler:
    """Posts, updates and resolves alerts for a scope. See the module docstring."""

    def __init__(
        self,
        alerts: AlertBook,
        leases: LeaseBook,
        notifier: Notifier,
        routing: RoutingSettings,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.alerts = alerts
        self.leases = leases
        self.notifier = notifier
        self.routing = routing
        self.owner = owner
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    async def reconcile(
        self, report: ScanReport, scope: RepositoryKey | None = None
    ) -> ReconcileSummary:
        """Post, update and resolve the alerts of ``scope`` (None: every repository scanned)."""
        results = {r.key: r for r in report.repositories if scope is None or r.key == scope}
        risks = [risk for risk in report.risks if risk.repository in results]
        summary = ReconcileSummary(risks=len(risks))
        for risk in risks:
            try:
                outcome = await self._alert(risk, results[risk.repository], report.now)
            except LifeguardError as exc:  # one channel failing must not silence the others
                log.warning("alert for %s@%s not sent: %s", risk.repository, risk.digest, exc)
                summary.failures.append(
                    f"alert for {risk.repository.name}@{short_digest(risk.digest)}: {exc}"
                )
                continue
            summary.posted += outcome == "posted"
            summary.updated += outcome == "updated"
            summary.unrouted += outcome == "unrouted"
        summary.resolved = await self._resolve_ended(report, results, scope)
        return summary

    async def _alert(self, risk: Risk, result: RepositoryResult, now: float) -> Outcome:
        key = image_key(risk.repository, risk.digest)
        # Reactions of this replica run at once; the claim keeps other replicas off.
        async with self._locks.setdefault(key, asyncio.Lock()):
            return await self._alert_locked(key, risk, result, now)

    async def _alert_locked(
        self, key: str, risk: Risk, result: RepositoryResult, now: float
    ) -> Outcome:
        record = await self.alerts.get(key)
        until = acts_at(risk, result.last_evaluated_at, now)
        if record is not None and record.state == "open":
            return await self._refresh(record, risk, until, now)
        channel = route(risk, self.routing)
        if channel is None:
            log.warning(
                "no channel for %s@%s: set routing.default_channel", risk.repository, risk.digest
            )
            return "unrouted"
        return await self._post(key, channel, risk, record, until=until, now=now)

    async def _post(
        self,
        key: str,
        channel: str,
        risk: Risk,
        previous: AlertRecord | None,
        *,
        until: float | None,
        now: float,
    ) -> Outcome:
        if previous is not None:  # the same image is at risk again: reopen its thread
            record = previous.model_copy(
                update={
                    "state": "open",
                    "fingerprint": fingerprint(risk),
                    "posted_at": now,
                    "acts_at": until,
                    "snoozed_at": None,
                    "snoozed_until": None,
                    "snoozed_by": None,
                    "subject": subject_of(risk),
                    "guard": None,
                }
            )
            await self.notifier.update_alert(record, risk, now)
            await self.notifier.reply(record.channel, record.ts, _again(risk, now))
            await self.alerts.put(record)
            return "posted"
        if not await self.alerts.claim(key, self.owner):
            return "unchanged"
        try:
            channel, ts = await self.notifier.post_alert(channel, risk, now)
        except LifeguardError:  # Slack said no: another try may post it
            await self.alerts.release_claim(key)
            raise
        record = AlertRecord(
            repository=risk.repository,
            digest=risk.digest,
            channel=channel,
            ts=ts,
            state="open",
            fingerprint=fingerprint(risk),
            posted_at=now,
            acts_at=until,
            subject=subject_of(risk),
        )
        # Posted: the record must follow even if this task is being stopped, or the alert
        # would be posted again (the claim keeps others off until then).
        await asyncio.shield(self.alerts.put(record))
        return "posted"

    async def _refresh(
        self, record: AlertRecord, risk: Risk, until: float | None, now: float
    ) -> Outcome:
        subject = subject_of(risk)
        same = record.fingerprint == fingerprint(risk)
        shown = same and same_subject(record.subject, subject)
        if record.guard is not None and await self.leases.get(risk.repository, risk.digest) is None:
            shown = False  # the protection asked for ended before the guard rule was applied
            record = record.model_copy(update={"guard": None})
        if record.snoozed:
            if same and (record.snoozed_until or 0.0) > now:
                return "unchanged"
            why = "it ended" if same else "the risk changed"
            await self.notifier.reply(
                record.channel, record.ts, f"The snooze by {record.snoozed_by} is over: {why}."
            )
            record = record.model_copy(
                update={"snoozed_at": None, "snoozed_until": None, "snoozed_by": None}
            )
        elif shown and same_moment(record.acts_at, until):
            return "unchanged"
        record = record.model_copy(
            update={"fingerprint": fingerprint(risk), "acts_at": until, "subject": subject}
        )
        await self.notifier.update_alert(record, risk, now)
        await self.alerts.put(record)
        return "updated"

    async def _resolve_ended(
        self,
        report: ScanReport,
        results: dict[RepositoryKey, RepositoryResult],
        scope: RepositoryKey | None,
    ) -> int:
        current = {image_key(r.repository, r.digest) for r in report.risks}
        resolved = 0
        for record in await self.alerts.open_alerts(scope):
            result = results.get(record.repository)
            if record.key in current or result is None or result.error is not None:
                continue
            resolution = await self._why_ended(record, result)
            try:
                await resolve_alert(self.alerts, self.notifier, record, resolution)
            except LifeguardError as exc:
                log.warning("resolving the alert of %s failed: %s", record.key, exc)
                continue
            resolved += 1
        return resolved

    async def _why_ended(self, record: AlertRecord, result: RepositoryResult) -> Resolution:
        now = self.clock()
        lease = await self.leases.get(record.repository, record.digest)
        if lease is not None:
            return Resolution("protected", protected_detail(lease, now), lease, at=now)
        if record.digest not in result.digests:
            return Resolution("deleted", "the image was deleted", at=now)
        if any(image.digest == record.digest for image in result.in_use_images):
            detail = "the lifecycle policy no longer expires or archives it"
            return Resolution("policy", detail, at=now)
        return Resolution("unused", "nothing uses it any more", at=now)


def _again(risk: Risk, now: float) -> str:
    """The thread reply when an image is at risk again (a protection ended, a policy changed)."""
    verb = "archives" if risk.action == "TRANSITION" else "expires"
    when = risk.when
    timing = (
        f"from {slack_date(when.at, now)}"
        if when.kind == "at" and when.at is not None
        else "at ECR's next run, within 24 hours"
        if when.kind == "now"
        else when.describe(now)
    )
    return f"At risk again: rule {risk.rule_priority} {verb} it {timing}."
