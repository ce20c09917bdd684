"""The ``plan`` table: what each rule does, image by image, readable in a 100-column terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.lifecycle.decisions import Decision, Evaluation, Outcome
from bot.lifecycle.explain import Explainer, describe_criterion, describe_selection, rule_name
from bot.lifecycle.firstpush import Version, matching_tags
from bot.lifecycle.policy import Rule
from bot.lifecycle.timefmt import human

_OUTCOME_STYLE = {
    Outcome.EXPIRE: ("EXPIRE", "bold red"),
    Outcome.TRANSITION: ("ARCHIVE", "bold yellow"),
    Outcome.BLOCKED: ("BLOCKED", "bold magenta"),
    Outcome.KEEP: ("keep", "green"),
}


def short_tags(tags: Sequence[str], first: Sequence[str] = (), limit: int = 3) -> str:
    """Tags for a table cell: the ``first`` ones (newest version first), then others, then +N.

    Example:
        >>> short_tags(["git-1", "tag-1-252-0", "tag-1-253-0", "git-2"], ["tag-1-252-0", "tag-1-253-0"])
        'tag-1-253-0, tag-1-252-0, git-1 +1'
        >>> short_tags([])
        '(untagged)'
    """  # noqa: E501
    if not tags:
        return "(untagged)"
    preferred = sorted(first, key=_newest_first)
    ordered = preferred + [t for t in tags if t not in preferred]
    shown = ", ".join(ordered[:limit])
    return f"{shown} +{len(ordered) - limit}" if len(ordered) > limit else shown


def _newest_first(tag: str) -> tuple[int, tuple[int, ...], str]:
    version = Version.of(tag)
    return (0, tuple(-n for n in version.numbers), tag) if version else (1, (), tag)


def render_plan(
    console: Console, evaluation: Evaluation, *, heading: str, show_kept: bool = False
) -> None:
    """Print the plan: one section per rule with the images it acts on, then a summary.

    With ``show_kept`` every kept image is listed under its governing rule too; otherwise kept
    images appear only when they are next to go (headroom 0, or old enough within 7 days).
    """
    explainer = Explainer(evaluation)
    console.print(Text(heading, style="bold"))
    by_rule: dict[int, list[Decision]] = {}
    unselected: list[Decision] = []
    for decision in evaluation.decisions:
        if decision.rule is None:
            unselected.append(decision)
        else:
            by_rule.setdefault(id(decision.rule), []).append(decision)
    for summary in evaluation.rules:
        decisions = by_rule.get(id(summary.rule), [])
        shown = [d for d in decisions if show_kept or _worth_showing(d, evaluation.now)]
        console.print(_rule_section(summary.rule, decisions, shown, explainer))
    if unselected:
        console.print(
            Text(
                f"{len(unselected)} image(s) match no rule and are kept.",
                style="dim",
            )
        )
    console.print(_summary_line(evaluation))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _worth_showing(decision: Decision, now: float) -> bool:
    if decision.outcome is not Outcome.KEEP:
        return True
    if decision.headroom == 0:
        return True
    eligible = decision.eligible_at
    return eligible is not None and eligible - now <= 7 * 86_400


def _rule_section(
    rule: Rule, decisions: list[Decision], shown: list[Decision], explainer: Explainer
) -> Panel:
    acted = sum(d.acted for d in decisions)
    kept = sum(d.outcome is Outcome.KEEP for d in decisions)
    blocked = sum(d.outcome is Outcome.BLOCKED for d in decisions)
    verb = "archives" if rule.action.type == "transition" else "expires"
    counts = f"{verb} {acted}, keeps {kept}" + (f", blocked {blocked}" if blocked else "")
    title = Text.assemble((_capital(rule_name(rule)), "bold"), f"  ({counts})")
    what = Text(
        f"Selects {describe_selection(rule.selection)}; {describe_criterion(rule)}.", style="dim"
    )
    if not shown:
        body: Group | Text = Group(
            what, Text("Nothing to show: no image is near this rule.", style="dim")
        )
    else:
        body = Group(what, _decision_table(rule, shown, explainer))
    return Panel(body, title=title, title_align="left", expand=True)


def _decision_table(rule: Rule, decisions: list[Decision], explainer: Explainer) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("", width=7, no_wrap=True)
    table.add_column("digest", width=12, no_wrap=True)
    table.add_column("tags", ratio=2, overflow="fold")
    table.add_column("pushed", width=10, no_wrap=True)
    table.add_column("why", ratio=5)
    for decision in sorted(decisions, key=_display_order):
        label, style = _OUTCOME_STYLE[decision.outcome]
        first = matching_tags(rule.selection, decision.image.tags)
        reason, note = explainer.brief(decision)
        why = Text(reason)
        if note:
            why.append("\nFirst-push trap: ", style="bold yellow")
            why.append(note[:1].lower() + note[1:])
        table.add_row(
            Text(label, style=style),
            decision.image.short_digest,
            short_tags(decision.image.tags, first),
            human(decision.image.pushed_at)[:10],
            why,
        )
    return table


def _display_order(decision: Decision) -> tuple[int, float]:
    rank = {Outcome.EXPIRE: 0, Outcome.TRANSITION: 0, Outcome.BLOCKED: 1, Outcome.KEEP: 2}
    return rank[decision.outcome], decision.image.effective_pushed_at


def _summary_line(evaluation: Evaluation) -> Text:
    counts = Counter(decision.outcome for decision in evaluation.decisions)
    parts = [
        (f"{counts[Outcome.EXPIRE]} expire", "bold red" if counts[Outcome.EXPIRE] else ""),
        (
            f"{counts[Outcome.TRANSITION]} archive",
            "bold yellow" if counts[Outcome.TRANSITION] else "",
        ),
        (f"{counts[Outcome.BLOCKED]} blocked", "magenta" if counts[Outcome.BLOCKED] else ""),
        (f"{counts[Outcome.KEEP]} kept", "green"),
    ]
    text = Text(f"Summary at {human(evaluation.now)}: ")
    for index, (part, style) in enumerate(parts):
        text.append(part, style=style)
        text.append(", " if index < len(parts) - 1 else ".")
    return text
