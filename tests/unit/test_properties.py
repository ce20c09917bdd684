"""Property-based tests of the lifecycle evaluator.

The evaluator is compared with a deliberately naive reference written from the §1.4 pseudo-code of
``/work/shared/reference/ecr-behaviour.md``: per rule in priority order, identify images by storage
class and tag selection, pick candidates over *all* identified images, and let a rule act only on
images no higher-priority rule identified; then hold back removals of images that a staying image
index references.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.lifecycle.decisions import Decision, Evaluation, Outcome
from bot.lifecycle.edit import insert_rules
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.explain import Explainer
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.matching import entry_matches
from bot.lifecycle.parse import policy_from_data
from bot.lifecycle.policy import LifecyclePolicy, Rule
from bot.lifecycle.preview import preview_document
from bot.lifecycle.problems import InputError
from tests.support.reference_evaluator import Ref, ref_identifies, reference

NOW = 1_709_251_200.0  # 2024-03-01T00:00:00Z
DAY = 86_400.0
HOUR = 3_600.0

# Small alphabets, so that prefixes and patterns actually match generated tags.
TAGS = ["a", "b", "ab", "ba", "v1", "v2", "a1", "b1", "abc", "v1a", "A", "aa"]
PREFIXES = ["a", "b", "ab", "v1", "v", "ba", "A"]
PATTERNS = [
    *["a", "b", "ab", "v1", "a*", "*b", "*a*", "v*", "a*b", "*1", "b*", "a*a", "*b*1"],
    *["*", "**"],  # wildcard-only entries: every tag (and no untagged image)
]
# Ages in days that rules use and images sit exactly at (give or take a second), so that the
# strict "older than N days" comparison is exercised at its boundary.
AGE_DAYS = [1, 2, 7, 14, 30, 90, 120, 365]

# Example budgets keep the whole file around 15 s: generation dominates the cost, so the budget
# goes to the comparisons with the reference implementation.
COMMON = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
THOROUGH = settings(COMMON, max_examples=200)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

# (countType, action, storageClass, countNumber strategy)
_days = st.sampled_from(AGE_DAYS) | st.integers(1, 200)
_archive_days = st.sampled_from([d for d in AGE_DAYS if d >= 90]) | st.integers(90, 400)
KINDS: list[tuple[str, str, str | None, st.SearchStrategy[int]]] = [
    ("imageCountMoreThan", "expire", None, st.integers(1, 5)),
    ("imageCountMoreThan", "transition", None, st.integers(1, 5)),
    ("sinceImagePushed", "expire", None, _days),
    ("sinceImagePushed", "transition", None, _days),
    ("sinceImagePulled", "transition", None, _days),
    ("sinceImageTransitioned", "expire", "archive", _archive_days),
]


@st.composite
def rule_data(draw: st.DrawFn, patterns: Sequence[str] = PATTERNS) -> dict[str, Any]:
    count_type, action, storage_class, numbers = draw(st.sampled_from(KINDS))
    tag_status = draw(st.sampled_from(["tagged", "tagged", "untagged", "any"]))
    selection: dict[str, Any] = {
        "tagStatus": tag_status,
        "countType": count_type,
        "countNumber": draw(numbers),
    }
    if count_type != "imageCountMoreThan":
        selection["countUnit"] = "days"
    if storage_class is not None:
        selection["storageClass"] = storage_class
    elif draw(st.integers(0, 9)) == 0:
        selection["storageClass"] = "standard"  # stated explicitly now and then
    if tag_status == "tagged":
        if draw(st.booleans()):
            entries = st.lists(st.sampled_from(patterns), min_size=1, max_size=3, unique=True)
            selection["tagPatternList"] = draw(entries)
        else:
            entries = st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=3, unique=True)
            selection["tagPrefixList"] = draw(entries)
    act: dict[str, Any] = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {"rulePriority": 0, "selection": selection, "action": act}


def _storage(rule: dict[str, Any]) -> str:
    return str(rule["selection"].get("storageClass", "standard"))


@st.composite
def policy_data(draw: st.DrawFn, patterns: Sequence[str] = PATTERNS) -> dict[str, Any]:
    """A policy document that passes ``policy_from_data`` (invalid draws are rejected)."""
    rules = draw(st.lists(rule_data(patterns), min_size=1, max_size=6))
    # Make the common constraints hold by construction: "any" rules last, at most one "any" and
    # one "untagged" rule per storage class, no repeated prefix set in a storage class.
    kept, seen = [], set()
    for rule in rules:
        selection = rule["selection"]
        status = selection["tagStatus"]
        key: tuple[Any, ...] = (_storage(rule), status)
        if status == "tagged":
            if "tagPrefixList" not in selection:
                kept.append(rule)
                continue
            key += (frozenset(selection["tagPrefixList"]),)
        if key not in seen:
            seen.add(key)
            kept.append(rule)
    kept.sort(key=lambda r: r["selection"]["tagStatus"] == "any")
    gaps = draw(st.lists(st.integers(1, 3), min_size=len(kept), max_size=len(kept)))
    priority = 0
    for rule, gap in zip(kept, gaps, strict=True):
        priority += gap
        rule["rulePriority"] = priority
        if draw(st.integers(0, 3)) == 0:
            rule["description"] = f"rule {priority}"
    return {"rules": kept}


@st.composite
def index_policy_data(draw: st.DrawFn) -> dict[str, Any]:
    """Policies shaped like multi-arch repositories: tagged releases, then untagged platforms."""
    tagged = draw(rule_data())
    tagged["selection"].pop("tagPrefixList", None)
    tagged["selection"]["tagStatus"] = "tagged"
    tagged["selection"]["tagPatternList"] = draw(
        st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True)
    )
    untagged = draw(rule_data())
    untagged["selection"]["tagStatus"] = "untagged"
    for key in ("tagPrefixList", "tagPatternList"):
        untagged["selection"].pop(key, None)
    rules = [tagged, untagged]
    if draw(st.booleans()):
        last = draw(rule_data())
        last["selection"]["tagStatus"] = "any"
        for key in ("tagPrefixList", "tagPatternList"):
            last["selection"].pop(key, None)
        rules.append(last)
    for priority, rule in enumerate(rules, 1):
        rule["rulePriority"] = priority
    return {"rules": rules}


def valid_policy(data: dict[str, Any]) -> LifecyclePolicy:
    try:
        return policy_from_data(data)
    except InputError:
        assume(False)
        raise  # pragma: no cover


def digest_of(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"image-{n}".encode()).hexdigest()


# Instants in the last ~400 days: whole hours (so ties happen), or exactly N days ago give or
# take a second for the N that rules use.
instants = st.integers(0, 400 * 24).map(lambda h: NOW - h * HOUR) | st.builds(
    lambda days, seconds: NOW - days * DAY + seconds,
    st.sampled_from(AGE_DAYS),
    st.sampled_from([-1, 0, 1]),
)


@st.composite
def image_sets(draw: st.DrawFn, max_size: int = 8, multi_arch: bool = False) -> list[Image]:
    """A repository: unique digests, unique tags, some archived, some image indexes.

    With ``multi_arch`` half the images are indexes, platform images are never tagged and most
    images are active, so that indexes often hold back the removal of their children.
    """
    n = draw(st.integers(0, max_size))
    # Image indexes reference only plain images (one level, as multi-arch images do).
    is_index = [draw(st.integers(0, 1 if multi_arch else 2)) == 0 for _ in range(n)]
    plain = [i for i in range(n) if not is_index[i]]
    children_of: dict[int, tuple[str, ...]] = {}
    referenced: set[int] = set()
    for i in range(n):
        if is_index[i] and plain:
            chosen = draw(st.lists(st.sampled_from(plain), unique=True, max_size=3))
            children_of[i] = tuple(digest_of(c) for c in chosen)
            referenced.update(chosen)
    tags = draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=14))
    owners = [draw(st.integers(-1, n - 1)) for _ in tags] if n else [-1] * len(tags)
    # Platform images are usually untagged: most tags that land on one are dropped.
    tags_of: dict[int, list[str]] = defaultdict(list)
    for tag, owner in zip(tags, owners, strict=True):
        if owner < 0 or (owner in referenced and (multi_arch or draw(st.integers(0, 3)) > 0)):
            continue
        tags_of[owner].append(tag)
    images = []
    for i in range(n):
        pushed = draw(instants)
        status = draw(
            st.sampled_from(
                [ImageStatus.ACTIVE] * (12 if multi_arch else 4)
                + [ImageStatus.ARCHIVED] * 2
                + [ImageStatus.ACTIVATING]
            )
        )
        last_pulled = draw(st.none() | instants)
        last_archived = draw(st.none() | instants)
        if status is ImageStatus.ARCHIVED and draw(st.integers(0, 5)) == 0:
            last_archived = None  # ECR reported no lastArchivedAt
        last_activated = draw(st.none() | instants)
        images.append(
            Image(
                digest=digest_of(i),
                tags=tuple(tags_of[i]),
                pushed_at=pushed,
                last_pulled_at=last_pulled,
                status=status,
                last_archived_at=last_archived,
                last_activated_at=last_activated,
                media_type="application/vnd.oci.image.index.v1+json" if is_index[i] else None,
                children=children_of.get(i, ()),
            )
        )
    return images


def as_ref(decision: Decision) -> Ref:
    return Ref(
        decision.outcome,
        decision.rule.rule_priority if decision.rule is not None else None,
        decision.rank,
        decision.identified,
        decision.measured_from,
        frozenset(decision.blocked_by),
    )


def summary(evaluation: Evaluation) -> dict[str, Ref]:
    return {d.image.digest: as_ref(d) for d in evaluation.decisions}


def first_identifying_rule(policy: LifecyclePolicy, image: Image) -> Rule | None:
    for rule in sorted(policy.rules, key=lambda r: r.rule_priority):
        if ref_identifies(rule, image):
            return rule
    return None


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@COMMON
@given(data=policy_data(), images=image_sets())
def test_one_decision_per_image_and_only_the_governing_rule_acts(
    data: dict[str, Any], images: list[Image]
) -> None:
    policy = valid_policy(data)
    result = evaluate(policy, images, NOW)
    digests = [d.image.digest for d in result.decisions]
    assert sorted(digests) == sorted(i.digest for i in images)
    assert len(set(digests)) == len(digests)
    for decision in result.decisions:
        # The decision names the governing rule: the first rule, by priority, whose storage class
        # and tag selection identify the image (None when no rule does).
        assert decision.rule is first_identifying_rule(policy, decision.image)
        if decision.acted:
            assert decision.rule is not None
            action = decision.rule.action.type
            assert decision.outcome is (
                Outcome.TRANSITION if action == "transition" else Outcome.EXPIRE
            )
        if decision.outcome is Outcome.BLOCKED:
            assert decision.rule is not None
            assert decision.blocked_by


@THOROUGH
@given(data=policy_data(), images=image_sets())
def test_result_equals_reference_implementation(data: dict[str, Any], images: list[Image]) -> None:
    policy = valid_policy(data)
    assert summary(evaluate(policy, images, NOW)) == reference(policy, images, NOW)


@THOROUGH
@given(data=index_policy_data(), images=image_sets(multi_arch=True))
def test_image_index_children_follow_reference_implementation(
    data: dict[str, Any], images: list[Image]
) -> None:
    policy = valid_policy(data)
    expected = reference(policy, images, NOW)
    result = evaluate(policy, images, NOW)
    assert summary(result) == expected
    assert {d.image.digest for d in result.blocked()} == {
        digest for digest, r in expected.items() if r.outcome is Outcome.BLOCKED
    }


@COMMON
@given(data=policy_data(), images=image_sets())
def test_acted_images_are_not_identified_by_any_higher_priority_rule(
    data: dict[str, Any], images: list[Image]
) -> None:
    policy = valid_policy(data)
    result = evaluate(policy, images, NOW)
    for decision in result.acted():
        assert decision.rule is not None
        assert ref_identifies(decision.rule, decision.image)
        for rule in policy.rules:
            if rule.rule_priority < decision.rule.rule_priority:
                assert not ref_identifies(rule, decision.image)


@COMMON
@given(data=policy_data(), images=image_sets(), seed=st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(
    data: dict[str, Any], images: list[Image], seed: Any
) -> None:
    policy = valid_policy(data)
    shuffled_images = list(images)
    seed.shuffle(shuffled_images)
    shuffled_rules = list(data["rules"])
    seed.shuffle(shuffled_rules)
    reordered = valid_policy({"rules": shuffled_rules})
    expected = summary(evaluate(policy, images, NOW))
    assert summary(evaluate(policy, shuffled_images, NOW)) == expected
    assert summary(evaluate(reordered, images, NOW)) == expected
    assert summary(evaluate(reordered, shuffled_images, NOW)) == expected


@COMMON
@given(data=policy_data(), images=image_sets(), tag=st.sampled_from(TAGS))
def test_adding_a_higher_priority_keep_rule_never_removes_more(
    data: dict[str, Any], images: list[Image], tag: str
) -> None:
    policy = valid_policy(data)
    keep = Rule.model_validate(
        {
            "rulePriority": 1,
            "description": f"keep {tag}",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [tag],
                "countType": "imageCountMoreThan",
                "countNumber": 1_000_000,
            },
            "action": {"type": "expire"},
        }
    )
    guarded = insert_rules(policy, 0, [keep])
    # The edited policy is itself valid, and the new rule comes first.
    guarded = valid_policy(json.loads(guarded.to_json()))
    assert guarded.by_priority()[0].description == f"keep {tag}"

    before = evaluate(policy, images, NOW)
    after = evaluate(guarded, images, NOW)
    removed_before = {d.image.digest: d.outcome for d in before.acted()}
    removed_after = {d.image.digest: d.outcome for d in after.acted()}
    assert set(removed_after) <= set(removed_before)
    for digest, outcome in removed_after.items():
        assert removed_before[digest] is outcome
    for decision in after.decisions:
        # The keep rule selects standard storage only: archived images with the tag are still
        # subject to archive rules.
        if tag in decision.image.tags and decision.image.status is ImageStatus.ACTIVE:
            assert not decision.acted
            assert decision.rule is not None and decision.rule.rule_priority == 1


@COMMON
@given(data=policy_data(), images=image_sets(max_size=12))
def test_evaluation_preview_and_explanations_never_raise(
    data: dict[str, Any], images: list[Image]
) -> None:
    policy = valid_policy(data)
    result = evaluate(policy, images, NOW)
    doc = preview_document(result, include_kept=True)
    json.dumps(doc)
    explainer = Explainer(result)
    for decision in result.decisions:
        assert explainer.explain(decision)
        reason, _ = explainer.brief(decision)
        assert reason
    acted = list(result.acted())
    assert len(doc["previewResults"]) == len(acted)
    assert doc["summary"]["expiringImageTotalCount"] == sum(
        d.outcome is Outcome.EXPIRE for d in acted
    )
    assert len(doc["failures"]) == len(list(result.blocked()))
    for rule_summary in result.rules:
        governed = [d for d in result.decisions if d.rule is rule_summary.rule]
        assert rule_summary.governed == len(governed)
        assert rule_summary.acted == sum(d.acted for d in governed)
        assert rule_summary.identified >= rule_summary.governed


@COMMON
@given(data=policy_data(), images=image_sets())
def test_age_rule_decisions_are_consistent_with_eligible_at(
    data: dict[str, Any], images: list[Image]
) -> None:
    policy = valid_policy(data)
    for decision in evaluate(policy, images, NOW).decisions:
        rule = decision.rule
        if rule is None or rule.selection.is_count_rule:
            continue
        if decision.measured_from is None:
            assert decision.outcome is Outcome.KEEP
            continue
        assert decision.eligible_at is not None
        selected = decision.eligible_at < NOW
        assert (decision.outcome is not Outcome.KEEP) == selected


@COMMON
@given(data=policy_data(), images=image_sets())
def test_count_rule_headroom(data: dict[str, Any], images: list[Image]) -> None:
    policy = valid_policy(data)
    for decision in evaluate(policy, images, NOW).decisions:
        rule = decision.rule
        if rule is None or not rule.selection.is_count_rule:
            assert decision.headroom is None
            continue
        assert decision.rank is not None
        keep = rule.selection.count_number
        assert (decision.rank >= keep) == (decision.outcome is not Outcome.KEEP)
        if decision.outcome is Outcome.KEEP:
            assert decision.headroom == keep - decision.rank - 1


@settings(max_examples=200, deadline=None)
@given(
    pattern=st.text(alphabet="ab*", min_size=1, max_size=6).filter(lambda p: p.count("*") <= 4),
    tag=st.text(alphabet="ab", min_size=1, max_size=7),
)
def test_pattern_entries_are_whole_tag_globs(pattern: str, tag: str) -> None:
    assert entry_matches(pattern, True, tag) == fnmatch.fnmatchcase(tag, pattern)
    # A prefix entry is literal: a "*" in it is not a wildcard.
    assert entry_matches(pattern, False, tag) == tag.startswith(pattern)


EMPTY_REPOSITORY_WILDCARD = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
    ]
}


@settings(max_examples=60, deadline=None)
@example(data=EMPTY_REPOSITORY_WILDCARD, images=[])
@example(data=EMPTY_REPOSITORY_WILDCARD, images=[Image(digest_of(0), (), NOW - 9 * DAY)])
@given(
    data=policy_data(["*", "**", "*a", "a*"]),
    images=image_sets(max_size=4),
)
def test_wildcard_only_patterns_in_repositories_with_few_or_no_tags(
    data: dict[str, Any], images: list[Image]
) -> None:
    """Regression: before commit 214abf2, TagIndex raised KeyError('') here (no tag at all)."""
    policy = valid_policy(data)
    assert summary(evaluate(policy, images, NOW)) == reference(policy, images, NOW)
