"""``ecr-lifeguard demo [--slack --channel C]``: wire the real bot to the stand-ins, tell the story.

The composition is the bot's own (:mod:`bot.app`): settings, the in-process store, the
dependencies, the scheduler, the verbs, the event consumer and its reactor, a notifier. Only
the edges differ: AWS is the emulator, Kubernetes the static cluster, CloudTrail not caught up
yet, the queue in-process, and Slack the terminal (and Slack itself with ``--slack``).

Example::

    ecr-lifeguard demo
    SLACK_BOT_TOKEN=xoxb-… ecr-lifeguard demo --slack --channel '#lifeguard-demo'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from bot.blocks.alert_payloads import alert_options
from bot.demo.cloud import demo_cloud
from bot.demo.emulator import ACCOUNT, REGION, Emulator, environment, require_emulator
from bot.demo.event_queue import MemoryQueue
from bot.demo.scene import COPY, REPOSITORY, RUNNING_TAG, set_scene
from bot.demo.story import ALICE, START, Clock, Story, World
from bot.demo.terminal import BothNotifier, TerminalNotifier, demo_console
from bot.edge.slack.client import web_client
from bot.edge.slack.notifier import SlackNotifier
from bot.edge.slack.startup import check_tokens
from bot.edge.stores.memory import MemoryStore
from bot.errors import CliInputError, Exit
from bot.lifecycle.timefmt import human
from bot.ops.deps import Dependencies
from bot.ops.dispatch import Ops
from bot.ops.verb import Reply
from bot.settings import Settings, load_settings
from bot.watch.consume import Consumer
from bot.watch.inventory_view import InventoryView
from bot.watch.react import Reactor
from bot.watch.schedule import Scheduler

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

CHANNEL_ENV = "LIFEGUARD_DEMO_CHANNEL"
TERMINAL_CHANNEL = "#shop-oncall"
STOP_SECONDS = 3.0
DESCRIPTION = (
    "Run the real bot against embedded stand-ins, offline and without credentials: an AWS "
    "emulator (moto, on 127.0.0.1) holding the repository of the blog post 'The mysterious case "
    "of the missing ECR image', an ECS service and a Kubernetes Deployment running tag-1-253-0, "
    "the in-process store, and Slack messages drawn in this terminal. In under a minute it shows "
    "the at-risk alert and why, a push event that endangers another in-use image, a protection "
    "the evaluator confirms, and why-missing after a lifecycle run on an unprotected copy. "
    "Needs the demo extra: pip install 'ecr-lifeguard[demo]'."
)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``demo``."""
    parser.add_argument(
        "--slack",
        action="store_true",
        help="also post every message to a real Slack workspace: needs SLACK_BOT_TOKEN (xoxb-…) "
        f"and a channel the bot is in (--channel or {CHANNEL_ENV})",
    )
    parser.add_argument(
        "--channel",
        metavar="CHANNEL",
        help=f"with --slack: the channel id or #name to post to (default: ${CHANNEL_ENV})",
    )


@dataclass(frozen=True)
class SlackTarget:
    """Where ``--slack`` posts."""

    token: str
    channel: str


def slack_target(args: argparse.Namespace, environ: dict[str, str]) -> SlackTarget | None:
    """The Slack workspace and channel for ``--slack`` (None without it); one line when missing.

    Example:
        >>> namespace = argparse.Namespace(slack=True, channel=None)
        >>> slack_target(namespace, {"SLACK_BOT_TOKEN": "xoxb-1"})
        Traceback (most recent call last):
        ...
        bot.errors.CliInputError: --slack needs a channel: pass --channel C0123456789 (or '#name') \
or set LIFEGUARD_DEMO_CHANNEL
    """
    if not args.slack:
        return None
    token = environ.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        raise CliInputError(
            ["--slack needs SLACK_BOT_TOKEN: set it to the bot token (xoxb-…) of your Slack app"]
        )
    channel = (args.channel or environ.get(CHANNEL_ENV, "")).strip()
    if not channel:
        raise CliInputError(
            [
                "--slack needs a channel: pass --channel C0123456789 (or '#name') "
                f"or set {CHANNEL_ENV}"
            ]
        )
    return SlackTarget(token, channel)


def demo_settings(channel: str, state: Path, slack: SlackTarget | None) -> Settings:
    """The bot's settings for the story (one line naming a bad setting, e.g. the token).

    The user's own ``LIFEGUARD_*`` variables and configuration file are left out, and the Slack
    API URL is read only for ``--slack``.
    """
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEGUARD_", "SLACK_"))}
    if slack is not None and "SLACK_API_URL" in os.environ:
        kept["SLACK_API_URL"] = os.environ["SLACK_API_URL"]
    with environment(kept):
        return _settings(channel, state, slack)


def _settings(channel: str, state: Path, slack: SlackTarget | None) -> Settings:
    return load_settings(
        aws={"regions": [REGION], "max_attempts": 2},
        inventory={"ecs": True, "lambda": False},
        kubernetes={"enabled": False},
        routing={"default_channel": channel},
        permissions=[{"repositories": "webshop-*", "users": [ALICE]}],
        bot={"journal_path": str(state / "journal.jsonl")},
        events={"wait_seconds": 1},
        preview={"enabled": False},
        slack_bot_token=slack.token if slack else None,
        slack_app_token=None,
        redis_url=None,
    )


