"""The validation rules ``PutLifecyclePolicy`` applies beyond the JSON shape.

Source: ECR user guide, "Lifecycle policy properties" and "Lifecycle policy evaluation rules"
(``shared/reference/ecr-behaviour.md`` §1.2-§1.3). Each check returns :class:`Problem` entries
whose path names the rule (by index and ``rulePriority``) and the field, and whose message says
what to do.

Rules marked DERIVED or UNCONFIRMED in the specification are kept as named constants or single
functions here so that they can change in one place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from bot.lifecycle.policy import TIME_COUNT_TYPES, LifecyclePolicy, Rule, Selection
from bot.lifecycle.problems import Problem

MAX_RULES = 50
MAX_POLICY_CHARACTERS = 30_720
MAX_WILDCARDS_PER_PATTERN = 4
# UNCONFIRMED: the guide says a policy "cannot" delete images archived for less than 90 days,
# which suggests PutLifecyclePolicy rejects a smaller countNumber for sinceImageTransitioned.
MIN_DAYS_IN_ARCHIVE = 90


def rule_label(index: int, priority: object) -> str:
    """The path prefix for a rule: its position and, when it has a valid one, its priority.

    Example:
        >>> rule_label(1, 5)
        'rules[1] (rulePriority 5)'
    """
    if isinstance(priority, int) and not isinstance(priority, bool):
        return f"rules[{index}] (rulePriority {priority})"
    return f"rules[{index}]"


def check_policy(policy: LifecyclePolicy, text_length: int | None = None) -> list[Problem]:
    """All validation problems of a policy whose shape is already valid.

    Example:
        >>> from bot.lifecycle.policy import LifecyclePolicy
        >>> rule = {"rulePriority": 1, "action": {"type": "expire"},
        ...         "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan",
        ...                       "countNumber": 1}}
        >>> [str(p) for p in check_policy(LifecyclePolicy.model_validate({"rules": [rule]}))]
        ['rules[0] (rulePriority 1).selection: tagStatus "tagged" needs tagPatternList or tagPrefixList (e.g. "tagPatternList": ["prod*"])']
    """  # noqa: E501
    problems = list(_check_policy_level(policy, text_length))
    for index, rule in enumerate(policy.rules):
        label = rule_label(index, rule.rule_priority)
        problems.extend(
            Problem(f"{label}.{field}" if field else label, message)
            for field, message in _check_rule(rule)
        )
    return problems


def _check_policy_level(policy: LifecyclePolicy, text_length: int | None) -> Iterator[Problem]:
    if text_length is not None and text_length > MAX_POLICY_CHARACTERS:
        yield Problem(
            "",
            f"the policy text is {text_length:,} characters; ECR accepts at most "
            f"{MAX_POLICY_CHARACTERS:,} (remove whitespace or merge rules)",
        )
    if not policy.rules:
        yield Problem("rules", "a policy needs at least one rule")
    if len(policy.rules) > MAX_RULES:
        yield Problem("rules", f"{len(policy.rules)} rules; ECR allows at most {MAX_RULES}")
    yield from _check_unique_priorities(policy)
    for storage_class in ("standard", "archive"):
        rules = [
            (i, r)
            for i, r in enumerate(policy.rules)
            if r.selection.effective_storage_class == storage_class
        ]
        yield from _check_any_is_last(rules, storage_class)
        yield from _check_one_untagged(rules, storage_class)
        yield from _check_unique_prefix_sets(rules, storage_class)


def _check_unique_priorities(policy: LifecyclePolicy) -> Iterator[Problem]:
    counts = Counter(rule.rule_priority for rule in policy.rules)
    for index, rule in enumerate(policy.rules):
        if counts[rule.rule_priority] > 1:
            yield Problem(
                f"{rule_label(index, rule.rule_priority)}.rulePriority",
                f"priority {rule.rule_priority} is used by {counts[rule.rule_priority]} rules; "
                "every rule needs its own rulePriority",
            )


def _check_any_is_last(rules: list[tuple[int, Rule]], storage_class: str) -> Iterator[Problem]:
    if not rules:
        return
    highest = max(rule.rule_priority for _, rule in rules)
    for index, rule in rules:
        if rule.selection.tag_status == "any" and rule.rule_priority != highest:
            yield Problem(
                f"{rule_label(index, rule.rule_priority)}.rulePriority",
                f'a tagStatus "any" rule must have the highest rulePriority of the '
                f"{storage_class} rules ({highest} is higher); give it a number above {highest}",
            )


def _check_one_untagged(rules: list[tuple[int, Rule]], storage_class: str) -> Iterator[Problem]:
    untagged = [(i, r) for i, r in rules if r.selection.tag_status == "untagged"]
    for index, rule in untagged[1:]:
        first = untagged[0][1].rule_priority
        yield Problem(
            f"{rule_label(index, rule.rule_priority)}.selection.tagStatus",
            f"only one {storage_class} rule may select untagged images, and rule {first} "
            "already does; merge the two rules",
        )


def _check_unique_prefix_sets(
    rules: list[tuple[int, Rule]], storage_class: str
) -> Iterator[Problem]:
    # The guide: "The set of all rules selecting a specific storage class must contain a unique
    # set of prefixes". UNCONFIRMED whether overlapping lists are refused; identical ones are.
    seen: dict[frozenset[str], int] = {}
    for index, rule in rules:
        prefixes = rule.selection.tag_prefix_list
        if not prefixes:
            continue
        key = frozenset(prefixes)
        if key in seen:
            yield Problem(
                f"{rule_label(index, rule.rule_priority)}.selection.tagPrefixList",
                f"rule {seen[key]} already selects the same {storage_class} prefixes "
                f"{sorted(key)}; each rule needs a unique set of prefixes",
            )
        else:
            seen[key] = rule.rule_priority


def _check_rule(rule: Rule) -> Iterator[tuple[str, str]]:
    if rule.rule_priority < 1:
        yield "rulePriority", "must be a positive integer (1 is applied first)"
    yield from _check_tag_selection(rule.selection)
    yield from _check_count(rule.selection)
    yield from _check_storage_class(rule.selection)
    yield from _check_action(rule)


def _check_tag_selection(selection: Selection) -> Iterator[tuple[str, str]]:
    prefixes, patterns = selection.tag_prefix_list, selection.tag_pattern_list
    if prefixes is not None and patterns is not None:
        yield "selection", "use either tagPatternList or tagPrefixList in one rule, not both"
    if selection.tag_status == "tagged":
        if not prefixes and not patterns:
            yield (
                "selection",
                'tagStatus "tagged" needs tagPatternList or tagPrefixList '
                '(e.g. "tagPatternList": ["prod*"])',
            )
    else:
        for name, value in (("tagPrefixList", prefixes), ("tagPatternList", patterns)):
            if value is not None:
                yield (
                    f"selection.{name}",
                    f'not allowed with tagStatus "{selection.tag_status}"; remove it, or use '
                    '"tagged" to select by tag',
                )
    yield from _check_entries("tagPrefixList", prefixes)
    yield from _check_entries("tagPatternList", patterns)
    for position, pattern in enumerate(patterns or ()):
        wildcards = pattern.count("*")
        if wildcards > MAX_WILDCARDS_PER_PATTERN:
            yield (
                f"selection.tagPatternList[{position}]",
                f'"{pattern}" has {wildcards} wildcards; ECR allows at most '
                f"{MAX_WILDCARDS_PER_PATTERN} per pattern",
            )


def _check_entries(name: str, entries: tuple[str, ...] | None) -> Iterator[tuple[str, str]]:
    for position, entry in enumerate(entries or ()):
        if not entry:
            yield f"selection.{name}[{position}]", "must not be an empty string"
        elif entry != entry.strip() or any(ord(c) < 32 for c in entry):
            yield (
                f"selection.{name}[{position}]",
                f"{entry!r} contains whitespace or control characters, which no tag can have",
            )


def _check_count(selection: Selection) -> Iterator[tuple[str, str]]:
    if selection.count_number < 1:
        yield "selection.countNumber", "must be a positive integer (0 is not accepted)"
    if selection.count_type in TIME_COUNT_TYPES:
        if selection.count_unit is None:
            yield (
                "selection.countUnit",
                f'required with countType "{selection.count_type}"; add "countUnit": "days"',
            )
    elif selection.count_unit is not None:
        yield (
            "selection.countUnit",
            f"only allowed with sinceImagePushed, sinceImagePulled or sinceImageTransitioned, "
            f'not "{selection.count_type}"; remove it',
        )


def _check_storage_class(selection: Selection) -> Iterator[tuple[str, str]]:
    if selection.count_type == "sinceImageTransitioned":
        if selection.storage_class != "archive":
            yield (
                "selection.storageClass",
                'countType "sinceImageTransitioned" needs "storageClass": "archive"',
            )
        if 1 <= selection.count_number < MIN_DAYS_IN_ARCHIVE:
            yield (
                "selection.countNumber",
                f"archived images must stay in archive at least {MIN_DAYS_IN_ARCHIVE} days before "
                f"lifecycle may delete them; use {MIN_DAYS_IN_ARCHIVE} or more",
            )
    elif selection.storage_class == "archive":
        yield (
            "selection.storageClass",
            f'"archive" is only allowed with countType "sinceImageTransitioned", not '
            f'"{selection.count_type}"; use "standard" or omit it',
        )


def _check_action(rule: Rule) -> Iterator[tuple[str, str]]:
    action, count_type = rule.action, rule.selection.count_type
    if action.type == "transition" and action.target_storage_class is None:
        yield "action", 'type "transition" needs "targetStorageClass": "archive"'
    if action.type == "expire" and action.target_storage_class is not None:
        yield "action.targetStorageClass", 'only allowed with type "transition"; remove it'
    if count_type == "sinceImagePulled" and action.type != "transition":
        yield (
            "action.type",
            'countType "sinceImagePulled" only works with "transition" to archive; to delete '
            "unpulled images, archive them first and expire them with sinceImageTransitioned",
        )
    if count_type == "sinceImageTransitioned" and action.type != "expire":
        yield "action.type", 'countType "sinceImageTransitioned" only works with "expire"'
