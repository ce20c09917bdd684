"""``lint``: each finding whose fix is a policy change carries that policy, valid and agreeing with
the words; findings name every rule they concern.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle.guard import DEFAULT_KEEP_PREFIX, has_guard, with_guard
from bot.lifecycle.lint import Finding, lint
from bot.lifecycle.parse import policy_from_data
from bot.lifecycle.policy import LifecyclePolicy

BLOG_POLICY = Path(__file__).resolve().parents[2] / "examples" / "blog" / "policy.json"


def rule(priority: int, status: str, count_type: str, number: int, **extra: Any) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": status, "countType": count_type}
    selection["countNumber"] = number
    if count_type != "imageCountMoreThan":
        selection["countUnit"] = "days"
    selection |= extra.pop("selection", {})
    action = extra.pop("action", {"type": "expire"})
    return {"rulePriority": priority, "selection": selection, "action": action, **extra}


def policy(*rules: dict[str, Any]) -> LifecyclePolicy:
    return policy_from_data({"rules": list(rules)})


def findings(pol: LifecyclePolicy, code: str) -> list[Finding]:
    return [f for f in lint(pol) if f.code == code]


def blog() -> LifecyclePolicy:
    return policy_from_data(json.loads(BLOG_POLICY.read_text()))


# One policy per finding whose fix is a policy change; each must carry a corrected policy.
FIXABLE = {
    "LG001": policy(
        rule(1, "tagged", "imageCountMoreThan", 5, selection={"tagPrefixList": ["prod", "stg"]})
    ),
    "LG002": blog(),
    "LG003": policy(
        rule(1, "tagged", "imageCountMoreThan", 5, selection={"tagPrefixList": ["v"]}),
        rule(2, "tagged", "sinceImagePushed", 30, selection={"tagPrefixList": ["v1"]}),
    ),
    "LG004": policy(rule(1, "untagged", "sinceImagePushed", 7)),
    "LG005": policy(rule(1, "any", "sinceImagePushed", 30)),
    "LG006": blog(),
    "LG007": policy(
        rule(1, "tagged", "imageCountMoreThan", 5, selection={"tagPrefixList": ["v*"]})
    ),
    "LG008": policy(
        rule(1, "tagged", "imageCountMoreThan", 5, selection={"tagPatternList": ["prod"]})
    ),
}


@pytest.mark.parametrize("code", sorted(FIXABLE))
def test_a_fix_that_changes_the_policy_carries_a_valid_corrected_policy(code: str) -> None:
    [finding, *_] = findings(FIXABLE[code], code)
    assert finding.fixed_policy is not None, finding.fix
    assert "fixed policy below" in finding.fix.lower()
    # What PutLifecyclePolicy would accept, as JSON text.
    policy_from_data(json.loads(finding.fixed_policy.to_json()))


@pytest.mark.parametrize("code", ["LG001", "LG003", "LG004", "LG006", "LG007", "LG008"])
def test_the_corrected_policy_no_longer_has_the_finding(code: str) -> None:
    [finding, *_] = findings(FIXABLE[code], code)
    assert finding.fixed_policy is not None
    assert not findings(finding.fixed_policy, code)


def test_lg002_proposes_the_guard_rule_that_protect_relies_on() -> None:
    [finding] = findings(blog(), "LG002")
    assert finding.fixed_policy is not None
    assert has_guard(finding.fixed_policy, DEFAULT_KEEP_PREFIX)
    assert "`ecr-lifeguard protect`" in finding.fix
    guarded = with_guard(blog(), DEFAULT_KEEP_PREFIX)
    [again] = findings(guarded, "LG002")
    assert again.fixed_policy is None
    assert "already has" in again.fix


def test_the_guard_rule_is_not_advice_material() -> None:
    guarded = with_guard(blog(), DEFAULT_KEEP_PREFIX)
    [could_archive] = findings(guarded, "LG006")
    assert could_archive.rule_priorities == (2, 5)  # the guard (rule 1) is not among them
    assert could_archive.fixed_policy is not None
    assert has_guard(could_archive.fixed_policy, DEFAULT_KEEP_PREFIX)


def test_lg006_names_every_rule_it_concerns() -> None:
    [finding] = findings(blog(), "LG006")
    assert finding.rule_priorities == (1, 5)
    assert 'Rule 1 ("Keep last 5 production images") and rule 5' in finding.detail


def test_lg006_words_agree_with_the_policy_it_proposes() -> None:
    [finding] = findings(blog(), "LG006")
    assert finding.fixed_policy is not None
    [archive_rule] = [
        r for r in finding.fixed_policy.rules if r.selection.effective_storage_class == "archive"
    ]
    days = archive_rule.selection.count_number
    assert f"after {days} days in archive" in finding.fix
    assert "at least 90 days" in finding.fix  # the archive minimum, stated as such


def test_lg006_with_an_archive_rule_already_there_says_so_and_adds_none() -> None:
    pol = policy(
        rule(1, "any", "sinceImagePushed", 30),
        rule(
            2,
            "any",
            "sinceImageTransitioned",
            365,
            selection={"storageClass": "archive"},
        ),
    )
    [finding] = findings(pol, "LG006")
    assert finding.fixed_policy is not None
    assert len(finding.fixed_policy.rules) == 2
    assert "Rule 2 already deletes images from archive." in finding.fix
    assert "180" not in finding.fix


def test_a_corrected_policy_ecr_would_refuse_is_not_proposed() -> None:
    """Splitting a rule's list in a 50-rule policy would exceed ECR's 50 rules."""
    rules = [
        rule(n, "tagged", "imageCountMoreThan", 5, selection={"tagPrefixList": [f"p{n}"]})
        for n in range(1, 50)
    ]
    rules.append(
        rule(50, "tagged", "imageCountMoreThan", 5, selection={"tagPrefixList": ["a", "b"]})
    )
    [finding] = findings(policy(*rules), "LG001")
    assert finding.fixed_policy is None
    assert "fixed policy" not in finding.fix


def test_findings_without_a_policy_fix_do_not_promise_one() -> None:
    pol = policy(
        rule(
            1,
            "any",
            "sinceImagePulled",
            90,
            action={"type": "transition", "targetStorageClass": "archive"},
        ),
    )
    for finding in lint(pol):
        if finding.fixed_policy is None:
            assert "below" not in finding.fix, finding
