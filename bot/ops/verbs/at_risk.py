"""``at-risk [repo-glob]``: a fresh scan of in-use images the lifecycle policies will remove."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks import replies
from bot.errors import Exit
from bot.inventory.sources import collect_inventory
from bot.ops import args as words
from bot.ops.call import Call
from bot.ops.verb import Reply, Verb
from bot.text import short_digest
from bot.watch.scan import ScanOptions, ScanReport, scan

# The scan's own calls and the inventory's (ECS, Lambda); Kubernetes is RBAC, not IAM.
SCAN_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "ecs:ListServiceDeployments",
    "ecs:DescribeServiceRevisions",
    "lambda:ListFunctions",
    "lambda:GetFunction",
)


@dataclass(frozen=True, slots=True)
class AtRisk:
    """``at-risk [repository-glob]``."""

    glob: str = "*"


def parse(args: Sequence[str]) -> AtRisk:
    """Read ``at-risk [glob]``.

    Example:
        >>> parse([]).glob, parse(["shop/*"]).glob
        ('*', 'shop/*')
    """
    words.count(args, 0, 1, "at-risk")
    return AtRisk(words.glob(args[0]) if args else "*")


async def run(call: Call, args: AtRisk) -> ScanReport:
    """Scan the repositories matching the glob against the inventory."""
    deps = call.deps
    options = ScanOptions.from_settings(deps.settings.scan, deps.clock(), globs=(args.glob,))
    async with call.cloud() as cloud:
        inventory = await collect_inventory(await cloud.inventory_sources())
        return await scan(cloud.registries(), inventory, options)


def present(report: ScanReport) -> Reply:
    """The risks, most urgent first; exit 3 when there are any, 1 when something was unread."""
    lines = [
        f"{r.repository.name}@{short_digest(r.digest)} {' '.join(r.decision.image.tags)}: "
        f"{r.severity.label}; rule {r.rule_priority}: {r.when.describe(report.now)}"
        for r in report.risks
    ]
    lines += [f"could not check: {problem}" for problem in report.problems]
    status = Exit.FOUND if report.risks else Exit.OK
    if report.problems and not report.risks:
        status = Exit.UPSTREAM_FAILURE
    return Reply(
        replies.at_risk_reply(report), lines or ["No in-use image is at risk."], exit=status
    )


VERB = Verb(
    name="at-risk",
    usage="at-risk [repository-glob]",
    summary="in-use images the lifecycle policies will remove",
    parse=parse,
    run=run,
    present=present,
    iam_actions=SCAN_ACTIONS,
)
