"""Health routes: ``/healthz`` (up), ``/readyz`` (Slack connected, store answers), ``/metrics``."""

from __future__ import annotations

import inspect
from typing import Protocol

from aiohttp import web
from prometheus_client import Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.edge.metrics import PrometheusMeter
from bot.inventory.models import UseKind
from bot.state.store import Store
from bot.watch.schedule import Scheduler


class Connection(Protocol):
    """Something that is connected or not (the Socket Mode client)."""

    def is_connected(self) -> object:
        """True (or an awaitable of True) while connected."""
        ...


class Health:
    """Readiness inputs and the metrics registry.

    Example::

        health = Health(store, scheduler, socket=handler.client)
        add_health_routes(web_app, health)
    """

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        socket: Connection | None = None,
        *,
        meter: PrometheusMeter | None = None,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.socket = socket
        self.meter = meter or PrometheusMeter()
        self.registry = self.meter.registry
        self._drift_seen = 0
        self.at_risk = Gauge(
            "lifeguard_images_at_risk",
            "In-use images at risk at the last cycle",
            registry=self.registry,
        )
        self.alerts_posted = Gauge(
            "lifeguard_alerts_posted_last_cycle",
            "Alerts posted at the last cycle",
            registry=self.registry,
        )
        self.problems = Gauge(
            "lifeguard_scan_problems",
            "Things the last cycle could not read",
            registry=self.registry,
        )
        self.ready = Gauge("lifeguard_ready", "1 when ready", registry=self.registry)

    async def socket_connected(self) -> bool:
        """True in HTTP mode; in Socket Mode, whether the websocket is up."""
        if self.socket is None:
            return True
        answer = self.socket.is_connected()
        return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

    def refresh_metrics(self) -> None:
        """Copy the last cycle's figures into the gauges."""
        last = self.scheduler.last
        if last is not None and last.ran and last.reconciled is not None:
            self.at_risk.set(last.reconciled.risks)
            self.alerts_posted.set(last.reconciled.posted)
            self.problems.set(len(last.problems))
        self.meter.lock_held.labels("scheduler").set(1 if self.scheduler.holding else 0)
        if last is not None and last.ran:
            counts = dict(last.severities)
            for kind in UseKind:
                self.meter.risks.labels(kind.label).set(counts.get(kind.label, 0))
        drift, self._drift_seen = self.scheduler.drift - self._drift_seen, self.scheduler.drift
        if drift > 0:
            self.meter.drift.inc(drift)


def add_health_routes(app: web.Application, health: Health) -> None:
    """Add the three routes to an aiohttp application."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        problems = []
        if not await health.socket_connected():
            problems.append("Slack Socket Mode is not connected")
        if not await health.store.ping():
            problems.append("the state store (REDIS_URL) does not answer")
        health.ready.set(0 if problems else 1)
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems))
        return web.Response(text="ready")

    async def metrics(_: web.Request) -> web.Response:
        health.refresh_metrics()
        return web.Response(
            body=generate_latest(health.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
