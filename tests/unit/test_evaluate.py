"""Deterministic tests of the lifecycle evaluator against ``ecr-behaviour.md``.

Section references (§) point at ``/work/shared/reference/ecr-behaviour.md``:
§1.4 evaluation rules and the reference algorithm, §1.5 ``pushedAt`` / ``lastActivatedAt``,
§1.7 the AWS worked examples (with their stated outcomes), §2 the blog case, §3 archive storage.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle.decisions import MANIFEST_LIST_FAILURE, Decision, Evaluation, Outcome
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.inputs import attach_children, parse_batch_get_image, parse_describe_images
from bot.lifecycle.matching import selection_matches
from bot.lifecycle.parse import parse_policy, policy_from_data
from bot.lifecycle.policy import LifecyclePolicy, Selection
from bot.lifecycle.preview import preview_document
from bot.lifecycle.timefmt import DAY, iso, parse_instant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "blog"

# A fixed evaluation instant: 2024-03-01T00:00:00Z.
NOW = 1_709_251_200.0
HOUR = 3600.0


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def digest(label: str) -> str:
    """A valid, stable ``sha256:`` digest for a test label."""
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def ago(days: float) -> float:
    """The instant ``days`` days before NOW."""
    return NOW - days * DAY


def img(label: str, tags: list[str] | tuple[str, ...], days: float, **extra: Any) -> Image:
    """An image called ``label`` first pushed ``days`` days before NOW."""
    return Image(digest(label), tuple(tags), ago(days), **extra)


def rule(
    priority: int,
    tag_status: str,
    count_type: str,
    count_number: int,
    *,
    prefixes: list[str] | None = None,
    patterns: list[str] | None = None,
    storage_class: str | None = None,
    action: str = "expire",
    description: str | None = None,
) -> dict[str, Any]:
    """A rule as the JSON ``PutLifecyclePolicy`` takes."""
    selection: dict[str, Any] = {
        "tagStatus": tag_status,
        "countType": count_type,
        "countNumber": count_number,
    }
    if count_type != "imageCountMoreThan":
        selection["countUnit"] = "days"
    if prefixes is not None:
        selection["tagPrefixList"] = prefixes
    if patterns is not None:
        selection["tagPatternList"] = patterns
    if storage_class is not None:
        selection["storageClass"] = storage_class
    act: dict[str, Any] = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    data: dict[str, Any] = {"rulePriority": priority, "selection": selection, "action": act}
    if description is not None:
        data["description"] = description
    return data


def policy(*rules: dict[str, Any]) -> LifecyclePolicy:
    """A validated policy (the test fails if the policy itself is invalid)."""
    return policy_from_data({"rules": list(rules)})


def labels_with(evaluation: Evaluation, images: dict[str, Image], outcome: Outcome) -> set[str]:
    """The labels of the images with ``outcome``."""
    decisions = evaluation.by_digest()
    return {label for label, image in images.items() if decisions[image.digest].outcome is outcome}


def decision_of(evaluation: Evaluation, image: Image) -> Decision:
    return evaluation.decision(image.digest)


def run(pol: LifecyclePolicy, images: dict[str, Image], now: float = NOW) -> Evaluation:
    return evaluate(pol, list(images.values()), now)


def priority_of(decision: Decision) -> int | None:
    return decision.rule.rule_priority if decision.rule is not None else None


# --------------------------------------------------------------------------------------------
# §1.7 AWS worked examples
# --------------------------------------------------------------------------------------------


def multiple_rules_repo() -> dict[str, Image]:
    return {
        "A": img("A", ["beta-1", "prod-1"], 10),
        "B": img("B", ["beta-2", "prod-2"], 9),
        "C": img("C", ["beta-3"], 8),
    }


def _tag_rule(priority: int, entry: str, kind: str, count_type: str, number: int) -> dict[str, Any]:
    """A tagged rule in the current (pattern ``x*``) or the 2022 (prefix ``x``) wording."""
    if kind == "pattern":
        return rule(priority, "tagged", count_type, number, patterns=[entry + "*"])
    return rule(priority, "tagged", count_type, number, prefixes=[entry])


WORDINGS = pytest.mark.parametrize("kind", ["pattern", "prefix"])


@WORDINGS
def test_multiple_rules_example_a(kind: str) -> None:
    images = multiple_rules_repo()
    pol = policy(
        _tag_rule(1, "prod", kind, "imageCountMoreThan", 1),
        _tag_rule(2, "beta", kind, "imageCountMoreThan", 1),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"A"}
    assert labels_with(result, images, Outcome.KEEP) == {"B", "C"}
    assert priority_of(decision_of(result, images["A"])) == 1
    # B is governed (and kept) by rule 1, although rule 2 would have marked it.
    assert priority_of(decision_of(result, images["B"])) == 1
    assert priority_of(decision_of(result, images["C"])) == 2


@WORDINGS
def test_multiple_rules_example_b(kind: str) -> None:
    images = multiple_rules_repo()
    pol = policy(
        _tag_rule(1, "beta", kind, "imageCountMoreThan", 1),
        _tag_rule(2, "prod", kind, "imageCountMoreThan", 1),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"A", "B"}
    assert labels_with(result, images, Outcome.KEEP) == {"C"}
    # Rule 2 sees no images of its own: every image was already seen by rule 1.
    assert all(priority_of(d) == 1 for d in result.decisions)
    summary = {s.rule.rule_priority: s for s in result.rules}
    assert (summary[2].identified, summary[2].governed, summary[2].acted) == (2, 0, 0)


def multiple_tags_repo_a() -> dict[str, Image]:
    return {
        "A": img("A", ["alpha-1"], 12),
        "B": img("B", ["beta-1"], 11),
        "C": img("C", ["alpha-2", "beta-2"], 10),
        "D": img("D", ["alpha-3"], 4),
        "E": img("E", ["beta-3"], 3),
        "F": img("F", ["alpha-4", "beta-4"], 2),
    }


def _alpha_beta(kind: str, count_type: str, number: int) -> dict[str, Any]:
    if kind == "pattern":
        return rule(1, "tagged", count_type, number, patterns=["alpha*", "beta*"])
    return rule(1, "tagged", count_type, number, prefixes=["alpha", "beta"])


@WORDINGS
def test_multiple_tags_example_a(kind: str) -> None:
    images = multiple_tags_repo_a()
    result = run(policy(_alpha_beta(kind, "sinceImagePushed", 5)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"C"}
    # The rule "sees images C and F" only.
    assert {label for label, i in images.items() if decision_of(result, i).rule} == {"C", "F"}
    assert result.rules[0].identified == 2


@WORDINGS
def test_multiple_tags_example_b(kind: str) -> None:
    images = {
        "A": img("A", ["alpha-1", "beta-1", "gamma-1"], 10),
        "B": img("B", ["alpha-2", "beta-2"], 9),
        "C": img("C", ["alpha-3", "beta-3", "gamma-2"], 8),
    }
    result = run(policy(_alpha_beta(kind, "imageCountMoreThan", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"A", "B"}
    assert labels_with(result, images, Outcome.KEEP) == {"C"}


def test_all_images_example_a() -> None:
    images = {
        "A": img("A", ["alpha-1"], 4),
        "B": img("B", ["beta-1"], 3),
        "C": img("C", [], 2),
        "D": img("D", ["alpha-2"], 1),
    }
    result = run(policy(rule(1, "any", "imageCountMoreThan", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"A", "B", "C"}
    assert labels_with(result, images, Outcome.KEEP) == {"D"}


def all_images_example_b() -> tuple[LifecyclePolicy, dict[str, Image]]:
    # The guide gives D and E both as "1 day ago" and lists E after D; E is the newer of the
    # two (rule 3 keeps it), and E is not "older than one day" for rule 2. The tie-break of
    # equal push times is UNCONFIRMED (§1.4), so the two pushes are a couple of hours apart.
    images = {
        "A": img("A", ["alpha-1", "beta-1"], 4),
        "B": img("B", [], 3),
        "C": img("C", ["alpha-2"], 2),
        "D": img("D", ["git hash"], 1 + 1 / 24),
        "E": img("E", [], 1 - 1 / 24),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=["alpha*"]),
        rule(2, "untagged", "sinceImagePushed", 1),
        rule(3, "any", "imageCountMoreThan", 1),
    )
    return pol, images


def test_all_images_example_b() -> None:
    pol, images = all_images_example_b()
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"A", "B", "D"}
    assert labels_with(result, images, Outcome.KEEP) == {"C", "E"}
    assert {label: priority_of(decision_of(result, i)) for label, i in images.items()} == {
        "A": 1,
        "B": 2,
        "C": 1,
        "D": 3,
        "E": 2,
    }


def test_all_images_example_b_count_rule_ranks_images_higher_rules_govern() -> None:
    """Rule 3 ranks all five images; E takes its single keep slot, so D expires (§0 item 2)."""
    pol, images = all_images_example_b()
    result = run(pol, images)
    d = decision_of(result, images["D"])
    assert d.outcome is Outcome.EXPIRE
    assert (d.rank, d.identified) == (1, 5)
    summary = {s.rule.rule_priority: (s.identified, s.governed, s.acted) for s in result.rules}
    assert summary == {1: (2, 2, 1), 2: (2, 2, 1), 3: (5, 1, 1)}


def test_filtering_on_image_count_keeps_one_untagged_image() -> None:
    images = {
        "u1": img("u1", [], 30),
        "u2": img("u2", [], 20),
        "u3": img("u3", [], 10),
        "t1": img("t1", ["v1"], 40),
        "t2": img("t2", ["v2"], 5),
    }
    result = run(policy(rule(1, "untagged", "imageCountMoreThan", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"u1", "u2"}
    assert labels_with(result, images, Outcome.KEEP) == {"u3", "t1", "t2"}
    assert decision_of(result, images["t1"]).rule is None


def test_filtering_on_image_age_example() -> None:
    images = {
        "old-prod": img("old-prod", ["prod-1"], 20),
        "new-prod": img("new-prod", ["prod-2"], 10),
        "old-dev": img("old-dev", ["dev-1"], 20),
    }
    pol = policy(rule(1, "tagged", "sinceImagePushed", 14, patterns=["prod*"]))
    assert labels_with(run(pol, images), images, Outcome.EXPIRE) == {"old-prod"}


def test_combining_archive_and_expire_rules_example() -> None:
    images = {
        "fresh": img("fresh", ["v3"], 10),
        "stale": img("stale", ["v2"], 40),
        "long-archived": img(
            "long-archived",
            ["v1"],
            800,
            status=ImageStatus.ARCHIVED,
            last_archived_at=ago(400),
        ),
        "recently-archived": img(
            "recently-archived",
            ["v0"],
            800,
            status=ImageStatus.ARCHIVED,
            last_archived_at=ago(100),
        ),
    }
    pol = policy(
        rule(1, "any", "sinceImagePushed", 30, action="transition"),
        rule(2, "any", "sinceImageTransitioned", 365, storage_class="archive"),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.TRANSITION) == {"stale"}
    assert labels_with(result, images, Outcome.EXPIRE) == {"long-archived"}
    assert labels_with(result, images, Outcome.KEEP) == {"fresh", "recently-archived"}
    assert priority_of(decision_of(result, images["long-archived"])) == 2


# --------------------------------------------------------------------------------------------
# §1.4 shielding: a higher rule's tag selection protects, even when the rule keeps the image
# --------------------------------------------------------------------------------------------


def test_higher_count_rule_that_keeps_an_image_shields_it_from_lower_rules() -> None:
    images = {
        "release": img("release", ["release-1"], 400),
        "build": img("build", ["git-1"], 400),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 10, prefixes=["release"]),
        rule(2, "any", "sinceImagePushed", 1),
    )
    result = run(pol, images)
    kept = decision_of(result, images["release"])
    assert kept.outcome is Outcome.KEEP
    assert priority_of(kept) == 1
    assert labels_with(result, images, Outcome.EXPIRE) == {"build"}


def test_higher_age_rule_that_keeps_an_image_shields_it_from_lower_count_rule() -> None:
    images = {label: img(label, [f"{label}-1"], days) for label, days in (("x", 3), ("y", 2))}
    images["z"] = img("z", ["git-z"], 1)
    pol = policy(
        rule(1, "tagged", "sinceImagePushed", 30, prefixes=["x"]),
        rule(2, "any", "imageCountMoreThan", 1),
    )
    result = run(pol, images)
    # Rule 2 ranks z, y, x: it would expire y and x, but x matches rule 1's tags.
    assert labels_with(result, images, Outcome.EXPIRE) == {"y"}
    assert priority_of(decision_of(result, images["x"])) == 1
    assert decision_of(result, images["x"]).outcome is Outcome.KEEP


def test_shielding_by_higher_rule_expiring_other_images() -> None:
    """A lower rule never acts on an image a higher rule identified, whatever the outcome."""
    images = {f"p{n}": img(f"p{n}", [f"prod-{n}"], 100 - n) for n in range(4)}
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 2, patterns=["prod-*"]),
        rule(2, "tagged", "sinceImagePushed", 1, patterns=["prod-*", "prod-3"]),
        rule(3, "any", "sinceImagePushed", 1),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"p0", "p1"}
    assert all(priority_of(d) == 1 for d in result.decisions)


def test_lower_count_rule_keep_slots_go_to_shielded_images() -> None:
    """The 'keep N' window of a lower count rule includes images higher rules govern."""
    images = {
        "r1": img("r1", ["release-1"], 1),
        "r2": img("r2", ["release-2"], 2),
        "b1": img("b1", ["build-1"], 3),
        "b2": img("b2", ["build-2"], 4),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 10, prefixes=["release"]),
        rule(2, "any", "imageCountMoreThan", 2),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"b1", "b2"}
    assert decision_of(result, images["b1"]).rank == 2


# --------------------------------------------------------------------------------------------
# Tag matching: AND of entries, prefix vs pattern, case
# --------------------------------------------------------------------------------------------


def _identified(selection_json: dict[str, Any], tags: tuple[str, ...]) -> bool:
    """Whether a single-rule policy identifies an image with ``tags`` (via evaluate)."""
    base = {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 100}
    data = {
        "rulePriority": 1,
        "selection": {**base, **selection_json},
        "action": {"type": "expire"},
    }
    pol = policy(data)
    image = Image(digest("probe"), tags, ago(1))
    via_evaluate = evaluate(pol, [image], NOW).decision(image.digest).rule is not None
    via_matcher = selection_matches(Selection.model_validate(data["selection"]), tags)
    assert via_evaluate == via_matcher
    return via_evaluate


@pytest.mark.parametrize(
    ("key", "entries", "tags", "expected"),
    [
        # AND: every entry must match some tag; different tags may satisfy different entries.
        ("tagPrefixList", ["alpha", "beta"], ("alpha-2", "beta-2"), True),
        ("tagPrefixList", ["alpha", "beta"], ("alpha-1",), False),
        ("tagPrefixList", ["alpha", "beta"], ("beta-1", "gamma"), False),
        ("tagPatternList", ["alpha*", "beta*"], ("beta-2", "x", "alpha-2"), True),
        ("tagPatternList", ["alpha*", "beta*"], ("alpha-1", "alpha-2"), False),
        # One tag may satisfy several entries ("for EVERY entry there EXISTS a tag").
        ("tagPatternList", ["alpha*", "*beta"], ("alpha-beta",), True),
        ("tagPrefixList", ["al", "alpha"], ("alpha-1",), True),
        ("tagPrefixList", ["alpha", "beta"], ("alphabeta",), False),
        # Prefix vs pattern.
        ("tagPrefixList", ["prod"], ("production",), True),
        ("tagPrefixList", ["prod"], ("prod",), True),
        ("tagPrefixList", ["prod"], ("my-prod",), False),
        ("tagPatternList", ["prod"], ("prod",), True),
        ("tagPatternList", ["prod"], ("production",), False),
        ("tagPatternList", ["prod"], ("prod-1",), False),
        ("tagPatternList", ["prod"], ("my-prod",), False),
        ("tagPatternList", ["prod*"], ("prod",), True),
        ("tagPatternList", ["prod*"], ("prod1",), True),
        ("tagPatternList", ["prod*"], ("production-team1",), True),
        ("tagPatternList", ["prod*"], ("my-prod",), False),
        ("tagPatternList", ["*prod*"], ("repo-production",), True),
        ("tagPatternList", ["*prod*"], ("prod-team",), True),
        ("tagPatternList", ["*prod*"], ("prod",), True),
        ("tagPatternList", ["*prod*"], ("pro-d",), False),
        # Wildcard in the middle: anchored at both ends.
        ("tagPatternList", ["v*-rc"], ("v1-rc",), True),
        ("tagPatternList", ["v*-rc"], ("v1.2.3-rc",), True),
        ("tagPatternList", ["v*-rc"], ("v-rc",), True),
        ("tagPatternList", ["v*-rc"], ("v1-rc1",), False),
        ("tagPatternList", ["v*-rc"], ("xv1-rc",), False),
        ("tagPatternList", ["a*b*c"], ("abxbc",), True),
        ("tagPatternList", ["*a*a"], ("a",), False),
        ("tagPatternList", ["*a*a"], ("aa",), True),
        # A prefix is literal: "*" and "." are not special in it.
        ("tagPrefixList", ["v1."], ("v1.2",), True),
        ("tagPrefixList", ["v1."], ("v1x2",), False),
        ("tagPatternList", ["v1.*"], ("v1x2",), False),
        # Case-sensitive, as implemented (UNCONFIRMED in §1.4; Docker tags are case-sensitive).
        ("tagPrefixList", ["prod"], ("PROD-1",), False),
        ("tagPatternList", ["Prod*"], ("prod-1",), False),
        ("tagPatternList", ["Prod*"], ("Prod-1",), True),
    ],
)
def test_tag_matching(key: str, entries: list[str], tags: tuple[str, ...], expected: bool) -> None:
    assert _identified({key: entries}, tags) is expected


def test_tagged_rule_never_identifies_untagged_images() -> None:
    images = {"u": img("u", [], 10), "t": img("t", ["prod"], 10)}
    result = run(policy(rule(1, "tagged", "sinceImagePushed", 1, patterns=["*prod*"])), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"t"}
    assert decision_of(result, images["u"]).rule is None


def test_untagged_rule_never_identifies_tagged_images() -> None:
    images = {"u": img("u", [], 10), "t": img("t", ["prod"], 10)}
    result = run(policy(rule(1, "untagged", "sinceImagePushed", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"u"}


def test_and_semantics_protects_nothing_when_no_image_has_all_tags() -> None:
    """The re:Post trap (§1.4): listing several release tags in one keep rule protects none."""
    images = {
        "v1": img("v1", ["release-1"], 400),
        "v2": img("v2", ["release-2"], 300),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 100, patterns=["release-1", "release-2"]),
        rule(2, "any", "sinceImagePushed", 30),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"v1", "v2"}
    assert result.rules[0].identified == 0


# --------------------------------------------------------------------------------------------
# sinceImagePushed: strictly older than N days; lastActivatedAt replaces pushedAt
# --------------------------------------------------------------------------------------------


def test_since_image_pushed_is_strictly_older_than_n_days() -> None:
    images = {
        "exact": img("exact", ["a"], 14),
        "plus-1s": Image(digest("plus-1s"), ("b",), NOW - 14 * DAY - 1),
        "minus-1s": Image(digest("minus-1s"), ("c",), NOW - 14 * DAY + 1),
    }
    result = run(policy(rule(1, "any", "sinceImagePushed", 14)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"plus-1s"}
    exact = decision_of(result, images["exact"])
    assert exact.outcome is Outcome.KEEP
    assert exact.measured_from == images["exact"].pushed_at
    assert exact.eligible_at == NOW
    # One second later, the image that was exactly 14 days old goes.
    later = run(policy(rule(1, "any", "sinceImagePushed", 14)), images, now=NOW + 1)
    assert decision_of(later, images["exact"]).outcome is Outcome.EXPIRE


def test_last_activated_at_replaces_pushed_at_for_age() -> None:
    restored = img("restored", ["a"], 100, last_activated_at=ago(2), last_archived_at=ago(50))
    stale = img("stale", ["b"], 100)
    images = {"restored": restored, "stale": stale}
    result = run(policy(rule(1, "any", "sinceImagePushed", 14)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"stale"}
    d = decision_of(result, restored)
    assert d.measured_from == ago(2)
    assert d.eligible_at == ago(2) + 14 * DAY


def test_last_activated_at_replaces_pushed_at_for_ordering() -> None:
    images = {
        # First pushed long ago but restored yesterday: ranks as the newest image.
        "restored": img(
            "restored", ["v1"], 300, last_activated_at=ago(1), last_archived_at=ago(200)
        ),
        "recent": img("recent", ["v2"], 5),
        "older": img("older", ["v3"], 10),
    }
    result = run(policy(rule(1, "any", "imageCountMoreThan", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"recent", "older"}
    assert decision_of(result, images["restored"]).rank == 0
    assert decision_of(result, images["recent"]).rank == 1
    assert decision_of(result, images["older"]).rank == 2


def test_first_push_time_not_tag_order_decides_ranking() -> None:
    """§1.5: a re-tagged digest keeps its first push time and ranks by it."""
    images = {
        "retagged": img("retagged", ["v1", "v2", "v4"], 10),
        "v3": img("v3", ["v3"], 5),
    }
    result = run(policy(rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["v"])), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"retagged"}


# --------------------------------------------------------------------------------------------
# sinceImagePulled (transition only)
# --------------------------------------------------------------------------------------------


PULLED_90 = rule(1, "any", "sinceImagePulled", 90, action="transition")


@pytest.mark.parametrize(
    ("name", "extra", "outcome", "measured_days"),
    [
        ("pulled long ago", {"last_pulled_at": ago(100)}, Outcome.TRANSITION, 100),
        ("pulled recently", {"last_pulled_at": ago(10)}, Outcome.KEEP, 10),
        ("pulled exactly 90 days ago", {"last_pulled_at": ago(90)}, Outcome.KEEP, 90),
        ("never pulled", {}, Outcome.TRANSITION, 200),
        (
            "restored, not pulled since",
            {
                "last_pulled_at": ago(150),
                "last_activated_at": ago(10),
                "last_archived_at": ago(120),
            },
            Outcome.KEEP,
            10,
        ),
        (
            "restored long ago, never pulled",
            {"last_activated_at": ago(95), "last_archived_at": ago(190)},
            Outcome.TRANSITION,
            95,
        ),
        (
            "restored, pulled since",
            {"last_pulled_at": ago(5), "last_activated_at": ago(95), "last_archived_at": ago(190)},
            Outcome.KEEP,
            5,
        ),
        (
            "restored, pulled since but long ago",
            {
                "last_pulled_at": ago(120),
                "last_activated_at": ago(150),
                "last_archived_at": ago(180),
            },
            Outcome.TRANSITION,
            120,
        ),
    ],
)
def test_since_image_pulled(
    name: str, extra: dict[str, Any], outcome: Outcome, measured_days: float
) -> None:
    image = img(name, ["v1"], 200, **extra)
    result = evaluate(policy(PULLED_90), [image], NOW)
    d = result.decision(image.digest)
    assert d.outcome is outcome
    assert d.measured_from == ago(measured_days)
    assert d.eligible_at == ago(measured_days) + 90 * DAY
    assert priority_of(d) == 1


def test_since_image_pulled_falls_back_to_push_even_for_a_young_image() -> None:
    image = img("young", ["v1"], 20)
    d = evaluate(policy(PULLED_90), [image], NOW).decision(image.digest)
    assert d.outcome is Outcome.KEEP
    assert d.measured_from == image.pushed_at


def test_transition_outcome_in_preview() -> None:
    image = img("cold", ["v1"], 200, last_pulled_at=ago(100))
    doc = preview_document(evaluate(policy(PULLED_90), [image], NOW))
    (entry,) = doc["previewResults"]
    assert entry["action"] == {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"}
    assert entry["storageClass"] == "STANDARD"
    assert doc["summary"]["expiringImageTotalCount"] == 0
    assert doc["summary"]["transitioningImageTotalCounts"] == [
        {"targetStorageClass": "ARCHIVE", "imageTotalCount": 1}
    ]


# --------------------------------------------------------------------------------------------
# Storage classes (§3)
# --------------------------------------------------------------------------------------------


def archived(label: str, tags: list[str], days: float, archived_days: float | None) -> Image:
    return img(
        label,
        tags,
        days,
        status=ImageStatus.ARCHIVED,
        last_archived_at=None if archived_days is None else ago(archived_days),
    )


@pytest.mark.parametrize(
    "standard_rule",
    [
        rule(1, "any", "imageCountMoreThan", 1),
        rule(1, "any", "sinceImagePushed", 1),
        rule(1, "tagged", "sinceImagePushed", 1, patterns=["v*"]),
        rule(1, "untagged", "imageCountMoreThan", 1),
        rule(1, "any", "sinceImagePulled", 1, action="transition"),
        rule(1, "any", "sinceImagePushed", 1, action="transition"),
    ],
)
def test_standard_rules_never_touch_archived_or_activating_images(
    standard_rule: dict[str, Any],
) -> None:
    images = {
        "archived": archived("archived", ["v1"], 500, 400),
        "archived-untagged": archived("archived-untagged", [], 500, 400),
        "activating": img(
            "activating", ["v2"], 500, status=ImageStatus.ACTIVATING, last_archived_at=ago(400)
        ),
        "active-new": img("active-new", ["v3"], 0.5),
        "active-old": img("active-old", ["v4"], 300),
    }
    result = run(policy(standard_rule), images)
    for label in ("archived", "archived-untagged", "activating"):
        d = decision_of(result, images[label])
        assert d.outcome is Outcome.KEEP, label
        assert d.rule is None, label
    # Count rules do not count them either.
    assert result.rules[0].identified <= 2


def test_count_rule_ignores_archived_images_when_ranking() -> None:
    images = {
        "archived-newest": archived("archived-newest", ["v9"], 1, 0.5),
        "active-1": img("active-1", ["v1"], 10),
        "active-2": img("active-2", ["v2"], 20),
    }
    result = run(policy(rule(1, "any", "imageCountMoreThan", 1)), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"active-2"}
    assert decision_of(result, images["active-1"]).rank == 0


def test_since_image_transitioned_expires_archived_images_by_last_archived_at() -> None:
    images = {
        "long": archived("long", ["v1"], 1000, 400),
        "short": archived("short", ["v2"], 1000, 300),
        "exact": archived("exact", ["v3"], 1000, 365),
        "no-date": archived("no-date", ["v4"], 1000, None),
        "active-old": img("active-old", ["v5"], 1000, last_archived_at=ago(900)),
    }
    pol = policy(rule(1, "any", "sinceImageTransitioned", 365, storage_class="archive"))
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"long"}
    assert decision_of(result, images["long"]).measured_from == ago(400)
    assert decision_of(result, images["short"]).eligible_at == ago(300) + 365 * DAY
    no_date = decision_of(result, images["no-date"])
    assert no_date.outcome is Outcome.KEEP
    assert no_date.measured_from is None
    assert no_date.eligible_at is None
    assert priority_of(no_date) == 1
    assert decision_of(result, images["active-old"]).rule is None
    doc = preview_document(result)
    assert [e["storageClass"] for e in doc["previewResults"]] == ["ARCHIVE"]


def test_archive_tagged_rule_selects_only_archived_images() -> None:
    images = {
        "arch": archived("arch", ["prod-1"], 1000, 400),
        "arch-dev": archived("arch-dev", ["dev-1"], 1000, 400),
        "active": img("active", ["prod-2"], 1000),
    }
    pol = policy(
        rule(
            1, "tagged", "sinceImageTransitioned", 90, patterns=["prod*"], storage_class="archive"
        ),
        rule(2, "any", "sinceImagePushed", 30, action="transition"),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"arch"}
    assert labels_with(result, images, Outcome.TRANSITION) == {"active"}
    assert decision_of(result, images["arch-dev"]).rule is None


# --------------------------------------------------------------------------------------------
# Image indexes (§1.4: referenced by a manifest list)
# --------------------------------------------------------------------------------------------


def index_repo() -> tuple[LifecyclePolicy, dict[str, Image]]:
    images = {
        "index": img("index", ["v1"], 30, children=(digest("child-amd64"), digest("child-arm64"))),
        "child-amd64": img("child-amd64", [], 30),
        "child-arm64": img("child-arm64", [], 30),
        "orphan": img("orphan", [], 30),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 5, prefixes=["v"]),
        rule(2, "untagged", "sinceImagePushed", 7),
    )
    return pol, images


def test_children_of_a_kept_index_are_blocked() -> None:
    pol, images = index_repo()
    result = run(pol, images)
    assert decision_of(result, images["index"]).outcome is Outcome.KEEP
    for label in ("child-amd64", "child-arm64"):
        d = decision_of(result, images[label])
        assert d.outcome is Outcome.BLOCKED
        assert not d.acted
        assert d.blocked_by == (images["index"].digest,)
        assert priority_of(d) == 2
    assert labels_with(result, images, Outcome.EXPIRE) == {"orphan"}
    assert {d.image.digest for d in result.blocked()} == {
        images["child-amd64"].digest,
        images["child-arm64"].digest,
    }
    assert {d.image.digest for d in result.acted()} == {images["orphan"].digest}
    summary = {s.rule.rule_priority: (s.identified, s.governed, s.acted) for s in result.rules}
    assert summary == {1: (1, 1, 0), 2: (3, 3, 1)}


def test_blocked_children_appear_as_preview_failures() -> None:
    pol, images = index_repo()
    doc = preview_document(run(pol, images))
    failures = {f["imageDigest"]: f for f in doc["failures"]}
    assert set(failures) == {images["child-amd64"].digest, images["child-arm64"].digest}
    for failure in failures.values():
        assert failure["failureCode"] == MANIFEST_LIST_FAILURE == "ImageReferencedByManifestList"
        assert failure["appliedRulePriority"] == 2
        assert images["index"].digest in failure["failureReason"]
    assert [e["imageDigest"] for e in doc["previewResults"]] == [images["orphan"].digest]
    assert doc["summary"]["expiringImageTotalCount"] == 1


def test_children_of_an_expired_index_are_expired() -> None:
    _, images = index_repo()
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 5, prefixes=["release"]),
        rule(2, "any", "sinceImagePushed", 7),
    )
    result = run(pol, images)
    assert labels_with(result, images, Outcome.EXPIRE) == set(images)
    assert list(result.blocked()) == []


def test_children_attached_from_batch_get_image() -> None:
    _, images = index_repo()
    plain = [
        Image(i.digest, i.tags, i.pushed_at) for i in images.values()
    ]  # children stripped, as describe-images returns them
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"digest": digest("child-amd64"), "size": 1}],
        }
    )
    output = json.dumps(
        {"images": [{"imageId": {"imageDigest": digest("index")}, "imageManifest": manifest}]}
    )
    with_children = attach_children(plain, parse_batch_get_image(output))
    pol, _ = index_repo()
    result = evaluate(pol, with_children, NOW)
    assert result.decision(digest("child-amd64")).outcome is Outcome.BLOCKED
    assert result.decision(digest("child-arm64")).outcome is Outcome.EXPIRE


def test_child_with_one_kept_and_one_expired_parent_is_blocked() -> None:
    child = digest("shared-child")
    images = {
        "keep-index": img("keep-index", ["keep-1"], 30, children=(child,)),
        "old-index": img("old-index", ["old-1"], 30, children=(child,)),
        "shared-child": img("shared-child", [], 30),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 5, prefixes=["keep"]),
        rule(2, "any", "sinceImagePushed", 7),
    )
    result = run(pol, images)
    d = decision_of(result, images["shared-child"])
    assert d.outcome is Outcome.BLOCKED
    assert d.blocked_by == (images["keep-index"].digest,)
    assert decision_of(result, images["old-index"]).outcome is Outcome.EXPIRE


def test_grandchild_of_a_kept_index_is_not_expired() -> None:
    grandchild = digest("grandchild")
    middle = digest("middle")
    images = {
        "top": img("top", ["keep"], 30, children=(middle,)),
        "middle": img("middle", [], 30, children=(grandchild,)),
        "grandchild": img("grandchild", [], 30),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 100, patterns=["keep"]),
        rule(2, "any", "sinceImagePushed", 1),
    )
    result = run(pol, images)
    assert decision_of(result, images["middle"]).outcome is Outcome.BLOCKED
    assert decision_of(result, images["grandchild"]).outcome is not Outcome.EXPIRE


# --------------------------------------------------------------------------------------------
# Headroom, eligible_at, RuleSummary
# --------------------------------------------------------------------------------------------


def test_headroom_of_count_rule_decisions() -> None:
    images = {f"i{n}": img(f"i{n}", [f"v{n}"], n + 1) for n in range(5)}  # i0 newest
    result = run(policy(rule(1, "tagged", "imageCountMoreThan", 3, prefixes=["v"])), images)
    got = {
        label: (d.rank, d.identified, d.outcome, d.headroom)
        for label, i in images.items()
        if (d := decision_of(result, i))
    }
    assert got == {
        "i0": (0, 5, Outcome.KEEP, 2),
        "i1": (1, 5, Outcome.KEEP, 1),
        "i2": (2, 5, Outcome.KEEP, 0),
        "i3": (3, 5, Outcome.EXPIRE, None),
        "i4": (4, 5, Outcome.EXPIRE, None),
    }
    for d in result.decisions:
        assert d.eligible_at is None
        assert d.measured_from is None


def test_headroom_counts_shielded_images_in_the_ranking() -> None:
    pol, images = all_images_example_b()
    result = run(pol, images)
    # E (rank 0 in rule 3) is governed by rule 2, an age rule: no rank, no headroom.
    e = decision_of(result, images["E"])
    assert (e.rank, e.headroom) == (None, None)
    # C is rank 0 of the 2 "alpha" images, and rule 1 keeps 1: the next alpha push removes it.
    c = decision_of(result, images["C"])
    assert (c.rank, c.identified, c.headroom) == (0, 2, 0)


def test_eligible_at_of_age_rule_decisions() -> None:
    images = {"young": img("young", ["a"], 3), "old": img("old", ["b"], 30)}
    result = run(policy(rule(1, "any", "sinceImagePushed", 14)), images)
    young, old = decision_of(result, images["young"]), decision_of(result, images["old"])
    assert young.eligible_at == ago(3) + 14 * DAY
    assert old.eligible_at == ago(30) + 14 * DAY
    assert young.headroom is None and young.rank is None
    assert old.outcome is Outcome.EXPIRE


def test_images_no_rule_selects_have_no_rule_and_no_figures() -> None:
    image = img("lonely", ["dev-1"], 100)
    d = evaluate(policy(rule(1, "untagged", "sinceImagePushed", 1)), [image], NOW).decisions[0]
    assert (d.outcome, d.rule, d.rank, d.headroom, d.eligible_at) == (
        Outcome.KEEP,
        None,
        None,
        None,
        None,
    )


def test_rule_summaries_follow_priority_order_and_count_correctly() -> None:
    images = multiple_tags_repo_a()
    pol = policy(
        rule(7, "any", "imageCountMoreThan", 2),
        rule(3, "tagged", "sinceImagePushed", 5, patterns=["alpha*", "beta*"]),
    )
    result = run(pol, images)
    summary = [(s.rule.rule_priority, s.identified, s.governed, s.acted) for s in result.rules]
    # Rule 3 identifies C and F and expires C. Rule 7 ranks all six (F, E, D, C, B, A): F (rule
    # 3's) and E take the two keep slots, so D, B and A expire; it governs E, D, B and A.
    assert summary == [(3, 2, 2, 1), (7, 6, 4, 3)]
    assert labels_with(result, images, Outcome.EXPIRE) == {"A", "B", "C", "D"}


def test_evaluation_result_does_not_depend_on_image_order() -> None:
    pol, images = all_images_example_b()
    forward = evaluate(pol, list(images.values()), NOW)
    backward = evaluate(pol, list(reversed(images.values())), NOW)
    assert forward.decisions == backward.decisions


def test_empty_repository() -> None:
    result = evaluate(policy(rule(1, "any", "imageCountMoreThan", 1)), [], NOW)
    assert result.decisions == ()
    assert [(s.identified, s.governed, s.acted) for s in result.rules] == [(0, 0, 0)]


# --------------------------------------------------------------------------------------------
# §2 The blog case
# --------------------------------------------------------------------------------------------


BLOG_NOW = "2022-12-23T12:00:00Z"
BLOG_TRAPPED = "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c"


def blog_evaluation() -> Evaluation:
    pol = parse_policy((EXAMPLES / "policy.json").read_text())
    images = parse_describe_images((EXAMPLES / "images.json").read_text())
    return evaluate(pol, images, parse_instant(BLOG_NOW))


def _by_tag(evaluation: Evaluation, tag: str) -> Decision:
    (found,) = [d for d in evaluation.decisions if tag in d.image.tags]
    return found


def test_blog_case_expires_the_digest_carrying_the_newer_release() -> None:
    result = blog_evaluation()
    trapped = result.decision(BLOG_TRAPPED)
    assert {"tag-1-252-0", "tag-1-253-0"} <= set(trapped.image.tags)
    assert trapped.image.pushed_at == parse_instant("2022-12-15T09:57:20Z")
    assert trapped.outcome is Outcome.EXPIRE
    assert priority_of(trapped) == 1
    assert (trapped.rank, trapped.identified) == (5, 9)

    older_release = _by_tag(result, "tag-1-251-0")
    assert older_release.outcome is Outcome.KEEP
    assert priority_of(older_release) == 1
    assert (older_release.rank, older_release.headroom) == (4, 0)


def test_blog_case_full_result() -> None:
    result = blog_evaluation()
    expired = {d.image.digest[7:19] for d in result.acted()}
    assert all(d.outcome is Outcome.EXPIRE for d in result.acted())
    assert expired == {
        # Rule 1 (keep the 5 newest "tag*" digests by first push).
        "3fb6222f760e",  # tag-1-248-0
        "78403bd67cc4",  # tag-1-249-0
        "d1dabc94deb4",  # tag-1-250-0
        "ec1477a7420a",  # tag-1-252-0, tag-1-253-0 (first pushed 2022-12-15)
        # Rule 5 (anything else pushed more than 14 days before 2022-12-23 12:00 UTC).
        "8e33d03aed76",
        "90460a84d718",
        "98807b211ca3",
        "bc07b03e6c66",
    }
    doc = preview_document(result)
    assert doc["summary"]["expiringImageTotalCount"] == 8
    assert {(r["rulePriority"], r["identifiedCount"], r["actedCount"]) for r in doc["rules"]} == {
        (1, 9, 4),
        (5, 17, 4),
    }


def test_blog_case_explanation_mentions_first_push_and_older_release() -> None:
    result = blog_evaluation()
    explainer = Explainer(result)
    text = explainer.explain(result.decision(BLOG_TRAPPED))
    assert "rule 1" in text.lower()
    assert "first push" in text.lower()
    assert "tag-1-251-0" in text
    _, note = explainer.brief(result.decision(BLOG_TRAPPED))
    assert note is not None
    assert "tag-1-251-0" in note


# --------------------------------------------------------------------------------------------
# Preview document shape (GetLifecyclePolicyPreview)
# --------------------------------------------------------------------------------------------


def mixed_evaluation() -> tuple[Evaluation, dict[str, Image]]:
    images = {
        "prod-old": img("prod-old", ["prod-1"], 50),
        "prod-new": img("prod-new", ["prod-2"], 2),
        "cold": img("cold", ["dev-1"], 200, last_pulled_at=ago(120)),
        "warm": img("warm", ["dev-2"], 200, last_pulled_at=ago(3)),
        "untagged": img("untagged", [], 40),
        "archived": archived("archived", ["old-1"], 900, 500),
    }
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=["prod*"]),
        rule(2, "untagged", "sinceImagePushed", 30),
        rule(3, "any", "sinceImagePulled", 90, action="transition"),
        rule(4, "any", "sinceImageTransitioned", 365, storage_class="archive"),
    )
    return run(pol, images), images


def test_preview_results_shape() -> None:
    result, images = mixed_evaluation()
    doc = preview_document(result)
    entries = {e["imageDigest"]: e for e in doc["previewResults"]}
    expected = {
        images["prod-old"].digest: ({"type": "EXPIRE"}, 1, "STANDARD"),
        images["untagged"].digest: ({"type": "EXPIRE"}, 2, "STANDARD"),
        images["cold"].digest: (
            {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"},
            3,
            "STANDARD",
        ),
        images["archived"].digest: ({"type": "EXPIRE"}, 4, "ARCHIVE"),
    }
    assert set(entries) == set(expected)
    by_digest = {i.digest: i for i in images.values()}
    for key, entry in entries.items():
        assert set(entry) == {
            "imageDigest",
            "imageTags",
            "imagePushedAt",
            "action",
            "appliedRulePriority",
            "storageClass",
        }
        action, priority, storage = expected[key]
        assert entry["action"] == action
        assert entry["appliedRulePriority"] == priority
        assert entry["storageClass"] == storage
        assert entry["imageTags"] == list(by_digest[key].tags)
        assert entry["imagePushedAt"] == iso(by_digest[key].pushed_at)
        assert parse_instant(entry["imagePushedAt"]) == by_digest[key].pushed_at
    summary = doc["summary"]
    assert summary["expiringImageTotalCount"] == 3
    assert summary["transitioningImageTotalCounts"] == [
        {"targetStorageClass": "ARCHIVE", "imageTotalCount": 1}
    ]
    assert doc["failures"] == []
    json.dumps(doc)  # serialisable


def test_preview_summary_without_transitions() -> None:
    pol, images = all_images_example_b()
    doc = preview_document(run(pol, images))
    assert doc["summary"]["expiringImageTotalCount"] == 3
    # AWS omits transitioningImageTotalCounts when nothing transitions; an empty list is the
    # same statement.
    assert doc["summary"].get("transitioningImageTotalCounts", []) == []
    assert {e["action"]["type"] for e in doc["previewResults"]} == {"EXPIRE"}
    assert all("targetStorageClass" not in e["action"] for e in doc["previewResults"])
    assert [e["imageTags"] for e in doc["previewResults"] if e["imageDigest"] == digest("B")] == [
        []
    ]


# --------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------


def _evaluations_to_explain() -> list[Evaluation]:
    evaluations = [mixed_evaluation()[0], blog_evaluation()]
    pol, images = all_images_example_b()
    evaluations.append(run(pol, images))
    pol, images = index_repo()
    evaluations.append(run(pol, images))
    images = multiple_rules_repo()
    evaluations.append(
        run(
            policy(
                rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["beta"]),
                rule(2, "tagged", "imageCountMoreThan", 1, prefixes=["prod"]),
            ),
            images,
        )
    )
    images = {
        "no-date": archived("no-date", ["x"], 900, None),
        "archived-untouched": archived("archived-untouched", [], 900, 10),
        "dev": img("dev", ["dev-1"], 5),
        "untagged": img("untagged", [], 5),
    }
    evaluations.append(
        run(
            policy(
                rule(
                    1,
                    "tagged",
                    "sinceImageTransitioned",
                    90,
                    patterns=["x"],
                    storage_class="archive",
                ),
                rule(2, "tagged", "imageCountMoreThan", 1, patterns=["prod*"]),
            ),
            images,
        )
    )
    evaluations.append(run(policy(rule(1, "untagged", "sinceImagePushed", 1)), images))
    return evaluations


def test_every_decision_has_an_explanation_naming_its_rule() -> None:
    for evaluation in _evaluations_to_explain():
        explainer = Explainer(evaluation)
        assert evaluation.decisions
        for d in evaluation.decisions:
            text = explainer.explain(d)
            assert text.strip(), d
            if d.rule is None:
                assert "no rule selects it" in text.lower(), text
            else:
                assert f"rule {d.rule.rule_priority}" in text.lower(), text
            reason, note = explainer.brief(d)
            assert reason.strip(), d
            assert note is None or note.strip()


# --------------------------------------------------------------------------------------------
# Wildcard-only patterns
# --------------------------------------------------------------------------------------------


def test_wildcard_only_pattern_selects_every_tagged_image() -> None:
    images = {"t": img("t", ["anything"], 10), "u": img("u", [], 10)}
    result = run(policy(rule(1, "tagged", "sinceImagePushed", 1, patterns=["*"])), images)
    assert labels_with(result, images, Outcome.EXPIRE) == {"t"}
    assert decision_of(result, images["u"]).rule is None


@pytest.mark.parametrize("pattern", ["*", "**"])
@pytest.mark.parametrize("labels", [(), ("u1",), ("u1", "u2")])
def test_wildcard_only_pattern_in_repository_without_tags(
    pattern: str, labels: tuple[str, ...]
) -> None:
    """Regression: before commit 214abf2, TagIndex ran '^.*$' over the newline-joined tags, which
    matched the empty string when no image had a tag, and raised KeyError('')."""
    images = {label: img(label, [], 10) for label in labels}
    pol = policy(
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=[pattern]),
        rule(2, "untagged", "sinceImagePushed", 1),
    )
    result = run(pol, images)
    assert result.rules[0].identified == 0
    assert labels_with(result, images, Outcome.EXPIRE) == set(labels)
