"""The bot's verbs on the command line: protect, unprotect, protections, retag, restore, audit,
at-risk, and ``run`` (the Slack bot itself).

The CLI acts with the caller's own AWS credentials, so IAM decides what it may change; every
change is still written to the audit log. Leases and the audit log live in Redis when REDIS_URL
is set (shared with the bot), else only for this process.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from typing import Any

from rich.console import Console

from bot.app import Mode, open_store, run
from bot.auth import Actor
from bot.cli.commands import stdout_console
from bot.cli.exits import Exit
from bot.cli.files import CliInputError
from bot.cli.scan_cmd import settings_overrides_for_regions
from bot.commands import (
    Audit,
    Command,
    Protect,
    Protections,
    Restore,
    Retag,
    Unprotect,
    UsageError,
    parse_command,
)
from bot.lifecycle.timefmt import human
from bot.services import queries
from bot.services.core import CommandError, Denied, Lifeguard
from bot.services.protect import ProtectService
from bot.services.restore import RestoreService
from bot.services.results import PolicyChange, ProtectResult, RetagResult
from bot.services.retag import RetagService
from bot.state.memory import MemoryStore

VERBS = ("protect", "unprotect", "protections", "retag", "restore", "audit")


def add_ops_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the bot verbs and ``run``."""
    helps = {
        "protect": "keep an image: keep tag + guard rule, with an expiry (REF [for 7d] [reason])",
        "unprotect": "end a protection now (REF)",
        "protections": "list active protections ([repository])",
        "retag": "add a tag to an image without pulling or pushing (REF NEW-TAG)",
        "restore": "bring back an archived or deleted image (REF)",
        "audit": "recent changes and refusals ([repository])",
    }
    for verb in VERBS:
        parser = commands.add_parser(verb, help=helps[verb], description=helps[verb])
        parser.add_argument("words", nargs="*", metavar="ARG")
        parser.add_argument("--yes", action="store_true", help="apply confirmations without asking")
        parser.add_argument("--region", action="append", metavar="REGION")
        parser.add_argument("--config", metavar="FILE", help="settings YAML")
        parser.set_defaults(handler=run_verb, verb=verb)
    runner = commands.add_parser(
        "run",
        help="run the Slack bot (Socket Mode; --http for the Events API endpoint)",
        description="Run the Slack bot: alerts, /ecr commands, App Home. Socket Mode needs "
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN; --http needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET. Health: /healthz, /readyz, /metrics on the same port.",
    )
    runner.add_argument("--http", action="store_true", help="serve /slack/events over HTTP")
    runner.add_argument("--port", type=int, default=None, help="listening port (default 3000)")
    runner.add_argument("--config", metavar="FILE", help="settings YAML")
    runner.add_argument("--region", action="append", metavar="REGION")
    runner.set_defaults(handler=run_bot)


