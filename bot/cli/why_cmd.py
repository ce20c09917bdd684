"""``ecr-lifeguard why-missing REF``: why an image cannot be pulled, and what to do about it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from rich.console import Console
from rich.text import Text

from bot.cli.commands import parse_now, stdout_console
from bot.cli.exits import Exit
from bot.cli.prose import wrap
from bot.cli.scan_cmd import settings_overrides_for_regions
from bot.diagnose.investigate import Investigation, investigate
from bot.diagnose.verdict import Diagnosis, Verdict, conclude
from bot.edge.aws.cloud import open_cloud
from bot.errors import CliInputError
from bot.lifecycle.problems import InputError
from bot.lifecycle.timefmt import human
from bot.refs import ImageRef, parse_image_ref
from bot.settings import Settings

_VERDICT_STYLE = {
    Verdict.PRESENT: "bold green",
    Verdict.ARCHIVED: "bold yellow",
    Verdict.RESTORING: "bold yellow",
    Verdict.UNKNOWN: "bold magenta",
}


def add_why_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``why-missing``."""
    parser.add_argument(
        "reference",
        metavar="REF",
        help="repo:tag, repo@sha256:..., or a full image URI (account and region taken from it)",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--region", action="append", metavar="REGION", help="AWS region(s)")
    parser.add_argument("--config", metavar="FILE", help="settings YAML")
    parser.add_argument(
        "--no-cloudtrail", action="store_true", help="do not read CloudTrail (faster, less sure)"
    )
    parser.add_argument("--now", metavar="ISO8601", help="investigate as of this instant")


def run_why_missing(args: argparse.Namespace) -> Exit:
    """Investigate and print the verdict; exit as :func:`exit_for` says."""
    try:
        ref = parse_image_ref(args.reference)
    except InputError as exc:
        raise CliInputError([f"REF: {exc}"]) from None
    settings = settings_overrides_for_regions(args)
    diagnosis = asyncio.run(_diagnose(ref, settings, parse_now(args.now), not args.no_cloudtrail))
    if args.format == "json":
        sys.stdout.write(json.dumps(diagnosis.as_json(), indent=2) + "\n")
    else:
        render_diagnosis(stdout_console(), diagnosis)
    return exit_for(diagnosis)


def exit_for(diagnosis: Diagnosis) -> Exit:
    """0 for every verdict, except UNKNOWN because a source failed: 1, as for any upstream failure.

    (An AWS failure before any verdict, such as no credentials, also exits 1; bad input exits 2.)

    Example:
        >>> from bot.refs import RepositoryKey, parse_image_ref
        >>> ref, key = parse_image_ref("app:v1"), RepositoryKey("1", "eu-west-1", "app")
        >>> int(exit_for(Diagnosis(ref, key, Verdict.UNKNOWN, "?", failure="LookupEvents: 500")))
        1
        >>> int(exit_for(Diagnosis(ref, key, Verdict.NEVER_PUSHED, "never pushed")))
        0
    """
    if diagnosis.inconclusive_because_of_a_failure:
        return Exit.UPSTREAM_FAILURE
    return Exit.OK


async def _diagnose(ref: ImageRef, settings: Settings, now: float, use_trail: bool) -> Diagnosis:
    async with open_cloud(with_region_of(ref, settings)) as cloud:
        home = await cloud.registry_for_ref(ImageRef(ref.repository, region=ref.region))
        where = Investigation(
            registry=home,
            others=[r for r in cloud.registries() if r.label != home.label],
            trail=cloud.trail_for(home) if use_trail else None,
        )
        return conclude(await investigate(ref, where, now))


def with_region_of(ref: ImageRef, settings: Settings) -> Settings:
    """The CLI looks where a reference points: its region is added to the configured ones."""
    regions = settings.aws.default_regions()
    if ref.region is None or ref.region in regions:
        return settings
    aws = settings.aws.model_copy(update={"regions": [*regions, ref.region]})
    return settings.model_copy(update={"aws": aws})


def render_diagnosis(console: Console, diagnosis: Diagnosis) -> None:
    """The verdict, the summary, the evidence (oldest first) and numbered suggestions.

    Wrapped at spaces only, never inside a `code span`, and without trailing spaces.
    """
    style = _VERDICT_STYLE.get(diagnosis.verdict, "bold red")
    console.print(Text.assemble((diagnosis.verdict.value, style), f"  {diagnosis.ref}"))
    _print(console, wrap(diagnosis.summary, console.width))
    if diagnosis.digest:
        _print(console, [f"digest: {diagnosis.digest}"])
    if diagnosis.evidence:
        console.print(Text("\nEvidence", style="bold"))
        evidence = sorted(diagnosis.evidence, key=lambda e: (e.at is None, e.at or 0.0))
        lines = [(f"{human(e.at)} — " if e.at else "") + e.text for e in evidence]
        _print(console, listing(lines, console.width))
    if diagnosis.suggestions:
        console.print(Text("\nWhat to do", style="bold"))
        _print(console, listing(list(diagnosis.suggestions), console.width, numbered=True))


def listing(items: list[str], width: int, *, numbered: bool = False) -> list[str]:
    """Bulleted or numbered lines whose wrapped continuation stays indented.

    Example:
        >>> listing(["restore it with `ecr-lifeguard restore app@sha256:abc`"], 30, numbered=True)
        ['  1. restore it with', '     `ecr-lifeguard restore app@sha256:abc`']
    """
    lines: list[str] = []
    for number, item in enumerate(items, 1):
        marker = f"  {number}. " if numbered else "  • "
        wrapped = wrap(item, max(width - len(marker), 20))
        lines.append(marker + wrapped[0])
        lines += [" " * len(marker) + line for line in wrapped[1:]]
    return lines


def _print(console: Console, lines: list[str]) -> None:
    for line in lines:
        console.print(Text(line), soft_wrap=True)
