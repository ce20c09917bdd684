"""The ``scan`` report for a terminal: risks first, most severe and soonest at the top."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.cli.render_plan import short_tags
from bot.inventory.models import UseKind
from bot.lifecycle.timefmt import DAY, human
from bot.risk.models import Risk
from bot.watch.scan import ScanReport

_SEVERITY_STYLE = {
    UseKind.RUNNING: "bold red",
    UseKind.LAUNCH: "bold red",
    UseKind.ROLLBACK: "bold yellow",
    UseKind.STATIC: "yellow",
}
MAX_CONSUMERS_SHOWN = 5


def render_scan(console: Console, report: ScanReport, api_calls: int) -> None:
    """Print the risks, then what was scanned, then what could not be read."""
    risks = report.risks
    console.print(Text(_headline(report, risks, api_calls), style="bold"))
    for risk in risks:
        console.print(_risk_panel(risk, report.now))
    if not risks and not report.problems:
        console.print(Text("No in-use image is at risk.", style="green"))
    elif not risks:
        console.print(
            Text(
                "No risk found in what could be read; the parts below were not checked.",
                style="yellow",
            )
        )
    for problem in report.problems:
        console.print(Text(f"could not check: {problem}", style="bold magenta"))


def _headline(report: ScanReport, risks: list[Risk], api_calls: int) -> str:
    repositories = report.repositories
    with_policy = sum(1 for r in repositories if r.policy != "none")
    images = sum(r.images for r in repositories)
    in_use = sum(r.in_use for r in repositories)
    now = sum(1 for r in risks if not r.upcoming)
    later = len(risks) - now
    horizon = report.options.horizon / DAY
    return (
        f"Scan at {human(report.now)}: {_count(len(repositories), 'repository', 'repositories')}"
        f" ({with_policy} with a lifecycle policy), {_count(images, 'image')} under a policy, "
        f"{in_use:,} in use; {_count(api_calls, 'AWS call')} made.\n"
        f"{_count(now, 'in-use image')} at risk now, {later} more within {horizon:g} days or a "
        "few pushes."
    )


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _risk_panel(risk: Risk, now: float) -> Panel:
    image = risk.decision.image
    verb = "archive" if risk.action == "TRANSITION" else "expire"
    title = Text.assemble(
        (risk.severity.label.upper(), _SEVERITY_STYLE[risk.severity]),
        f"  {risk.repository.name}  {image.short_digest}  ",
        (short_tags(image.tags), "bold"),
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
    for use in risk.uses[:MAX_CONSUMERS_SHOWN]:
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