def run_demo(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard demo``: exit 0 when the story was told; Ctrl-C or SIGTERM stop it."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # before the event loop takes over
    require_emulator()
    slack = slack_target(args, dict(os.environ))
    console = demo_console()
    try:
        asyncio.run(_until_signalled(tell(console, slack, started)))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    return Exit.OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _until_signalled(work: Awaitable[None]) -> None:
    """Run ``work``; SIGINT or SIGTERM cancel it (the emulator is stopped on the way out)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    await task


async def tell(console: Console, slack: SlackTarget | None, started: float) -> None:
    """Start the stand-ins, tell the story, stop everything."""
    channel = slack.channel if slack else TERMINAL_CHANNEL
    with tempfile.TemporaryDirectory(prefix="ecr-lifeguard-demo-") as state:
        settings = demo_settings(channel, Path(state), slack)
        if slack is not None:
            await check_tokens(slack_client(settings), None)  # one line if Slack refuses it
        with Emulator.started() as aws:
            introduce(console, aws, slack)
            await set_scene(aws, settings.aws)
            async with running_bot(console, aws, settings, slack) as world:
                await Story(world, console).tell()
    conclude(console, time.monotonic() - started, world.clock())


@asynccontextmanager
async def running_bot(
    console: Console, aws: Emulator, settings: Settings, slack: SlackTarget | None
) -> AsyncIterator[World]:
    """The bot's parts, wired as :mod:`bot.app` wires them, with the event consumer running."""
    clock = Clock()
    terminal = TerminalNotifier(console, alert_options(settings), clock=clock)
    both = _slack_notifier(settings, terminal) if slack else None
    notifier = both or terminal
    store = MemoryStore()
    deps = Dependencies(settings, store, lambda: demo_cloud(settings), clock, notifier=notifier)
    scheduler = Scheduler(deps, notifier)
    ops = Ops(deps)
    queue = MemoryQueue(clock)
    inventory = InventoryView(store, max_age=settings.events.inventory_max_age)
    reactor = Reactor(deps, notifier, scheduler.reconciler, inventory)
    channel = settings.routing.default_channel or TERMINAL_CHANNEL
    world = World(aws, clock, scheduler, ops, queue, channel, _shower(channel, terminal, both))
    consumer = Consumer(
        deps, queue, reactor, settings.events, default_account=ACCOUNT,
        on_handled=world.handled.put_nowait,
    )  # fmt: skip
    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.run(stop))
    try:
        yield world
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(consuming, STOP_SECONDS)
        await ops.close()
        await store.close()


def slack_client(settings: Settings) -> AsyncWebClient:
    """The Slack Web API client of the settings' bot token."""
    assert settings.slack_bot_token is not None
    return web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)


def _slack_notifier(settings: Settings, terminal: TerminalNotifier) -> BothNotifier:
    return BothNotifier(SlackNotifier.from_settings(slack_client(settings), settings), terminal)


def _shower(
    channel: str, terminal: TerminalNotifier, both: BothNotifier | None
) -> Callable[[Reply, str], Awaitable[None]]:
    """How a verb's reply to ``who`` is shown: in the terminal, and posted with ``--slack``."""

    async def show(reply: Reply, who: str) -> None:
        seen_by = "everyone in the channel" if reply.public else f"only {who}"
        ts = await both.slack.post(channel, reply.payload) if both else None
        terminal.show(
            channel, reply.payload, ts=ts, about=f"the reply to {who} (seen by {seen_by})"
        )

    return show


def introduce(console: Console, aws: Emulator, slack: SlackTarget | None) -> None:
    """What runs, and the scene."""
    console.print(Text("ECR Lifeguard demo: the real bot, on stand-ins", style="bold"))
    where = f"Slack channel {slack.channel} and this terminal" if slack else "this terminal"
    for line in (
        f"AWS: an emulator (moto) on {aws.endpoint}, fake credentials; ~/.aws is not read.",
        "Kubernetes: cluster demo-eks, in process. State: in process. Nothing leaves 127.0.0.1"
        + (" but the posts to Slack." if slack else "."),
        f"Slack: {where}.",
        f'The scene, from the blog post "The mysterious case of the missing ECR image": '
        f'{REPOSITORY} holds 17 images and the policy "Keep last 5 production images"; the '
        f"ECS service prod/checkout and the Kubernetes Deployment shop/web run {RUNNING_TAG}. "
        f"{COPY} is the same, unprotected. The clock starts at {human(START)}.",
    ):
        console.print(Text(line, style="dim"))


def conclude(console: Console, elapsed: float, simulated: float) -> None:
    """What to do next, and how long it took."""
    console.print()
    console.print(Text("What next", style="bold"))
    for line in (
        "• Your own account, read-only: `ecr-lifeguard scan` lists the in-use images your "
        "lifecycle policies will delete.",
        '• Into a cluster: see "Install into a cluster" in the README (the Slack app from '
        "slack/manifest.yml, the stack in deploy/aws/, the chart in helm/ecr-lifeguard/).",
        "• In your Slack: SLACK_BOT_TOKEN=xoxb-… ecr-lifeguard demo --slack --channel '#demo'",
    ):
        console.print(Text(line))
    console.print(
        Text(
            f"Done in {elapsed:.1f} s (simulated {human(START)} → {human(simulated)}); "
            "the emulator is stopped.",
            style="dim",
        )
    )
