"""Composition root of the running bot: settings → store → services → Slack app → run.

``ecr-lifeguard run`` serves Slack over Socket Mode (no public endpoint; needs SLACK_APP_TOKEN);
``ecr-lifeguard run --http`` serves the Bolt endpoint ``/slack/events`` (signature checked with
SLACK_SIGNING_SECRET). Both serve ``/healthz``, ``/readyz`` and ``/metrics``, and run the alert
loop in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.adapters.redis_store import RedisStore
from bot.adapters.slack import SlackDirectory, SlackNotifier, web_client
from bot.auth import groups_to_check
from bot.blocks.replies import audit_line
from bot.chatops import ChatOps
from bot.errors import ConfigError
from bot.services.alerts import AlertLoop
from bot.services.core import AwsFactory, Lifeguard
from bot.settings import Settings
from bot.state.memory import MemoryStore
from bot.state.store import JsonObject, Store
from handlers.health import Health, add_health_routes
from handlers.slack import SlackListeners

log = logging.getLogger(__name__)
Mode = Literal["socket", "http"]


def check_settings(settings: Settings, mode: Mode) -> None:
    """Stop start-up with one line naming the first missing setting."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) of the Slack app")
    if mode == "socket" and settings.slack_app_token is None:
        raise ConfigError(
            "SLACK_APP_TOKEN is not set: Socket Mode needs the app-level token (xapp-…); "
            "or run with --http and SLACK_SIGNING_SECRET"
        )
    if mode == "http" and settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: --http needs it to verify requests")


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
    store: Store
    lifeguard: Lifeguard
    app: AsyncApp
    chatops: ChatOps
    loop: AlertLoop
    health: Health


def build_runtime(
    settings: Settings,
    store: Store,
    *,
    mode: Mode,
    aws_factory: AwsFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """Wire the services and the Slack app (no network call is made here)."""
    check_settings(settings, mode)
    assert settings.slack_bot_token is not None
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    notifier = SlackNotifier(client, protect_for=settings.protect.default_duration)
    lifeguard = Lifeguard(
        settings, store, aws_factory, clock, audit_sink=_audit_poster(notifier, settings)
    )
    chatops = ChatOps(lifeguard, notifier)
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=mode == "http",
        name="ecr-lifeguard",
    )
    directory = SlackDirectory(client, groups_to_check(settings.permissions))
    SlackListeners(chatops, directory).register(app)
    loop = AlertLoop(lifeguard, notifier)
    return Runtime(settings, store, lifeguard, app, chatops, loop, Health(store, loop))


def _audit_poster(
    notifier: SlackNotifier, settings: Settings
) -> Callable[[JsonObject], Awaitable[None]] | None:
    """Post every audit entry to ``bot.audit_channel`` too, when one is configured."""
    channel = settings.bot.audit_channel
    if channel is None:
        return None

    async def post(entry: JsonObject) -> None:
        await notifier.post(channel, {"text": audit_line(entry)})

    return post


@asynccontextmanager
async def serving(
    runtime: Runtime, mode: Mode, port: int, host: str = "0.0.0.0"
) -> AsyncIterator[web.AppRunner]:
    """Serve Slack (and health) and run the alert loop until the context exits."""
    socket: AsyncSocketModeHandler | None = None
    if mode == "http":
        site_app = runtime.app.web_app(path="/slack/events")
    else:
        site_app = web.Application()
        assert runtime.settings.slack_app_token is not None
        socket = AsyncSocketModeHandler(
            runtime.app, app_token=runtime.settings.slack_app_token.get_secret_value()
        )
        runtime.health.socket = socket
    add_health_routes(site_app, runtime.health)
    runner = web.AppRunner(site_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    alerts = asyncio.create_task(runtime.loop.run_forever(stop))
    try:
        if socket is not None:
            await socket.connect_async()  # type: ignore[no-untyped-call]
        yield runner
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await alerts
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        await runtime.store.close()


async def run(settings: Settings, mode: Mode, port: int) -> None:
    """Run until SIGINT or SIGTERM."""
    check_settings(settings, mode)
    store = await open_store(settings)
    runtime = build_runtime(settings, store, mode=mode)
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, done.set)
    async with serving(runtime, mode, port):
        log.info("ECR Lifeguard is running (%s mode, port %d)", mode, port)
        await done.wait()
    log.info("ECR Lifeguard stopped")
