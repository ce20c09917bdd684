"""The ``scan`` report for a terminal: what could not be checked first (so that an incomplete scan
never reads as a pass), then what was read, then the risks, most severe and soonest at the top."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.cli.prose import wrap
from bot.cli.render_plan import short_tags
from bot.cli.scan_sources import SourceState
from bot.inventory.models import UseKind
from bot.lifecycle.firstpush import Version
from bot.lifecycle.timefmt import DAY, human
from bot.risk.models import Risk
from bot.text import plural
from bot.watch.scan import ScanReport

_SEVERITY_STYLE = {
    UseKind.RUNNING: "bold red",
    UseKind.LAUNCH: "bold red",
    UseKind.ROLLBACK: "bold yellow",
    UseKind.STATIC: "yellow",
}
MAX_CONSUMERS_SHOWN = 5
NOT_A_PASS = "could not check everything, so this scan is not a pass:"


def render_scan(
    console: Console,
    report: ScanReport,
    api_calls: int,
    sources: Sequence[SourceState],
    problems: Sequence[str],
) -> None:
    """Print what could not be checked first, then what was scanned and read, then the risks.

    Lines are wrapped at spaces and carry no trailing spaces; a hint shared by several problems
    (no credentials, say) is printed once.
    """
    width = console.width
    if problems:
        _print(console, [NOT_A_PASS], style="bold magenta")
        _print(console, problem_lines(problems, width))
        console.print()
    _print(console, wrap(_headline(report, api_calls), width), style="bold")
    _print(console, wrap("Inventory: " + "; ".join(s.describe() for s in sources) + ".", width))
    risks = report.risks
    if risks:
        _print(console, wrap(_risk_counts(report, risks), width), style="bold")
    for risk in risks:
        console.print(_risk_panel(risk, report.now))
    verdict, style = _verdict(bool(risks), bool(problems))
    _print(console, wrap(verdict, width), style=style)


def problem_lines(problems: Sequence[str], width: int) -> list[str]:
    """One bullet per problem; a hint that several problems share follows them, once.

    Example:
        >>> hint = "(provide AWS credentials: set AWS_PROFILE)"
        >>> failed = [f"{service} failed: no credentials {hint}" for service in ("ecr", "ecs")]
        >>> problem_lines(failed, 100)  # doctest: +NORMALIZE_WHITESPACE
        ['  • ecr failed: no credentials', '  • ecs failed: no credentials',
         '  to fix: provide AWS credentials: set AWS_PROFILE']
    """
    split = [_split_hint(problem) for problem in problems]
    hints = [hint for _, hint in split if hint]
    shared = list(dict.fromkeys(h for h in hints if hints.count(h) > 1))
    lines: list[str] = []
    for text, hint in split:
        item = text if hint in shared else (f"{text} ({hint})" if hint else text)
        wrapped = wrap(item, width - 4)
        lines += ["  • " + wrapped[0], *("    " + line for line in wrapped[1:])]
    for hint in shared:
        wrapped = wrap(f"to fix: {hint}", width - 2)
        lines += ["  " + line for line in wrapped]
    return lines


def _split_hint(problem: str) -> tuple[str, str]:
    """A problem without its final parenthesised hint, and the hint (empty when there is none)."""
    if not problem.endswith(")"):
        return problem, ""
    depth = 0
    for index in range(len(problem) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(problem[index], 0)
        if depth == 0:
            if index == 0 or problem[index - 1] != " ":
                return problem, ""
            return problem[: index - 1], problem[index + 1 : -1]
    return problem, ""


def _verdict(risks: bool, problems: bool) -> tuple[str, str]:
    if risks and problems:
        return "The risks above are a lower bound: what could not be checked is listed first.", (
            "bold magenta"
        )
    if risks:
        return (
            "Protect the images above (`ecr-lifeguard protect REF`), or change the policy before "
            "ECR acts.",
            "bold",
        )
    if problems:
        return (
            "No risk found in what could be read; what could not be checked is listed first.",
            "yellow",
        )
    return "No in-use image is at risk.", "green"


def _headline(report: ScanReport, api_calls: int) -> str:
    repositories = report.repositories
    with_policy = sum(1 for r in repositories if r.policy != "none")
    images = sum(r.images for r in repositories)
    in_use = sum(r.in_use for r in repositories)
    return (
        f"Scan at {human(report.now)}: "
        f"{plural(len(repositories), 'repository', 'repositories')} read ({with_policy:,} with "
        f"a lifecycle policy), {plural(images, 'image')} under a policy, {in_use:,} in use; "
        f"{plural(api_calls, 'AWS call')} made."
    )


def _risk_counts(report: ScanReport, risks: list[Risk]) -> str:
    now = sum(1 for r in risks if not r.upcoming)
    later = len(risks) - now
    days = report.options.horizon / DAY
    margin = report.options.push_margin
    within = plural(int(days), "day") if days == int(days) else f"{days:g} days"
    pushes = f" or {plural(margin, 'push', 'pushes')}" if margin else ""
    return f"{plural(now, 'in-use image')} at risk now, {later:,} more within {within}{pushes}."


def _print(console: Console, lines: list[str], *, style: str = "") -> None:
    for line in lines:
        console.print(Text(line, style=style), soft_wrap=True)


def _risk_panel(risk: Risk, now: float) -> Panel:
    image = risk.decision.image
    verb = "archive" if risk.action == "TRANSITION" else "expire"
    title = Text.assemble(
        (risk.severity.label.upper(), _SEVERITY_STYLE[risk.severity]),
        f"  {risk.repository.name}  {image.short_digest}  ",
        (short_tags(image.tags, [t for t in image.tags if Version.of(t)]), "bold"),
    )
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(ratio=1)
    table.add_row("will", f"{verb} by rule {risk.rule_priority}, {risk.when.describe(now)}")
    table.add_row("used by", _consumers(risk))
    table.add_row("why", risk.reason)
    table.add_row("where", str(risk.repository))
    return Panel(Group(table), title=title, title_align="left", expand=True)


def _consumers(risk: Risk) -> str:
    lines = []
    running_first = sorted(risk.uses, key=lambda use: -use.kind)
    for use in running_first[:MAX_CONSUMERS_SHOWN]:
        line = f"{use.consumer.where}: {use.kind.label}"
        if use.use.detail:
            line += f" ({use.use.detail})"
        if use.note:
            line += f"; {use.note}"
        lines.append(line)
    hidden = len(risk.uses) - MAX_CONSUMERS_SHOWN
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    return "\n".join(lines)
