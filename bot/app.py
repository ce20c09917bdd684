"""The composition root: settings → store → cloud → verbs and scheduler → Slack app → run.

``ecr-lifeguard run`` serves Slack over Socket Mode (no public endpoint; needs SLACK_APP_TOKEN);
``ecr-lifeguard run --http`` serves the Bolt endpoint ``/slack/events`` (signature checked with
SLACK_SIGNING_SECRET). Both serve ``/healthz``, ``/readyz`` and ``/metrics`` and run the scheduled
work in the background. SIGTERM or SIGINT stops the process within 10 seconds at any stage, also
while Slack, Redis or AWS do not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.cloud import AwsCloud, SharedCloud, open_cloud
from bot.edge.aws.sqs import SqsQueue, queue_region
from bot.edge.metrics import PrometheusMeter
from bot.edge.slack.client import web_client
from bot.edge.slack.directory import SlackDirectory
from bot.edge.slack.notifier import SlackNotifier
from bot.edge.slack.startup import check_tokens
from bot.edge.stores.memory import MemoryStore
from bot.edge.stores.redis_store import RedisStore
from bot.errors import ConfigError, CredentialsError, LifeguardError, StartupError
from bot.ops.audit_feed import AuditFeed
from bot.ops.authorize import groups_to_check
from bot.ops.deps import CloudFactory, Dependencies
from bot.ops.dispatch import Ops
from bot.settings import Settings
from bot.state.store import Store
from bot.watch.consume import Consumer, Handled
from bot.watch.inventory_view import InventoryView
from bot.watch.react import Reactor
from bot.watch.schedule import Scheduler
from handlers.delivery import Delivery
from handlers.health import Health, add_health_routes
from handlers.requests import refuse_malformed
from handlers.slack import SlackListeners

log = logging.getLogger(__name__)
Mode = Literal["socket", "http"]
T = TypeVar("T")
# After a stop signal: the shutdown steps get STEP_SECONDS each, the main task is cancelled at
# CANCEL_AFTER, and the process ends at HARD_STOP whatever is still hanging (a pod gets 30 s).
STEP_SECONDS = 1.5
CANCEL_AFTER = 7.0
HARD_STOP = 9.5
EVENTS_PATH = "/slack/events"


def check_settings(settings: Settings, mode: Mode) -> None:
    """Stop start-up with one line naming the first missing setting (no network call)."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) of the Slack app")
    if mode == "socket" and settings.slack_app_token is None:
        raise ConfigError(
            "SLACK_APP_TOKEN is not set: Socket Mode needs the app-level token (xapp-…); "
            "or run with --http and SLACK_SIGNING_SECRET"
        )
    if mode == "http" and settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: --http needs it to verify requests")


def check_region(settings: Settings) -> None:
    """Stop start-up with one line when no AWS region is configured."""
    try:
        targets(settings.aws)
    except CredentialsError as exc:
        raise StartupError(f"{exc.message}: {exc.hint}") from None


async def open_store(settings: Settings) -> Store:
    """Redis when REDIS_URL is set, else the in-process store (with a warning)."""
    if settings.redis_url is None:
        log.warning(
            "REDIS_URL is not set: state is kept in this process only, not shared with other "
            "replicas nor kept across restarts. Run a single replica."
        )
        return MemoryStore()
    return await RedisStore.connect(settings.redis_url.get_secret_value())


@dataclass
class Runtime:
    """Everything the running bot holds."""

    settings: Settings
    deps: Dependencies
    app: AsyncApp
    ops: Ops
    scheduler: Scheduler
    notifier: SlackNotifier
    feed: AuditFeed | None
    meter: PrometheusMeter
    consumed: list[Handled] = field(default_factory=list)


def build_runtime(
    settings: Settings,
    store: Store,
    *,
    mode: Mode,
    cloud: CloudFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """Wire the verbs, the scheduler and the Slack app (no network call is made here).

    Example::

        runtime = build_runtime(settings, MemoryStore(), mode="http")
        async with serving(runtime, "http", port=3000):
            ...
    """
    check_settings(settings, mode)
    assert settings.slack_bot_token is not None
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    notifier = SlackNotifier.from_settings(client, settings, clock)
    directory = SlackDirectory(client, groups_to_check(settings.permissions))
    deps = Dependencies(
        settings,
        store,
        cloud or (lambda: open_cloud(settings)),
        clock,
        groups=directory.groups,
        notifier=notifier,
    )
    ops = Ops(deps)
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=mode == "http",
        name="ecr-lifeguard",
    )
    SlackListeners(ops, Delivery(notifier)).register(app)
    audit_channel = settings.bot.audit_channel
    feed = AuditFeed(deps, notifier, audit_channel) if audit_channel else None
    meter = PrometheusMeter()
    scheduler = Scheduler(deps, notifier, meter=meter)
    return Runtime(settings, deps, app, ops, scheduler, notifier, feed, meter)


