"""Validation of ECR lifecycle policies: shape, semantic rules, strict JSON and round trips.

The rules come from ``shared/reference/ecr-behaviour.md`` §1.1-§1.3; the example policies from
§1.7 (AWS documentation) and §2 (Tibo Beijen's blog post). Every rejection test asserts on the
problem's path (which names the rule by index and rulePriority) and on the message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.lifecycle.parse import parse_policy, parse_policy_document, policy_from_data
from bot.lifecycle.policy import LifecyclePolicy
from bot.lifecycle.problems import InputError, Problem

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def rule(
    priority: Any = 1,
    status: str = "tagged",
    count_type: str = "imageCountMoreThan",
    number: Any = 1,
    *,
    unit: str | None = None,
    prefixes: list[str] | None = None,
    patterns: list[str] | None = None,
    storage: str | None = None,
    action: str = "expire",
    target: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """One rule as AWS JSON; keys left as ``None`` are omitted (never sent as null).

    A ``tagged`` rule with neither list gets ``tagPrefixList: ["p<priority>"]`` so that rules
    built with defaults are valid and distinct; pass ``prefixes=[]`` or a status other than
    ``tagged`` to control the lists explicitly.
    """
    selection: dict[str, Any] = {"tagStatus": status}
    if status == "tagged" and prefixes is None and patterns is None:
        prefixes = [f"p{priority}"]
    if prefixes is not None:
        selection["tagPrefixList"] = prefixes
    if patterns is not None:
        selection["tagPatternList"] = patterns
    if storage is not None:
        selection["storageClass"] = storage
    selection["countType"] = count_type
    if unit is not None:
        selection["countUnit"] = unit
    selection["countNumber"] = number
    action_body: dict[str, Any] = {"type": action}
    if target is not None:
        action_body["targetStorageClass"] = target
    result: dict[str, Any] = {"rulePriority": priority}
    if description is not None:
        result["description"] = description
    result["selection"] = selection
    result["action"] = action_body
    return result


def archive_expire(priority: Any = 1, status: str = "any", number: Any = 90, **kw: Any) -> dict:
    """A valid ``sinceImageTransitioned`` rule on the archive storage class."""
    return rule(
        priority,
        status,
        "sinceImageTransitioned",
        number,
        unit="days",
        storage="archive",
        **kw,
    )


def to_archive(priority: Any = 1, status: str = "any", number: Any = 30, **kw: Any) -> dict:
    """A valid ``sinceImagePushed`` transition-to-archive rule."""
    kw.setdefault("unit", "days")
    return rule(
        priority, status, "sinceImagePushed", number, action="transition", target="archive", **kw
    )


def as_text(*rules: dict[str, Any], **top: Any) -> str:
    return json.dumps({"rules": list(rules), **top})


def accepts(*rules: dict[str, Any]) -> LifecyclePolicy:
    return parse_policy(as_text(*rules))


def problems(source: str | dict[str, Any], parser: Any = parse_policy) -> tuple[Problem, ...]:
    """The problems of a rejected document (text, or a policy dict that is dumped first)."""
    text = source if isinstance(source, str) else json.dumps(source)
    with pytest.raises(InputError) as caught:
        parser(text)
    assert caught.value.problems, "an InputError must carry at least one problem"
    return caught.value.problems


def rejects(*rules: dict[str, Any]) -> tuple[Problem, ...]:
    return problems(as_text(*rules))


def message_at(found: tuple[Problem, ...], path: str) -> str:
    """The message of the one problem at ``path``; fails listing every problem otherwise."""
    messages = [p.message for p in found if p.path == path]
    listing = "\n".join(str(p) for p in found)
    assert len(messages) == 1, f"expected exactly one problem at {path!r}, got:\n{listing}"
    return messages[0]


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


R0 = "rules[0] (rulePriority 1)"
R1 = "rules[1] (rulePriority 2)"

# --------------------------------------------------------------------------------------------
# tagStatus and the tag lists
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lists",
    [{"prefixes": ["prod"]}, {"patterns": ["prod*"]}, {"prefixes": ["prod", "release-"]}],
    ids=["prefix", "pattern", "two-prefixes"],
)
def test_tagged_rule_with_a_tag_list_is_accepted(lists: dict[str, list[str]]) -> None:
    policy = accepts(rule(1, "tagged", **lists))
    assert policy.rules[0].selection.entries == tuple(next(iter(lists.values())))


@pytest.mark.parametrize(
    "lists",
    [{}, {"tagPrefixList": []}, {"tagPatternList": []}],
    ids=["no-list", "empty-prefix-list", "empty-pattern-list"],
)
def test_tagged_rule_without_a_tag_list_is_rejected(lists: dict[str, list[str]]) -> None:
    body = rule(1, "any")
    body["selection"]["tagStatus"] = "tagged"
    body["selection"].update(lists)
    message = message_at(problems({"rules": [body]}), f"{R0}.selection")
    assert "tagPatternList or tagPrefixList" in message
    assert '"tagged"' in message


@pytest.mark.parametrize("status", ["untagged", "any"])
def test_untagged_and_any_rules_without_lists_are_accepted(status: str) -> None:
    policy = accepts(rule(1, status))
    assert policy.rules[0].selection.tag_status == status
    assert policy.rules[0].selection.entries == ()


@pytest.mark.parametrize("status", ["untagged", "any"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tagPrefixList", ["prod"]),
        ("tagPatternList", ["prod*"]),
        ("tagPrefixList", []),
        ("tagPatternList", []),
    ],
    ids=["prefix", "pattern", "empty-prefix", "empty-pattern"],
)
def test_untagged_and_any_rules_forbid_tag_lists_even_empty(
    status: str, key: str, value: list[str]
) -> None:
    body = rule(1, status)
    body["selection"][key] = value
    message = message_at(problems({"rules": [body]}), f"{R0}.selection.{key}")
    assert f'not allowed with tagStatus "{status}"' in message


def test_both_tag_lists_in_one_rule_are_rejected() -> None:
    found = rejects(rule(1, "tagged", prefixes=["prod"], patterns=["prod*"]))
    message = message_at(found, f"{R0}.selection")
    assert "either tagPatternList or tagPrefixList" in message
    assert "not both" in message


def test_both_tag_lists_are_rejected_even_when_one_is_empty() -> None:
    found = rejects(rule(1, "tagged", prefixes=[], patterns=["prod*"]))
    assert "not both" in message_at(found, f"{R0}.selection")


def test_prefix_and_pattern_lists_in_different_rules_are_accepted() -> None:
    policy = accepts(rule(1, prefixes=["prod"]), rule(2, patterns=["beta*"]))
    assert [r.selection.uses_patterns for r in policy.rules] == [False, True]


# --------------------------------------------------------------------------------------------
# Wildcards: at most four "*" per pattern
# --------------------------------------------------------------------------------------------


def test_aws_wildcard_example_that_is_valid_is_accepted() -> None:
    policy = accepts(rule(1, patterns=["*test*1*2*3", "test*1*2*3*"]))
    assert policy.rules[0].selection.entries == ("*test*1*2*3", "test*1*2*3*")


def test_aws_wildcard_example_that_is_invalid_is_rejected() -> None:
    found = rejects(rule(1, patterns=["test*1*2*3*4*5*6"]))
    message = message_at(found, f"{R0}.selection.tagPatternList[0]")
    assert "6 wildcards" in message
    assert "at most 4" in message


@pytest.mark.parametrize("pattern", ["****", "a*b*c*d*", "*a*b*c*d"])
def test_four_wildcards_are_accepted(pattern: str) -> None:
    assert accepts(rule(1, patterns=[pattern])).rules[0].selection.entries == (pattern,)


@pytest.mark.parametrize("pattern", ["*****", "a*b*c*d*e*", "*a*b*c*d*e"])
def test_five_wildcards_are_rejected_at_the_offending_entry(pattern: str) -> None:
    found = rejects(rule(1, patterns=["prod*", pattern]))
    message = message_at(found, f"{R0}.selection.tagPatternList[1]")
    assert pattern in message
    assert "5 wildcards" in message
    assert not [p for p in found if p.path.endswith("tagPatternList[0]")]


# --------------------------------------------------------------------------------------------
# countUnit
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        rule(1, count_type="sinceImagePushed", number=14, unit="days"),
        rule(
            1,
            count_type="sinceImagePulled",
            number=90,
            unit="days",
            action="transition",
            target="archive",
        ),
        archive_expire(1, "tagged", prefixes=["prod"]),
    ],
    ids=["sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"],
)
def test_count_unit_days_is_accepted_with_time_count_types(body: dict[str, Any]) -> None:
    assert accepts(body).rules[0].selection.count_unit == "days"


@pytest.mark.parametrize(
    "body",
    [
        rule(1, count_type="sinceImagePushed", number=14),
        rule(1, count_type="sinceImagePulled", number=90, action="transition", target="archive"),
        rule(1, count_type="sinceImageTransitioned", number=90, storage="archive"),
    ],
    ids=["sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"],
)
def test_count_unit_is_required_with_time_count_types(body: dict[str, Any]) -> None:
    message = message_at(rejects(body), f"{R0}.selection.countUnit")
    assert "required" in message
    assert body["selection"]["countType"] in message
    assert '"countUnit": "days"' in message


def test_count_unit_is_rejected_with_image_count_more_than() -> None:
    found = rejects(rule(1, count_type="imageCountMoreThan", number=5, unit="days"))
    message = message_at(found, f"{R0}.selection.countUnit")
    assert "only allowed with sinceImagePushed" in message
    assert '"imageCountMoreThan"' in message


@pytest.mark.parametrize("unit", ["hours", "Days", "day", "weeks", ""])
def test_count_units_other_than_days_are_rejected(unit: str) -> None:
    body = rule(1, count_type="sinceImagePushed", number=14)
    body["selection"]["countUnit"] = unit
    message = message_at(problems({"rules": [body]}), f"{R0}.selection.countUnit")
    assert "'days'" in message


def test_count_unit_error_names_the_rule_by_index_and_priority() -> None:
    found = rejects(rule(1), rule(5, count_type="sinceImagePushed", number=3, unit="hours"))
    assert "'days'" in message_at(found, "rules[1] (rulePriority 5).selection.countUnit")


# --------------------------------------------------------------------------------------------
# countNumber
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [1, 2, 90, 10_000])
def test_positive_count_numbers_are_accepted(number: int) -> None:
    assert accepts(rule(1, "any", number=number)).rules[0].selection.count_number == number


@pytest.mark.parametrize("number", [0, -1, -30])
def test_zero_and_negative_count_numbers_are_rejected(number: int) -> None:
    message = message_at(rejects(rule(1, "any", number=number)), f"{R0}.selection.countNumber")
    assert "positive integer" in message


@pytest.mark.parametrize("number", [5.0, 5.5, "5", True, [5], {"n": 5}])
def test_non_integer_count_numbers_are_rejected(number: Any) -> None:
    message = message_at(rejects(rule(1, "any", number=number)), f"{R0}.selection.countNumber")
    assert "JSON integer" in message


def test_count_number_overflowing_to_infinity_is_rejected() -> None:
    text = as_text(rule(1, "any")).replace('"countNumber": 1', '"countNumber": 1e400')
    assert "1e400" in text
    assert "JSON integer" in message_at(problems(text), f"{R0}.selection.countNumber")


def test_float_count_number_error_says_an_integer_is_needed() -> None:
    message = message_at(rejects(rule(1, "any", number=5.0)), f"{R0}.selection.countNumber")
    assert "integer" in message


def test_missing_count_number_is_rejected() -> None:
    body = rule(1, "any")
    del body["selection"]["countNumber"]
    assert message_at(problems({"rules": [body]}), f"{R0}.selection.countNumber") == "required"


# --------------------------------------------------------------------------------------------
# rulePriority
# --------------------------------------------------------------------------------------------


def test_priorities_need_not_be_sequential_or_in_document_order() -> None:
    policy = accepts(rule(250), rule(3), rule(10), rule(1000, "any"))
    assert [r.rule_priority for r in policy.by_priority()] == [3, 10, 250, 1000]


def test_duplicate_priorities_are_reported_on_every_rule_that_shares_them() -> None:
    found = rejects(rule(7, prefixes=["a"]), rule(3, prefixes=["b"]), rule(7, prefixes=["c"]))
    for path in (
        "rules[0] (rulePriority 7).rulePriority",
        "rules[2] (rulePriority 7).rulePriority",
    ):
        message = message_at(found, path)
        assert "priority 7 is used by 2 rules" in message
        assert "its own rulePriority" in message
    assert not [p for p in found if p.path.startswith("rules[1]")]


@pytest.mark.parametrize("priority", [0, -1])
def test_non_positive_priorities_are_rejected(priority: int) -> None:
    found = rejects(rule(priority, "any"))
    message = message_at(found, f"rules[0] (rulePriority {priority}).rulePriority")
    assert "positive integer" in message


@pytest.mark.parametrize("priority", [1.0, "1", True])
def test_non_integer_priorities_are_rejected(priority: Any) -> None:
    found = rejects(rule(priority, "any"))
    # The priority is not a usable number, so the path names the rule by index only.
    assert "JSON integer" in message_at(found, "rules[0].rulePriority")


def test_missing_priority_is_rejected() -> None:
    body = rule(1, "any")
    del body["rulePriority"]
    assert message_at(problems({"rules": [body]}), "rules[0].rulePriority") == "required"


# --------------------------------------------------------------------------------------------
# tagStatus "any" must come last (per storage class)
# --------------------------------------------------------------------------------------------


def test_any_rule_with_the_highest_priority_is_accepted_wherever_it_is_listed() -> None:
    policy = accepts(rule(9, "any"), rule(1), rule(2, "untagged"))
    assert policy.by_priority()[-1].selection.tag_status == "any"


def test_any_rule_that_is_not_last_is_rejected() -> None:
    found = rejects(rule(1, "any"), rule(2))
    message = message_at(found, f"{R0}.rulePriority")
    assert 'tagStatus "any"' in message
    assert "highest rulePriority" in message
    assert "above 2" in message


def test_the_earlier_of_two_any_rules_is_rejected() -> None:
    found = rejects(rule(1, "any"), rule(2, "any", "sinceImagePushed", 30, unit="days"))
    assert "highest rulePriority" in message_at(found, f"{R0}.rulePriority")
    assert not [p for p in found if p.path.startswith("rules[1]")]


def test_any_standard_rule_before_an_archive_rule_is_accepted() -> None:
    # AWS "Combining archive and expire rules": any at 1 (standard), any at 2 (archive).
    policy = accepts(to_archive(1, "any"), archive_expire(2, "any", 365))
    assert [r.selection.effective_storage_class for r in policy.rules] == ["standard", "archive"]


def test_any_archive_rule_that_is_not_last_among_archive_rules_is_rejected() -> None:
    found = rejects(archive_expire(1, "any"), archive_expire(2, "tagged", prefixes=["prod"]))
    message = message_at(found, f"{R0}.rulePriority")
    assert "highest rulePriority of the archive rules" in message


# --------------------------------------------------------------------------------------------
# One untagged rule per storage class
# --------------------------------------------------------------------------------------------


def test_two_untagged_rules_in_one_storage_class_are_rejected() -> None:
    found = rejects(
        rule(1, "untagged", number=5), rule(2, "untagged", "sinceImagePushed", 3, unit="days")
    )
    message = message_at(found, f"{R1}.selection.tagStatus")
    assert "only one standard rule may select untagged images" in message
    assert "rule 1 already does" in message
    assert not [p for p in found if p.path.startswith("rules[0]")]


def test_untagged_rule_plus_any_rule_is_accepted() -> None:
    # AWS "Filtering on all images, Example B".
    policy = accepts(rule(1, patterns=["alpha*"]), rule(2, "untagged"), rule(3, "any"))
    assert [r.selection.tag_status for r in policy.rules] == ["tagged", "untagged", "any"]


def test_one_untagged_rule_in_each_storage_class_is_accepted() -> None:
    policy = accepts(to_archive(1, "untagged"), archive_expire(2, "untagged"))
    assert len(policy.rules) == 2


def test_two_untagged_archive_rules_are_rejected() -> None:
    found = rejects(archive_expire(1, "untagged"), archive_expire(2, "untagged", 180))
    message = message_at(found, f"{R1}.selection.tagStatus")
    assert "only one archive rule may select untagged images" in message


# --------------------------------------------------------------------------------------------
# Unique tagPrefixList sets per storage class
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "second", [["prod", "web"], ["web", "prod"]], ids=["same-order", "reordered"]
)
def test_identical_prefix_sets_in_one_storage_class_are_rejected(second: list[str]) -> None:
    found = rejects(rule(1, prefixes=["prod", "web"]), rule(2, prefixes=second, number=3))
    message = message_at(found, f"{R1}.selection.tagPrefixList")
    assert "rule 1 already selects the same standard prefixes" in message
    assert "unique set of prefixes" in message


def test_different_prefix_sets_are_accepted() -> None:
    policy = accepts(rule(1, prefixes=["prod"]), rule(2, prefixes=["prod", "web"]))
    assert [r.selection.entries for r in policy.rules] == [("prod",), ("prod", "web")]


def test_identical_prefix_sets_in_different_storage_classes_are_accepted() -> None:
    policy = accepts(
        to_archive(1, "tagged", prefixes=["prod"]),
        archive_expire(2, "tagged", prefixes=["prod"]),
    )
    assert {r.selection.entries for r in policy.rules} == {("prod",)}


# --------------------------------------------------------------------------------------------
# Count types, storage classes and actions
# --------------------------------------------------------------------------------------------


def test_since_image_pulled_with_transition_is_accepted() -> None:
    policy = accepts(
        rule(1, "any", "sinceImagePulled", 90, unit="days", action="transition", target="archive")
    )
    assert policy.rules[0].action.target_storage_class == "archive"


def test_since_image_pulled_with_expire_is_rejected() -> None:
    found = rejects(rule(1, "any", "sinceImagePulled", 90, unit="days"))
    message = message_at(found, f"{R0}.action.type")
    assert '"sinceImagePulled" only works with "transition"' in message


def test_since_image_transitioned_with_expire_and_archive_is_accepted() -> None:
    policy = accepts(archive_expire(1, "any", 365))
    assert policy.rules[0].selection.effective_storage_class == "archive"


def test_since_image_transitioned_with_transition_is_rejected() -> None:
    body = rule(
        1,
        "any",
        "sinceImageTransitioned",
        90,
        unit="days",
        storage="archive",
        action="transition",
        target="archive",
    )
    message = message_at(rejects(body), f"{R0}.action.type")
    assert '"sinceImageTransitioned" only works with "expire"' in message


@pytest.mark.parametrize("storage", [None, "standard"], ids=["omitted", "standard"])
def test_since_image_transitioned_needs_the_archive_storage_class(storage: str | None) -> None:
    body = rule(1, "any", "sinceImageTransitioned", 90, unit="days", storage=storage)
    message = message_at(rejects(body), f"{R0}.selection.storageClass")
    assert '"storageClass": "archive"' in message


@pytest.mark.parametrize(
    "body",
    [
        rule(1, "any", "imageCountMoreThan", 5, storage="archive"),
        rule(1, "any", "sinceImagePushed", 30, unit="days", storage="archive"),
        rule(
            1,
            "any",
            "sinceImagePulled",
            90,
            unit="days",
            storage="archive",
            action="transition",
            target="archive",
        ),
    ],
    ids=["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"],
)
def test_archive_storage_class_only_with_since_image_transitioned(body: dict[str, Any]) -> None:
    message = message_at(rejects(body), f"{R0}.selection.storageClass")
    assert '"archive" is only allowed with countType "sinceImageTransitioned"' in message
    assert body["selection"]["countType"] in message


def test_explicit_standard_storage_class_is_accepted() -> None:
    policy = accepts(rule(1, "any", "sinceImagePushed", 30, unit="days", storage="standard"))
    assert policy.rules[0].selection.storage_class == "standard"


def test_unknown_storage_class_is_rejected() -> None:
    message = message_at(rejects(rule(1, "any", storage="glacier")), f"{R0}.selection.storageClass")
    assert "'standard'" in message
    assert "'archive'" in message


@pytest.mark.parametrize("number", [90, 91, 365])
def test_since_image_transitioned_of_90_days_or_more_is_accepted(number: int) -> None:
    assert accepts(archive_expire(1, "any", number)).rules[0].selection.count_number == number


@pytest.mark.parametrize("number", [1, 30, 89])
def test_since_image_transitioned_under_90_days_is_rejected(number: int) -> None:
    message = message_at(rejects(archive_expire(1, "any", number)), f"{R0}.selection.countNumber")
    assert "at least 90 days" in message


def test_transition_to_archive_is_accepted_with_push_age_and_image_count() -> None:
    policy = accepts(
        to_archive(1, "tagged", prefixes=["prod"]),
        rule(2, "any", "imageCountMoreThan", 20, action="transition", target="archive"),
    )
    assert {r.action.type for r in policy.rules} == {"transition"}


def test_transition_without_target_storage_class_is_rejected() -> None:
    found = rejects(rule(1, "any", "sinceImagePushed", 30, unit="days", action="transition"))
    message = message_at(found, f"{R0}.action")
    assert '"targetStorageClass": "archive"' in message
    assert '"transition"' in message


def test_transition_to_a_storage_class_other_than_archive_is_rejected() -> None:
    body = to_archive(1, "any")
    body["action"]["targetStorageClass"] = "standard"
    message = message_at(problems({"rules": [body]}), f"{R0}.action.targetStorageClass")
    assert "'archive'" in message


def test_expire_with_target_storage_class_is_rejected() -> None:
    found = rejects(rule(1, "any", target="archive"))
    message = message_at(found, f"{R0}.action.targetStorageClass")
    assert 'only allowed with type "transition"' in message


@pytest.mark.parametrize("kind", ["delete", "Expire", "archive"])
def test_unknown_action_types_are_rejected(kind: str) -> None:
    message = message_at(rejects(rule(1, "any", action=kind)), f"{R0}.action.type")
    assert "'expire'" in message
    assert "'transition'" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("tagStatus", "TAGGED"), ("countType", "sinceImagePushedDays")],
)
def test_unknown_enumeration_values_are_rejected(field: str, value: str) -> None:
    body = rule(1, "any")
    body["selection"][field] = value
    message = message_at(problems({"rules": [body]}), f"{R0}.selection.{field}")
    assert message.startswith("input should be")


# --------------------------------------------------------------------------------------------
# JSON null and unknown keys
# --------------------------------------------------------------------------------------------


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("location", "expected_path"),
    [
        (("rules", 0, "selection", "countUnit"), f"{R0}.selection.countUnit"),
        (("rules", 0, "action", "targetStorageClass"), f"{R0}.action.targetStorageClass"),
        (("rules", 0, "selection", "storageClass"), f"{R0}.selection.storageClass"),
        (("rules", 0, "selection", "tagPrefixList"), f"{R0}.selection.tagPrefixList"),
        (("rules", 0, "selection", "tagPrefixList", 0), f"{R0}.selection.tagPrefixList[0]"),
        (("rules", 0, "description"), f"{R0}.description"),
        (("rules", 0, "selection"), f"{R0}.selection"),
        (("rules", 0, "rulePriority"), "rules[0].rulePriority"),
        (("rules",), "rules"),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_null_anywhere_is_rejected_with_its_path(
    location: tuple[Any, ...], expected_path: str
) -> None:
    document = {"rules": [rule(1, prefixes=["prod"], description="d")]}
    message = message_at(problems(_set(document, location, None)), expected_path)
    assert "null is not allowed" in message


def test_every_null_is_reported() -> None:
    first = rule(1, "untagged", "sinceImagePushed", 3, unit="days")
    first["selection"]["countUnit"] = None
    second = rule(2, "any")
    second["action"]["targetStorageClass"] = None
    found = problems({"rules": [first, second]})
    assert {p.path for p in found} == {
        f"{R0}.selection.countUnit",
        f"{R1}.action.targetStorageClass",
    }


def test_null_document_is_rejected() -> None:
    assert "document is null" in message_at(problems("null"), "(document)")


def test_null_rule_error_does_not_talk_about_a_key() -> None:
    message = message_at(problems('{"rules": [null]}'), "rules[0]")
    assert "null" in message
    assert "key" not in message


@pytest.mark.parametrize(
    ("mutate", "expected_path", "allowed"),
    [
        (lambda d: d.update(version=1), "version", "rules"),
        (
            lambda d: d["rules"][0].update(name="x"),
            f"{R0}.name",
            "rulePriority, description, selection, action",
        ),
        (
            lambda d: d["rules"][0]["selection"].update(tagPrefix=["a"]),
            f"{R0}.selection.tagPrefix",
            "tagStatus, tagPatternList, tagPrefixList, storageClass, countType, countUnit, "
            "countNumber",
        ),
        (
            lambda d: d["rules"][0]["action"].update(storageClass="archive"),
            f"{R0}.action.storageClass",
            "type, targetStorageClass",
        ),
    ],
    ids=["top", "rule", "selection", "action"],
)
def test_unknown_keys_are_rejected_with_the_allowed_keys(
    mutate: Any, expected_path: str, allowed: str
) -> None:
    document = {"rules": [rule(1, "any")]}
    mutate(document)
    message = message_at(problems(document), expected_path)
    assert "unknown key" in message
    assert f"allowed keys here are {allowed}" in message


def test_wrongly_cased_key_is_unknown_and_the_real_key_is_missing() -> None:
    body = rule(1, "any")
    body["selection"]["TagStatus"] = body["selection"].pop("tagStatus")
    found = problems({"rules": [body]})
    assert "unknown key" in message_at(found, f"{R0}.selection.TagStatus")
    assert message_at(found, f"{R0}.selection.tagStatus") == "required"


def test_python_field_names_are_not_accepted_as_keys() -> None:
    document = {
        "rules": [
            {
                "rule_priority": 1,
                "selection": {
                    "tag_status": "any",
                    "count_type": "imageCountMoreThan",
                    "count_number": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    found = problems(document)
    assert "unknown key" in message_at(found, "rules[0].rule_priority")


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        ("[]", "(document)", "must be a JSON object"),
        ('"rules"', "(document)", "must be a JSON object"),
        ("{}", "rules", "required"),
        ('{"rules": {}}', "rules", "must be a JSON array"),
        ('{"rules": [1]}', "rules[0]", "must be a JSON object"),
    ],
)
def test_wrong_document_shapes_are_rejected(document: str, path: str, expected: str) -> None:
    assert message_at(problems(document), path).startswith(expected)


def test_tag_list_given_as_a_string_is_rejected() -> None:
    body = rule(1, prefixes=["prod"])
    body["selection"]["tagPrefixList"] = "prod"
    found = problems({"rules": [body]})
    assert (
        message_at(found, f"{R0}.selection.tagPrefixList") == "must be a JSON array, not a string"
    )


# --------------------------------------------------------------------------------------------
# Quotas: number of rules and policy length
# --------------------------------------------------------------------------------------------


def _tagged_rules(count: int) -> list[dict[str, Any]]:
    return [rule(i, prefixes=[f"team{i}-"]) for i in range(1, count + 1)]


def test_fifty_rules_are_accepted() -> None:
    assert len(accepts(*_tagged_rules(50)).rules) == 50


def test_fifty_one_rules_are_rejected() -> None:
    message = message_at(rejects(*_tagged_rules(51)), "rules")
    assert "51 rules" in message
    assert "at most 50" in message


def test_a_policy_without_rules_is_rejected() -> None:
    assert "at least one rule" in message_at(problems('{"rules": []}'), "rules")


def _padded(length: int) -> str:
    text = as_text(rule(1, "any"))
    return text[:-1] + " " * (length - len(text)) + "}"


def test_policy_of_exactly_30720_characters_is_accepted() -> None:
    text = _padded(30_720)
    assert len(text) == 30_720
    assert parse_policy(text).rules[0].rule_priority == 1


def test_policy_longer_than_30720_characters_is_rejected() -> None:
    text = _padded(30_721)
    message = message_at(problems(text), "")
    assert "30,721 characters" in message
    assert "at most 30,720" in message


def test_policy_length_counts_characters_not_bytes() -> None:
    text = json.dumps({"rules": [rule(1, "any", description="é" * 20_000)]}, ensure_ascii=False)
    assert len(text) < 30_720 < len(text.encode())
    assert parse_policy(text).rules[0].description == "é" * 20_000


# --------------------------------------------------------------------------------------------
# Strict JSON
# --------------------------------------------------------------------------------------------

_VALID = as_text(rule(1, "any"))

HOSTILE_DOCUMENTS = [
    pytest.param('{"rules": [], "rules": []}', 'duplicate key "rules"', id="duplicate-top-key"),
    pytest.param(
        _VALID.replace('"countNumber": 1', '"countNumber": 1, "countNumber": 2'),
        'duplicate key "countNumber"',
        id="duplicate-nested-key",
    ),
    pytest.param(_VALID.replace('"countNumber": 1', '"countNumber": NaN'), "NaN", id="nan"),
    pytest.param(
        _VALID.replace('"countNumber": 1', '"countNumber": Infinity'), "Infinity", id="infinity"
    ),
    pytest.param(
        _VALID.replace('"countNumber": 1', '"countNumber": -Infinity'),
        "-Infinity",
        id="minus-infinity",
    ),
    pytest.param(_VALID + " trailing", "Extra data", id="trailing-garbage"),
    pytest.param(_VALID + _VALID, "Extra data", id="two-documents"),
    pytest.param(_VALID[:-5], "not valid JSON", id="truncated"),
    pytest.param(_VALID.replace('"', "'"), "not valid JSON", id="single-quotes"),
    pytest.param("// comment\n" + _VALID, "not valid JSON", id="comment"),
    pytest.param("", "empty", id="empty"),
    pytest.param(" \n\t ", "empty", id="whitespace-only"),
    pytest.param("[" * 100_000, "nested too deeply", id="deep-arrays"),
    pytest.param('{"a":' * 100_000, "nested too deeply", id="deep-objects"),
    pytest.param(
        '{"rules": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply", id="deep-closed"
    ),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE_DOCUMENTS)
def test_hostile_json_gives_input_error(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert expected in found[0].message


@pytest.mark.parametrize(("text", "expected"), HOSTILE_DOCUMENTS)
def test_hostile_json_gives_input_error_from_parse_policy_document(
    text: str, expected: str
) -> None:
    assert expected in problems(text, parse_policy_document)[0].message


def test_syntax_errors_name_line_and_column() -> None:
    message = message_at(problems('{\n  "rules": [\n    oops\n  ]\n}'), "")
    assert "line 3 column 5" in message


# --------------------------------------------------------------------------------------------
# Every documented example policy parses
# --------------------------------------------------------------------------------------------

_EXPIRE = '"action": {"type": "expire"}'
_ARCHIVE = '"action": {"type": "transition", "targetStorageClass": "archive"}'


def _doc(*rules: str) -> str:
    return '{"rules": [' + ", ".join(rules) + "]}"


def _r(priority: int, description: str, selection: str, action: str = _EXPIRE) -> str:
    return (
        f'{{"rulePriority": {priority}, "description": "{description}", '
        f'"selection": {{{selection}}}, {action}}}'
    )


EXAMPLES: dict[str, str] = {
    "image-age": _doc(
        _r(
            1,
            "Expire images older than 14 days",
            '"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", '
            '"countUnit": "days", "countNumber": 14',
        ),
    ),
    "image-age-2022": _doc(
        _r(
            1,
            "Expire images older than 14 days",
            '"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", '
            '"countNumber": 14',
        ),
    ),
    "last-pulled": _doc(
        _r(
            1,
            "Archive images not pulled in 90 days",
            '"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", '
            '"countNumber": 90',
            _ARCHIVE,
        ),
    ),
    "archive-transition-time": _doc(
        _r(
            1,
            "Expire images archived for more than 365 days",
            '"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", '
            '"countUnit": "days", "countNumber": 365',
        ),
    ),
    "image-count": _doc(
        _r(
            1,
            "Keep only one untagged image, expire all others",
            '"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1',
        ),
    ),
    "multiple-rules-a": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPatternList": ["prod*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
        _r(
            2,
            "Rule 2",
            '"tagStatus": "tagged", "tagPatternList": ["beta*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
    ),
    "multiple-rules-b": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPatternList": ["beta*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
        _r(
            2,
            "Rule 2",
            '"tagStatus": "tagged", "tagPatternList": ["prod*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
    ),
    "multiple-rules-a-2022": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPrefixList": ["prod"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
        _r(
            2,
            "Rule 2",
            '"tagStatus": "tagged", "tagPrefixList": ["beta"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
    ),
    "multiple-tags-a": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], '
            '"countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days"',
        ),
    ),
    "multiple-tags-b": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
    ),
    "multiple-tags-a-2022": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], '
            '"countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days"',
        ),
    ),
    "all-images-a": _doc(
        _r(1, "Rule 1", '"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1'),
    ),
    "all-images-b": _doc(
        _r(
            1,
            "Rule 1",
            '"tagStatus": "tagged", "tagPatternList": ["alpha*"], '
            '"countType": "imageCountMoreThan", "countNumber": 1',
        ),
        _r(
            2,
            "Rule 2",
            '"tagStatus": "untagged", "countType": "sinceImagePushed", '
            '"countUnit": "days", "countNumber": 1',
        ),
        _r(3, "Rule 3", '"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1'),
    ),
    "archive-older-than": _doc(
        _r(
            1,
            "Archive images older than 30 days",
            '"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", '
            '"countUnit": "days", "countNumber": 30',
            _ARCHIVE,
        ),
    ),
    "combining-archive-and-expire": _doc(
        _r(
            1,
            "Archive images older than 30 days",
            '"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", '
            '"countNumber": 30',
            _ARCHIVE,
        ),
        _r(
            2,
            "Expire images archived for more than 365 days",
            '"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", '
            '"countUnit": "days", "countNumber": 365',
        ),
    ),
    # §2, Tibo Beijen's blog post, verbatim (keys in the author's order).
    "blog": """{
  "rules": [
    {
      "action": { "type": "expire" },
      "selection": {
        "countType": "imageCountMoreThan",
        "countNumber": 5,
        "tagStatus": "tagged",
        "tagPrefixList": ["tag"]
      },
      "description": "Keep last 5 production images",
      "rulePriority": 1
    },
    {
      "rulePriority": 5,
      "description": "Expire images older than 14 days",
      "selection": {
        "tagStatus": "any",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 14
      },
      "action": { "type": "expire" }
    }
  ]
}""",
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_documented_example_policy_parses(name: str) -> None:
    text = EXAMPLES[name]
    policy = parse_policy(text)
    raw_rules = json.loads(text)["rules"]
    assert [r.rule_priority for r in policy.rules] == [r["rulePriority"] for r in raw_rules]
    assert [r.description for r in policy.rules] == [r["description"] for r in raw_rules]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_round_trip_through_to_json(name: str) -> None:
    policy = parse_policy(EXAMPLES[name])
    text = policy.to_json()
    assert parse_policy(text) == policy
    assert "null" not in text
    assert no_nulls(json.loads(text))


def test_to_json_keeps_omitted_optional_keys_omitted() -> None:
    data = json.loads(accepts(rule(1, "any")).to_json())
    assert data == {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def test_round_trip_of_a_policy_using_every_field() -> None:
    policy = accepts(
        rule(1, patterns=["v*-rc*"], description="release candidates"),
        to_archive(2, "tagged", 60, prefixes=["feature-"], storage="standard"),
        archive_expire(3, "any", 180, description="purge archive"),
    )
    assert parse_policy(policy.to_json()) == policy
    assert no_nulls(json.loads(policy.to_json()))


# --------------------------------------------------------------------------------------------
# parse_policy_document: aws ecr get-lifecycle-policy output
# --------------------------------------------------------------------------------------------


def _cli_output(inner: Any) -> str:
    return json.dumps(
        {
            "registryId": "123456789012",
            "repositoryName": "app",
            "lifecyclePolicyText": inner,
            "lastEvaluatedAt": "2026-01-01T00:00:00+00:00",
        }
    )


def test_get_lifecycle_policy_output_is_parsed() -> None:
    inner = EXAMPLES["all-images-b"]
    assert parse_policy_document(_cli_output(inner)) == parse_policy(inner)


def test_plain_policy_is_parsed_by_parse_policy_document() -> None:
    inner = EXAMPLES["blog"]
    assert parse_policy_document(inner) == parse_policy(inner)


def test_inner_problems_are_reported_under_lifecycle_policy_text() -> None:
    inner = as_text(rule(1, "any", number=0), rule(2, "untagged", count_type="sinceImagePushed"))
    found = problems(_cli_output(inner), parse_policy_document)
    assert "positive integer" in message_at(
        found, f"lifecyclePolicyText.{R0}.selection.countNumber"
    )
    assert "required" in message_at(found, f"lifecyclePolicyText.{R1}.selection.countUnit")
    assert all(p.path.startswith("lifecyclePolicyText") for p in found)


def test_inner_json_syntax_error_is_reported_at_lifecycle_policy_text() -> None:
    found = problems(_cli_output('{"rules": ['), parse_policy_document)
    assert "not valid JSON" in message_at(found, "lifecyclePolicyText")


def test_inner_length_is_checked_not_the_outer_length() -> None:
    # Escaping the inner quotes makes the CLI output longer than the policy itself.
    inner = as_text(rule(1, "any", description='"' * 8_000))
    assert len(inner) <= 30_720 < len(_cli_output(inner))
    assert parse_policy_document(_cli_output(inner)).rules[0].description == '"' * 8_000


def test_inner_policy_over_the_length_limit_is_rejected() -> None:
    found = problems(_cli_output(_padded(30_721)), parse_policy_document)
    assert "30,721 characters" in message_at(found, "lifecyclePolicyText")


@pytest.mark.parametrize(
    "inner",
    [{"rules": [rule(1, "any")]}, [], 1, None, True],
    ids=["object", "array", "number", "null", "bool"],
)
def test_non_string_lifecycle_policy_text_is_rejected(inner: Any) -> None:
    found = problems(_cli_output(inner), parse_policy_document)
    assert "JSON string" in message_at(found, "lifecyclePolicyText")


# --------------------------------------------------------------------------------------------
# Several problems at once
# --------------------------------------------------------------------------------------------


def test_all_semantic_problems_of_a_policy_are_reported() -> None:
    found = rejects(
        rule(1, "tagged", prefixes=[]),
        rule(2, "tagged", "sinceImagePushed", 30, patterns=["a*b*c*d*e*f"]),
        rule(3, "untagged", number=0, unit="days"),
        rule(4, "any", "sinceImagePulled", 90, unit="days"),
    )
    paths = {p.path for p in found}
    assert {
        f"{R0}.selection",
        f"{R1}.selection.countUnit",
        f"{R1}.selection.tagPatternList[0]",
        "rules[2] (rulePriority 3).selection.countNumber",
        "rules[2] (rulePriority 3).selection.countUnit",
        "rules[3] (rulePriority 4).action.type",
    } <= paths


def test_all_shape_problems_of_a_policy_are_reported() -> None:
    first = rule(1, "any")
    first["selection"]["countUnit"] = "hours"
    second = rule(2, "any", number="3")
    second["action"]["extra"] = True
    found = problems({"rules": [first, second], "version": 1})
    assert {p.path for p in found} == {
        "version",
        f"{R0}.selection.countUnit",
        f"{R1}.selection.countNumber",
        f"{R1}.action.extra",
    }


def test_null_and_unknown_key_are_reported_together() -> None:
    first = rule(1, "untagged", "sinceImagePushed", 3, unit="days")
    first["selection"]["countUnit"] = None
    second = rule(2, "any")
    second["action"]["kind"] = "expire"
    found = problems({"rules": [first, second]})
    assert {p.path for p in found} == {f"{R0}.selection.countUnit", f"{R1}.action.kind"}


def test_input_error_text_lists_each_problem_as_path_and_message() -> None:
    with pytest.raises(InputError) as caught:
        parse_policy(as_text(rule(1, "any", number=0), rule(1, "untagged")))
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) >= 3
    assert all(line == str(p) for line, p in zip(lines, caught.value.problems, strict=True))
    assert f"{R0}.selection.countNumber: must be a positive integer (0 is not accepted)" in lines


def test_policy_from_data_validates_decoded_json() -> None:
    data = json.loads(EXAMPLES["combining-archive-and-expire"])
    assert policy_from_data(data) == parse_policy(EXAMPLES["combining-archive-and-expire"])
    with pytest.raises(InputError) as caught:
        policy_from_data({"rules": [archive_expire(1, "any", 30)]})
    assert "at least 90 days" in message_at(caught.value.problems, f"{R0}.selection.countNumber")
