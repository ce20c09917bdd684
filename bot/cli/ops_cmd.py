"""The bot's verbs on the command line, generated from the verb registry, and ``run`` (the bot).

The CLI acts with the caller's own AWS credentials, so IAM decides what it may change; every
change is still serialised and written to the audit log. Leases and the audit log live in Redis
when REDIS_URL is set (shared with the bot), else only for this process. A question the bot
would ask with buttons (apply the guard rule, move a tag) is asked at the prompt, or answered
yes with ``--yes``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from rich.console import Console

from bot.app import Mode, open_store, run
from bot.cli.commands import stdout_console
from bot.cli.scan_cmd import settings_overrides_for_regions
from bot.edge.aws.cloud import open_cloud
from bot.edge.logs import configure_logging
from bot.edge.stores.memory import MemoryStore
from bot.errors import CliInputError, Exit, UsageError
from bot.ops.authorize import Actor
from bot.ops.deps import Dependencies
from bot.ops.dispatch import Ops
from bot.ops.registry import BY_NAME, TYPED, Invocation, parse_command
from bot.ops.verb import Reply
from bot.ops.verbs.retag import Answer
from bot.settings import Settings

# The CLI has its own, richer plan (offline files) and why-missing (--format json).
CLI_VERBS = tuple(verb for verb in TYPED if verb.name not in {"help", "plan", "why-missing"})


def add_ops_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register one sub-command per typed verb of the registry, and ``run``."""
    for verb in CLI_VERBS:
        parser = commands.add_parser(
            verb.name,
            help=verb.summary,
            description=f"{verb.summary}. Usage: ecr-lifeguard {verb.usage}",
        )
        parser.add_argument("words", nargs="*", metavar="ARG")
        if verb.permission is not None:
            parser.add_argument(
                "--yes", action="store_true", help="answer yes to confirmations without asking"
            )
        parser.add_argument("--region", action="append", metavar="REGION")
        parser.add_argument("--config", metavar="FILE", help="settings YAML")
        parser.set_defaults(handler=run_verb, verb=verb.name)
    runner = commands.add_parser(
        "run",
        help="run the Slack bot (Socket Mode; --http for the Events API endpoint)",
        description="Run the Slack bot: alerts, /ecr commands, App Home. Socket Mode needs "
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN; --http needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET. Health: /healthz, /readyz, /metrics.",
    )
    runner.add_argument("--http", action="store_true", help="serve /slack/events over HTTP")
    runner.add_argument("--port", type=int, default=None, help="listening port (default 3000)")
    runner.add_argument("--config", metavar="FILE", help="settings YAML")
    runner.add_argument("--region", action="append", metavar="REGION")
    runner.set_defaults(handler=run_bot)


def run_bot(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard run``."""
    configure_logging()
    settings = settings_overrides_for_regions(args)
    mode: Mode = "http" if args.http else "socket"
    port = args.port or (settings.bot.http_port if args.http else settings.bot.health_port)
    asyncio.run(run(settings, mode, port))
    return Exit.OK


def run_verb(args: argparse.Namespace) -> Exit:
    """One verb, as ``/ecr VERB ARGS`` would run it; its reply printed, its exit status."""
    try:
        invocation = parse_command(" ".join([args.verb, *args.words]))
    except UsageError as exc:
        raise CliInputError([str(exc), f"usage: ecr-lifeguard {exc.usage}"]) from None
    settings = settings_overrides_for_regions(args)
    return asyncio.run(_run(invocation, settings, stdout_console(), getattr(args, "yes", False)))


async def _run(invocation: Invocation, settings: Settings, console: Console, yes: bool) -> Exit:
    store = await open_store(settings) if settings.redis_url else MemoryStore()
    ops = Ops(Dependencies(settings, store, lambda: open_cloud(settings)))
    actor = Actor(f"cli:{getpass.getuser()}", trusted=True)
    try:
        reply = await ops.run(invocation, actor)
        _print(console, reply)
        if reply.pending is not None and await _ask(console, reply.pending.question, yes):
            answer = BY_NAME[reply.pending.confirm_verb]
            reply = await ops.run(Invocation(answer, Answer(reply.pending.token)), actor)
            _print(console, reply)
    finally:
        await store.close()
    if invocation.verb.permission is not None and settings.redis_url is None:
        console.print(
            "note: REDIS_URL is not set, so this change is recorded for this process only; "
            "what it did in ECR stays until changed.",
            style="yellow",
        )
    return reply.exit


def _print(console: Console, reply: Reply) -> None:
    style = None if reply.exit == Exit.OK else "red"
    for line in reply.lines:
        console.print(line, style=style, highlight=False, soft_wrap=True)


async def _ask(console: Console, question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        console.print(f"{question} Not applied: pass --yes to apply without a prompt.")
        return False
    answer = await asyncio.to_thread(console.input, f"{question} [y/N] ")
    return answer.strip().lower() in {"y", "yes"}