@asynccontextmanager
async def serving(
    runtime: Runtime, mode: Mode, port: int, host: str = "0.0.0.0"
) -> AsyncIterator[web.AppRunner]:
    """Serve Slack (and health) and run the scheduled work until the context exits."""
    socket: AsyncSocketModeHandler | None = None
    if mode == "http":
        site_app = runtime.app.web_app(path=EVENTS_PATH)
        site_app.middlewares.append(refuse_malformed(EVENTS_PATH))
    else:
        site_app = web.Application()
        assert runtime.settings.slack_app_token is not None
        socket = AsyncSocketModeHandler(
            runtime.app, app_token=runtime.settings.slack_app_token.get_secret_value()
        )
    health = Health(
        runtime.deps.store,
        runtime.scheduler,
        socket.client if socket else None,
        meter=runtime.meter,
    )
    add_health_routes(site_app, health)
    runner = web.AppRunner(site_app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    workers: list[asyncio.Task[None]] = []
    try:
        await web.TCPSite(runner, host, port).start()
        workers.append(asyncio.create_task(runtime.scheduler.run_forever(stop)))
        if runtime.feed is not None:
            workers.append(asyncio.create_task(runtime.feed.run_forever(stop)))
        if runtime.settings.events.queue_url:
            workers.append(asyncio.create_task(consume_events(runtime, stop)))
        if socket is not None:
            await socket.connect_async()  # type: ignore[no-untyped-call]
        yield runner
    finally:
        stop.set()
        await _stop(workers, socket, runtime, runner)


async def consume_events(runtime: Runtime, stop: asyncio.Event) -> None:
    """Consume ``events.queue_url`` until ``stop`` (its own AWS clients, kept for the run)."""
    settings, deps = runtime.settings, runtime.deps
    url = settings.events.queue_url
    assert url is not None
    async with AwsClients(settings.aws) as clients:
        cloud = AwsCloud(settings, clients)
        target = cloud.target_for_region(queue_region(url))
        queue = SqsQueue(clients, target, url)
        try:
            account = await cloud.account_id(target)
        except LifeguardError as exc:
            log.warning("the account of %s is not known (%s)", target.label, exc)
            account = None
        scheduler = runtime.scheduler
        shared = SharedCloud(settings)
        reactor = Reactor(
            deps,
            runtime.notifier,
            scheduler.reconciler,
            InventoryView(deps.store, max_age=settings.events.inventory_max_age),
            on_policy_change=scheduler.previews.book.due_now,
            cloud=shared,
        )
        consumer = Consumer(
            deps,
            queue,
            reactor,
            settings.events,
            default_account=account,
            meter=runtime.meter,
            on_handled=runtime.consumed.append,
        )
        log.info("consuming events from %s", url)
        try:
            await consumer.run(stop)
        finally:
            await shared.close()


async def _stop(
    workers: list[asyncio.Task[None]],
    socket: AsyncSocketModeHandler | None,
    runtime: Runtime,
    runner: web.AppRunner,
) -> None:
    """Stop the background work and close every connection, each step time-boxed."""
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (
            "finishing the work in progress",
            lambda: asyncio.gather(*workers, return_exceptions=True),
        ),
        ("closing the commands", runtime.ops.close),
    ]
    if socket is not None:
        steps.append(("closing the Socket Mode connection", socket.close_async))
    steps += [("closing the HTTP server", runner.cleanup),
              ("closing the state store", runtime.deps.store.close)]  # fmt: skip
    for what, step in steps:
        try:
            async with asyncio.timeout(STEP_SECONDS):
                await step()
        except TimeoutError:  # a hung step must not block the exit
            log.warning("stopping: %s took over %.0f s; going on without it", what, STEP_SECONDS)
        except Exception as exc:
            log.warning("stopping: %s failed (%s); going on", what, str(exc) or type(exc).__name__)
    for worker in workers:
        worker.cancel()


async def run(settings: Settings, mode: Mode, port: int) -> None:
    """Run until SIGINT or SIGTERM; stop within 10 seconds at any stage.

    Raises :class:`ConfigError` (one line) for a missing setting or a token Slack refuses.
    """
    check_settings(settings, mode)
    check_region(settings)
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal() -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("stopping (signal received)")
            loop.call_later(CANCEL_AFTER, main.cancel)
            watchdog = threading.Timer(HARD_STOP, _hard_stop)
            watchdog.daemon = True
            watchdog.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await _serve_until(stopping, settings, mode, port)
    log.info("ECR Lifeguard stopped")


async def _serve_until(stopping: asyncio.Event, settings: Settings, mode: Mode, port: int) -> None:
    assert settings.slack_bot_token is not None
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    app_token = None
    if mode == "socket" and settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
    await _until(stopping, check_tokens(client, app_token))
    store = await _until(stopping, open_store(settings))
    runtime = build_runtime(settings, store, mode=mode)
    async with serving(runtime, mode, port):
        log.info("ECR Lifeguard is running (%s mode, port %d)", mode, port)
        await stopping.wait()


def _hard_stop() -> None:
    log.error("still stopping after %.1f s: exiting now", HARD_STOP)
    logging.shutdown()
    os._exit(0)


async def _until(stopping: asyncio.Event, work: Awaitable[T]) -> T:
    """``work``, unless a stop signal comes first (then CancelledError)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stopping.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task not in done:
        task.cancel()
        raise asyncio.CancelledError
    return task.result()
