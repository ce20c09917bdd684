"""The ``lint`` report: findings grouped by severity, each with its fix."""

from __future__ import annotations

import json
from collections import Counter

from rich.console import Console
from rich.text import Text

from bot.lifecycle.lint import Finding, Severity
from bot.lifecycle.policy import LifecyclePolicy

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "cyan"}


def render_lint(console: Console, findings: list[Finding], source: str) -> None:
    """Print every finding: severity, code, rule, what happens, and how to fix it."""
    if not findings:
        console.print(f"{source}: no findings.")
        return
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(
        f"{counts[s]} {s.label}{'s' if counts[s] != 1 else ''}"
        for s in sorted(Severity, reverse=True)
        if counts[s]
    )
    console.print(Text(f"{source}: {len(findings)} findings ({summary})", style="bold"))
    for finding in findings:
        console.print()
        where = f"rule {finding.rule_priority}" if finding.rule_priority is not None else "policy"
        console.print(
            Text.assemble(
                (f"{finding.severity.label} {finding.code}", _STYLE[finding.severity]),
                f"  {where}: ",
                (finding.title, "bold"),
            )
        )
        console.print(Text(finding.detail), style="default")
        console.print(Text.assemble(("Fix: ", "bold"), finding.fix))
        if finding.fixed_policy is not None:
            console.print(
                Text(one_rule_per_line(finding.fixed_policy), style="dim"), soft_wrap=True
            )


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
