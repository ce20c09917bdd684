"""``ecr-lifeguard plan --repository NAME --compare-with-aws``: AWS's own lifecycle preview of a
repository beside the local evaluation of the same policy over the same images (read-only).

Exit 0 when they agree, 3 when they differ, 1 when AWS could not be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.cli.commands import stdout_console
from bot.cli.scan_cmd import settings_overrides_for_regions
from bot.edge.aws.cloud import open_cloud
from bot.errors import CliInputError, CommandError, Exit
from bot.lifecycle.compare import Comparison, compare
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.inputs import attach_children
from bot.lifecycle.parse import parse_policy
from bot.refs import ImageRef, is_valid_repository_name
from bot.settings import Settings
from bot.text import plural


def run_compare(args: argparse.Namespace) -> Exit:
    """Compare AWS's preview with the local evaluation; print the differences."""
    if not (args.repository and args.compare_with_aws):
        raise CliInputError(["--repository and --compare-with-aws go together"])
    if not is_valid_repository_name(args.repository):
        raise CliInputError([f'--repository: "{args.repository}" is not a repository name'])
    settings = settings_overrides_for_regions(args)
    comparison = asyncio.run(_compare(settings, args.repository))
    if args.format == "json":
        sys.stdout.write(json.dumps(comparison_document(args.repository, comparison), indent=2))
        sys.stdout.write("\n")
    else:
        _print(args.repository, comparison)
    return Exit.OK if comparison.agrees else Exit.FOUND


async def _compare(settings: Settings, name: str) -> Comparison:
    async with open_cloud(settings) as cloud:
        registry = await cloud.registry_for_ref(ImageRef(name))
        repository = await registry.repository(name)
        if repository is None:
            raise CommandError(f"Repository {name} does not exist in {registry.label}.")
        preview = await cloud.previews_for(registry).preview(repository.key)
        if preview is None:
            raise CommandError(f"{name} has no lifecycle policy: there is nothing to compare.")
        images = await registry.images(repository)
        if any(image.is_index for image in images):
            images = attach_children(images, await registry.index_children(repository, images))
    local = evaluate(parse_policy(preview.policy_text), images, preview.started_at)
    return compare(preview.results, local, aws_as_of=preview.started_at)


def _print(name: str, comparison: Comparison) -> None:
    console = stdout_console()
    compared = plural(comparison.compared, "image")
    if comparison.agrees:
        console.print(f"AWS's lifecycle preview of {name} agrees on all {compared}.")
    else:
        count = plural(len(comparison.differences), "image")
        console.print(
            f"AWS's lifecycle preview of {name} differs on {count} of {compared}:",
            style="bold red",
        )
        for difference in comparison.differences:
            console.print(f"  {difference.describe()}", highlight=False, soft_wrap=True)
    for digest in comparison.only_local:
        console.print(f"  pushed after the preview started (not compared): {digest}")
    for image in comparison.only_aws:
        console.print(f"  in AWS's preview but not listed now: {image.digest}")


def comparison_document(name: str, comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON: whether they agree, the counts, each difference."""
    return {
        "repositoryName": name,
        "agrees": comparison.agrees,
        "compared": comparison.compared,
        "differences": [
            {
                "imageDigest": d.digest,
                "imageTags": list(d.tags),
                "aws": str(d.aws),
                "local": str(d.local),
            }
            for d in comparison.differences
        ],
        "onlyLocal": list(comparison.only_local),
        "onlyAws": [image.digest for image in comparison.only_aws],
    }
