"""The ``plan`` table: what each rule does, image by image, readable in a 100-column terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.cli.prose import wrap
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


MAX_ROWS = 10  # per rule and kind of row (acted on, blocked, kept), unless --all


def render_plan(
    console: Console, evaluation: Evaluation, *, heading: str, show_kept: bool = False
) -> None:
    """Print the plan: one section per rule with the images it acts on, then a summary.

    With ``show_kept`` every image is listed under its governing rule. Otherwise each rule lists
    up to :data:`MAX_ROWS` images it acts on (first-push traps first, then the newest, nearest
    the rule's limit), blocked ones, and kept images that are next to go (headroom 0, or old
    enough within 7 days), and says how many more there are: a plan of 100,000 images stays
    readable, and as fast as its input. Only the rows shown are explained.
    """
    explainer = Explainer(evaluation)
    _print_prose(console, heading, style="bold")
    by_rule: dict[int, list[Decision]] = {}
    unselected = 0
    for decision in evaluation.decisions:
        if decision.rule is None:
            unselected += 1
        else:
            by_rule.setdefault(id(decision.rule), []).append(decision)
    left_out = False
    for summary in evaluation.rules:
        decisions = by_rule.get(id(summary.rule), [])
        rows = _Rows.of(decisions, explainer, evaluation.now, everything=show_kept)
        console.print(_rule_section(summary.rule, decisions, rows, explainer))
        left_out = left_out or bool(rows.hidden)
    if left_out:
        _print_prose(
            console, "--all lists every image in the table; --format json explains each one."
        )
    if unselected:
        matches = (
            "image matches no rule and is" if unselected == 1 else "images match no rule and are"
        )
        _print_prose(console, f"{unselected:,} {matches} kept.", style="dim")
    console.print(_summary_line(evaluation), soft_wrap=True)


def _print_prose(console: Console, text: str, *, style: str = "") -> None:
    for line in wrap(text, console.width):
        console.print(Text(line, style=style), soft_wrap=True)


@dataclass(frozen=True)
class _Rows:
    """The decisions a rule section lists, the first-push traps among them, and what is left out."""

    shown: list[Decision]
    traps: dict[int, str]  # id(decision) -> the first-push note
    hidden: list[tuple[str, list[Decision]]]  # ("expire", decisions not listed) ...

    @classmethod
    def of(
        cls, decisions: list[Decision], explainer: Explainer, now: float, *, everything: bool
    ) -> _Rows:
        traps = _traps(decisions, explainer)
        if everything:
            return cls(sorted(decisions, key=_display_order), traps, [])
        acted = [d for d in decisions if d.acted]
        blocked = [d for d in decisions if d.outcome is Outcome.BLOCKED]
        kept = [d for d in decisions if d.outcome is Outcome.KEEP and _next_to_go(d, now)]
        # Traps first, then the newest acted on: the ones nearest the rule's limit.
        acted.sort(key=lambda d: (id(d) not in traps, -d.image.effective_pushed_at))
        kept.sort(key=lambda d: d.image.effective_pushed_at)  # oldest first: they go first
        shown, hidden = [], []
        for verb, group in (("acted", acted), ("blocked", blocked), ("kept", kept)):
            shown += group[:MAX_ROWS]
            if len(group) > MAX_ROWS:
                hidden.append((verb, group[MAX_ROWS:]))
        return cls(sorted(shown, key=_display_order), traps, hidden)


def _traps(decisions: list[Decision], explainer: Explainer) -> dict[int, str]:
    """The first-push note of every decision of a count rule that has one."""
    notes = {}
    for decision in decisions:
        if decision.rank is not None and (note := explainer.first_push.note(decision)):
            notes[id(decision)] = note
    return notes


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _next_to_go(decision: Decision, now: float) -> bool:
    if decision.headroom == 0:
        return True
    eligible = decision.eligible_at
    return eligible is not None and eligible - now <= 7 * 86_400


def _rule_section(
    rule: Rule, decisions: list[Decision], rows: _Rows, explainer: Explainer
) -> Panel:
    acted = sum(d.acted for d in decisions)
    kept = sum(d.outcome is Outcome.KEEP for d in decisions)
    blocked = sum(d.outcome is Outcome.BLOCKED for d in decisions)
    verb = "archives" if rule.action.type == "transition" else "expires"
    counts = f"{verb} {acted:,}, keeps {kept:,}" + (f", blocked {blocked:,}" if blocked else "")
    if rows.traps:
        counts += f", {len(rows.traps):,} first-push trap" + ("s" if len(rows.traps) > 1 else "")
    title = Text.assemble((_capital(rule_name(rule)), "bold"), f"  ({counts})")
    what = Text(
        f"Selects {describe_selection(rule.selection)}; {describe_criterion(rule)}.", style="dim"
    )
    parts: list[Text | Table] = [what]
    if rows.shown:
        parts.append(_decision_table(rule, rows, explainer))
    else:
        parts.append(Text("Nothing to show: no image is near this rule.", style="dim"))
    parts += [Text(line, style="dim") for line in _hidden_lines(rule, rows.hidden)]
    return Panel(Group(*parts), title=title, title_align="left", expand=True)


def _hidden_lines(rule: Rule, hidden: list[tuple[str, list[Decision]]]) -> list[str]:
    lines = []
    for kind, decisions in hidden:
        oldest = min(d.image.pushed_at for d in decisions)
        newest = max(d.image.pushed_at for d in decisions)
        verb = {
            "acted": "archived" if rule.action.type == "transition" else "expired",
            "blocked": "blocked",
            "kept": "kept, next to go",
        }[kind]
        lines.append(
            f"... and {len(decisions):,} more {verb}, pushed {human(oldest)[:10]} to "
            f"{human(newest)[:10]}"
        )
    return lines


def _decision_table(rule: Rule, rows: _Rows, explainer: Explainer) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("", width=7, no_wrap=True)
    table.add_column("digest", width=12, no_wrap=True)
    table.add_column("tags", ratio=2, overflow="fold")
    table.add_column("pushed", width=10, no_wrap=True)
    table.add_column("why", ratio=5)
    for decision in rows.shown:
        label, style = _OUTCOME_STYLE[decision.outcome]
        first = matching_tags(rule.selection, decision.image.tags)
        reason, note = explainer.brief(decision)
        outcome = Text(label, style=style)
        why = Text(reason)
        if note:
            outcome.append("\nTRAP", style="bold yellow")
            why.append("\nFirst-push trap: ", style="bold yellow")
            why.append(note[:1].lower() + note[1:])
        table.add_row(
            outcome,
            decision.image.short_digest,
            short_tags(decision.image.tags, first),
            human(decision.image.pushed_at)[:10],
            why,
        )
    return table


def _display_order(decision: Decision) -> tuple[int, float]:
    return _OUTCOME_ORDER[decision.outcome], decision.image.effective_pushed_at


_OUTCOME_ORDER = {Outcome.EXPIRE: 0, Outcome.TRANSITION: 0, Outcome.BLOCKED: 1, Outcome.KEEP: 2}


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
