"""The ``lint`` report: findings grouped by severity, each with its fix.

Text is wrapped by :func:`bot.cli.prose.wrap`: at spaces only, never inside a `code span`, and
without trailing spaces; proposed policies are printed one rule per line, unwrapped, to paste.
"""

from __future__ import annotations

import json
from collections import Counter

from rich.console import Console
from rich.text import Text

from bot.cli.prose import wrap
from bot.lifecycle.lint import Finding, Severity
from bot.lifecycle.policy import LifecyclePolicy

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "cyan"}


def render_lint(console: Console, findings: list[Finding], source: str) -> None:
    """Print every finding: severity, code, the rules concerned, what happens, and the fix."""
    if not findings:
        _print(console, f"{source}: no findings.")
        return
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(
        f"{counts[s]} {s.label}{'s' if counts[s] != 1 else ''}"
        for s in sorted(Severity, reverse=True)
        if counts[s]
    )
    noun = "finding" if len(findings) == 1 else "findings"
    _print(console, f"{source}: {len(findings)} {noun} ({summary})", style="bold")
    for finding in findings:
        console.print()
        label = f"{finding.severity.label} {finding.code}"
        heading = f"{label}  {concerned_rules(finding)}: {finding.title}"
        _print(console, heading, style="bold", lead=(len(label), _STYLE[finding.severity]))
        _print(console, finding.detail)
        _print(console, f"Fix: {finding.fix}", lead=(len("Fix:"), "bold"))
        if finding.fixed_policy is not None:
            console.print(
                Text(one_rule_per_line(finding.fixed_policy), style="dim"), soft_wrap=True
            )


def concerned_rules(finding: Finding) -> str:
    """The rules a finding concerns, as its heading names them.

    Example:
        >>> concerned_rules(Finding("LG006", Severity.INFO, 5, "t", "d", "f", other_rules=(1,)))
        'rules 1 and 5'
        >>> concerned_rules(Finding("LG005", Severity.WARNING, None, "t", "d", "f"))
        'policy'
    """
    priorities = sorted(finding.rule_priorities)
    if not priorities:
        return "policy"
    if len(priorities) == 1:
        return f"rule {priorities[0]}"
    listed = [str(p) for p in priorities]
    return "rules " + ", ".join(listed[:-1]) + " and " + listed[-1]


def _print(
    console: Console, text: str, *, style: str = "", lead: tuple[int, str] | None = None
) -> None:
    """Print wrapped text; ``lead`` styles the first characters (a label) of the first line."""
    for number, line in enumerate(wrap(text, console.width)):
        rendered = Text(line, style=style)
        if lead is not None and number == 0:
            rendered.stylize(lead[1], 0, lead[0])
        console.print(rendered, soft_wrap=True)


def one_rule_per_line(policy: LifecyclePolicy) -> str:
    """Policy JSON with one rule per line: compact, diffable and ready to paste.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> print(one_rule_per_line(parse_policy('''{"rules": [{"rulePriority": 1,
        ...   "action": {"type": "expire"}, "selection": {"tagStatus": "any",
        ...   "countType": "imageCountMoreThan", "countNumber": 3}}]}''')))
        {"rules": [
          {"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 3}, "action": {"type": "expire"}}
        ]}
    """  # noqa: E501
    rules = json.loads(policy.to_json())["rules"]
    lines = ",\n".join("  " + json.dumps(rule, ensure_ascii=False) for rule in rules)
    return '{"rules": [\n' + lines + "\n]}"