def run_bot(args: argparse.Namespace) -> Exit:
    """``ecr-lifeguard run``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("slack_sdk", "slack_bolt", "aiobotocore", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = settings_overrides_for_regions(args)
    mode: Mode = "http" if args.http else "socket"
    port = args.port or (settings.bot.http_port if args.http else settings.bot.health_port)
    asyncio.run(run(settings, mode, port))
    return Exit.OK


def run_verb(args: argparse.Namespace) -> Exit:
    """One bot verb, as ``/ecr VERB ARGS`` would run it."""
    try:
        command = parse_command(" ".join([args.verb, *args.words]))
    except UsageError as exc:
        raise CliInputError([f"{exc}", f"usage: ecr-lifeguard {exc.usage}"]) from None
    settings = settings_overrides_for_regions(args)
    console = stdout_console()
    return asyncio.run(_run(command, settings, console, args.yes))


async def _run(command: Command, settings: Any, console: Console, yes: bool) -> Exit:
    store = await open_store(settings) if settings.redis_url else MemoryStore()
    lifeguard = Lifeguard(settings, store)
    actor = Actor(f"cli:{getpass.getuser()}", trusted=True)
    try:
        await _dispatch(command, lifeguard, actor, console, yes)
    except Denied as exc:
        raise CliInputError([str(exc)]) from None
    except CommandError as exc:
        console.print(f"ecr-lifeguard: {exc}", style="red", highlight=False)
        return Exit.INVALID_INPUT
    finally:
        await store.close()
    if isinstance(command, Protect) and settings.redis_url is None:
        console.print(
            "note: REDIS_URL is not set, so this lease is not recorded for the bot; the keep tag "
            "and guard rule are in ECR and stay until removed.",
            style="yellow",
        )
    return Exit.OK


async def _dispatch(
    command: Command, lifeguard: Lifeguard, actor: Actor, console: Console, yes: bool
) -> None:
    match command:
        case Protect(ref, duration, reason):
            service = ProtectService(lifeguard)
            result = await service.protect(actor, ref, duration, reason)
            _print_protect(console, result)
            change = result.change
            if change is not None and change.token and await _confirm(console, change, yes):
                _, shielding = await service.apply_guard(actor, change.token)
                verdict = "Shielded" if shielding.shielded else "NOT shielded"
                console.print(f"{verdict}: {shielding.explanation}", highlight=False)
        case Unprotect(ref):
            ended = await ProtectService(lifeguard).unprotect(actor, ref)
            console.print(f"Protection ended: {ended.note}.")
        case Retag(ref, tag):
            await _retag(RetagService(lifeguard), actor, ref, tag, console, yes=yes)
        case Restore(ref):
            restored = await RestoreService(lifeguard).restore(actor, ref)
            status = restored.status.replace("_", " ")
            console.print(f"{status}: {restored.repository.name}@{restored.digest}")
        case Protections(repository):
            for lease in await queries.protections(lifeguard, repository):
                console.print(
                    f"{lease.repository.name}@{lease.digest[:19]}… by {lease.owner} until "
                    f"{human(lease.until)}: {lease.reason}",
                    highlight=False,
                )
        case Audit(repository):
            for entry in await queries.audit_entries(lifeguard, repository):
                where = entry.get("repository") or ""
                detail = entry.get("detail") or ""
                console.print(
                    f"{human(float(entry['at']))} {entry['actor']} {entry['action']} {where} "
                    f"{entry['result']} {detail}",
                    highlight=False,
                )


def _print_protect(console: Console, result: ProtectResult) -> None:
    lease = result.lease
    console.print(
        f"Protected {lease.repository.name}@{lease.digest} until {human(lease.until)} "
        f"(keep tag {lease.keep_tag}{' added' if result.keep_tag_added else ''}).",
        highlight=False,
    )
    if result.shielding is not None and (result.change is None or not result.change.token):
        console.print(result.shielding.explanation, highlight=False)


async def _confirm(console: Console, change: PolicyChange, yes: bool) -> bool:
    console.print(
        f"The lifecycle policy of {change.repository.name} has no guard rule for keep tags. "
        "The new policy would be:",
        highlight=False,
    )
    console.print(change.after, highlight=False, soft_wrap=True)
    return await _ask(console, "Apply it?", yes)


async def _retag(
    service: RetagService, actor: Actor, ref: Any, tag: str, console: Console, *, yes: bool
) -> None:
    result: RetagResult = await service.retag(actor, ref, tag)
    if result.status == "needs_confirmation" and result.token and result.moved_from:
        question = (
            f"{tag} is on {result.moved_from.digest[:19]}… now. Move it to "
            f"{result.image.digest[:19]}…?"
        )
        if not await _ask(console, question, yes):
            return
        result = await service.confirm(actor, result.token)
    console.print(f"{result.status}: {tag} → {result.image.digest}", highlight=False)


async def _ask(console: Console, question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        console.print(f"{question} Not applied: pass --yes to apply without a prompt.")
        return False
    answer = await asyncio.to_thread(console.input, f"{question} [y/N] ")
    return answer.strip().lower() in {"y", "yes"}
