"""``ecr-lifeguard scan``: which in-use images the lifecycle policies will expire, and when.

Exit 0 only when everything that could hold an in-use image was read and nothing is at risk; 3
when something is at risk; 1 when something could not be checked (an AWS or Kubernetes failure,
or Kubernetes not configured while a lifecycle policy exists: see :mod:`bot.cli.scan_sources`),
even if risks were found too, since the risks listed are then a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.cli.commands import MAX_POLICY_FILE_BYTES, parse_now, stderr_console, stdout_console
from bot.cli.exits import Exit
from bot.cli.files import parse_file
from bot.cli.render_scan import render_scan
from bot.cli.scan_sources import SourceState, gaps, source_states
from bot.durations import parse_duration
from bot.edge.aws.cloud import open_cloud
from bot.errors import CliInputError, ConfigError
from bot.inventory.sources import collect_inventory
from bot.lifecycle.parse import parse_policy_document
from bot.lifecycle.timefmt import DAY
from bot.refs import is_valid_region
from bot.risk.report import risk_json, summary_json
from bot.settings import CONFIG_ENV, Settings, load_settings
from bot.watch.scan import ScanOptions, ScanReport, scan

_GLOB = re.compile(r"[a-z0-9._/\-*?\[\]!]+")


def add_scan_arguments(scan_parser: argparse.ArgumentParser) -> None:
    """The options of ``scan``."""
    scan_parser.add_argument(
        "--repository",
        action="append",
        metavar="GLOB",
        help="only repositories whose name matches (repeatable; default: all)",
    )
    scan_parser.add_argument(
        "--horizon", metavar="DURATION", help="also report risks within this time (default 7d)"
    )
    scan_parser.add_argument(
        "--push-margin",
        type=int,
        metavar="N",
        help="also report images N or fewer matching pushes away from a count rule (default 2)",
    )
    scan_parser.add_argument(
        "--policy", metavar="FILE", help="evaluate this proposed policy instead of the current ones"
    )
    scan_parser.add_argument(
        "--region", action="append", metavar="REGION", help="AWS region (repeatable)"
    )
    scan_parser.add_argument("--config", metavar="FILE", help=f"settings YAML (or ${CONFIG_ENV})")
    scan_parser.add_argument(
        "--kube-context",
        action="append",
        metavar="CONTEXT",
        help="also inventory this Kubernetes context (repeatable)",
    )
    scan_parser.add_argument(
        "--in-cluster", action="store_true", help="inventory the cluster this runs in"
    )
    scan_parser.add_argument(
        "--no-kubernetes",
        action="store_true",
        help="no Kubernetes cluster runs these images: do not count its absence as a gap",
    )
    scan_parser.add_argument(
        "--references", metavar="FILE", help="static image references (YAML) to count as in use"
    )
    scan_parser.add_argument("--no-ecs", action="store_true", help="do not inventory ECS")
    scan_parser.add_argument("--no-lambda", action="store_true", help="do not inventory Lambda")
    scan_parser.add_argument("--now", metavar="ISO8601", help="evaluate at this instant")
    scan_parser.add_argument("--format", choices=["table", "json"], default="table")


def run_scan(args: argparse.Namespace) -> Exit:
    """Scan, print the risks, and exit 0 (none), 3 (at risk) or 1 (something not checked).

    Example::

        ecr-lifeguard scan --kube-context prod-eks --format json   # a CI gate: 0, 1 or 3
    """
    settings = settings_from(args)
    proposed = (
        parse_file(args.policy, parse_policy_document, max_bytes=MAX_POLICY_FILE_BYTES)
        if args.policy
        else None
    )
    options = ScanOptions.from_settings(
        settings.scan, parse_now(args.now), proposed_policy=proposed
    )
    report, calls = asyncio.run(_scan(settings, options, show_progress=args.format == "table"))
    sources = source_states(settings, report.inventory)
    missing = gaps(sources, any_policy=any(r.policy != "none" for r in report.repositories))
    problems = [*report.problems, *missing]
    if args.format == "json":
        document = scan_document(report, calls, sources=sources, problems=problems)
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        render_scan(stdout_console(), report, sum(calls.values()), sources, problems)
    if problems:
        return Exit.UPSTREAM_FAILURE
    return Exit.FOUND if report.risks else Exit.OK


def settings_overrides_for_regions(args: argparse.Namespace) -> Settings:
    """The settings (``--config`` or ``$LIFEGUARD_CONFIG``) with ``--region`` on top."""
    if args.config:
        if not Path(args.config).is_file():
            raise CliInputError([f"--config: {args.config} is not a readable file"])
        os.environ[CONFIG_ENV] = args.config
    try:
        settings = load_settings()
    except ConfigError as exc:
        lines = str(exc).splitlines()
        if args.config:
            lines = [line.replace(f"{CONFIG_ENV}: ", "--config: ", 1) for line in lines]
        raise CliInputError(lines) from None
    if not args.region:
        return settings
    bad = [r for r in args.region if not is_valid_region(r)]
    if bad:
        raise CliInputError([f'--region: "{bad[0]}" is not an AWS region name'])
    aws = settings.aws.model_copy(update={"regions": args.region})
    return settings.model_copy(update={"aws": aws})


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings, with the command line's options on top; bad values are input errors."""
    settings = settings_overrides_for_regions(args)
    updates: dict[str, Any] = {"scan": settings.scan.model_copy(update=_scan_overrides(args))}
    updates["inventory"] = settings.inventory.model_copy(update=_inventory_overrides(args))
    kubernetes = _kubernetes_overrides(args)
    if kubernetes:
        updates["kubernetes"] = settings.kubernetes.model_copy(update=kubernetes)
    return settings.model_copy(update=updates)


def _kubernetes_overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.no_kubernetes:
        chosen = [
            o
            for o, on in (("--kube-context", args.kube_context), ("--in-cluster", args.in_cluster))
            if on
        ]
        if chosen:
            raise CliInputError([f"--no-kubernetes: cannot be combined with {chosen[0]}"])
        return {"enabled": False}
    if args.kube_context or args.in_cluster:
        return {"enabled": True, "contexts": args.kube_context or [], "in_cluster": args.in_cluster}
    return {}


def _scan_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.repository:
        for glob in args.repository:
            if not _GLOB.fullmatch(glob):
                raise CliInputError(
                    [
                        f'--repository: "{glob}" can match no repository (names use lowercase '
                        "letters, digits, . _ - and /; wildcards * ? [ ])"
                    ]
                )
        overrides["repositories"] = args.repository
    if args.horizon is not None:
        try:
            overrides["horizon_days"] = parse_duration(args.horizon) / DAY
        except ValueError as exc:
            raise CliInputError([f"--horizon: {exc}"]) from None
    if args.push_margin is not None:
        if args.push_margin < 0:
            raise CliInputError(["--push-margin: must be 0 or more"])
        overrides["push_margin"] = args.push_margin
    return overrides


def _inventory_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.no_ecs:
        overrides["ecs"] = False
    if args.no_lambda:
        overrides["lambda_functions"] = False
    if args.references:
        path = Path(args.references)
        if not path.is_file():
            raise CliInputError([f"--references: {path} is not a readable file"])
        overrides["static_references"] = path
    return overrides


async def _scan(
    settings: Settings, options: ScanOptions, *, show_progress: bool
) -> tuple[ScanReport, dict[str, int]]:
    async with open_cloud(settings) as cloud:
        sources = await cloud.inventory_sources()
        with _progress(show_progress) as advance:
            inventory = await collect_inventory(sources)
            report = await scan(cloud.registries(), inventory, options, advance)
        return report, dict(cloud.calls)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("repositories", total=None)

        def advance(name: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=f"scanning {name}")

        yield advance


def scan_document(
    report: ScanReport,
    calls: dict[str, int],
    *,
    sources: list[SourceState],
    problems: list[str],
) -> dict[str, Any]:
    """The JSON document ``scan --format json`` prints (``problems``: the report's and the gaps)."""
    risks = report.risks
    return {
        "scannedAt": report.now,
        "risks": [risk_json(risk, report.now) for risk in risks],
        "summary": summary_json(
            repositories=len(report.repositories),
            with_policy=sum(1 for r in report.repositories if r.policy != "none"),
            images=sum(r.images for r in report.repositories),
            in_use=sum(r.in_use for r in report.repositories),
            risks=risks,
            api_calls=calls,
            inventory=dict(report.inventory.per_source),
            sources=[source.as_json() for source in sources],
            problems=problems,
        ),
    }
