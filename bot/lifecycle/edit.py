"""Policy edits that keep a policy valid: insert or replace rules, renumbering as few as possible.

ECR applies rules by ascending ``rulePriority``, and priorities must be unique. Inserting a rule at
a place in that order therefore sometimes needs later rules to move down; these helpers keep the
order of every existing rule and change as few priorities as they can.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.lifecycle.policy import LifecyclePolicy, Rule


def renumber(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """Give rules strictly increasing priorities in the given order, changing as few as possible.

    A rule keeps its priority when it is above the previous one; otherwise it moves to the
    previous priority plus one.

    Example:
        >>> from bot.lifecycle.policy import Rule
        >>> def rule(p):
        ...     return Rule.model_validate({"rulePriority": p, "action": {"type": "expire"},
        ...         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                       "countNumber": 1}})
        >>> [r.rule_priority for r in renumber([rule(1), rule(1), rule(2), rule(10)])]
        [1, 2, 3, 10]
    """
    result: list[Rule] = []
    previous = 0
    for rule in rules:
        priority = rule.rule_priority if rule.rule_priority > previous else previous + 1
        result.append(rule if priority == rule.rule_priority else _with_priority(rule, priority))
        previous = priority
    return tuple(result)


def _with_priority(rule: Rule, priority: int) -> Rule:
    return rule.model_copy(update={"rule_priority": priority})


def insert_rules(policy: LifecyclePolicy, index: int, new_rules: Sequence[Rule]) -> LifecyclePolicy:
    """Insert rules at ``index`` in priority order (0 = before every rule), renumbering the rest.

    The priorities given in ``new_rules`` are only hints: they are replaced so that the new rules
    sit exactly at ``index``.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 5}}]}''')
        >>> keep = policy.rules[0].model_copy(update={"description": "new"})
        >>> [(r.rule_priority, r.description) for r in insert_rules(policy, 0, [keep]).rules]
        [(1, 'new'), (2, None)]
    """
    ordered = list(policy.by_priority())
    floor = ordered[index - 1].rule_priority if index > 0 else 0
    placed = [_with_priority(rule, floor + n) for n, rule in enumerate(new_rules, 1)]
    return LifecyclePolicy(rules=renumber([*ordered[:index], *placed, *ordered[index:]]))


def replace_rule(
    policy: LifecyclePolicy, priority: int, replacements: Sequence[Rule]
) -> LifecyclePolicy:
    """Replace the rule with ``priority`` by one or more rules at the same place in the order.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "tagged", "tagPrefixList": ["a", "b"],
        ...                 "countType": "imageCountMoreThan", "countNumber": 5}}]}''')
        >>> rule = policy.rules[0]
        >>> split = [rule.model_copy(update={"selection": rule.selection.model_copy(
        ...     update={"tag_prefix_list": (p,)})}) for p in ("a", "b")]
        >>> [(r.rule_priority, r.selection.tag_prefix_list) for r in
        ...  replace_rule(policy, 1, split).rules]
        [(1, ('a',)), (2, ('b',))]
    """
    ordered = list(policy.by_priority())
    index = next(i for i, rule in enumerate(ordered) if rule.rule_priority == priority)
    placed = [_with_priority(rule, priority + n) for n, rule in enumerate(replacements)]
    return LifecyclePolicy(rules=renumber([*ordered[:index], *placed, *ordered[index + 1 :]]))


def remove_rule(policy: LifecyclePolicy, priority: int) -> LifecyclePolicy:
    """The policy without the rule that has ``priority``; the others keep their priorities.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
        ...                 "countNumber": 5}}, {"rulePriority": 4, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> [r.rule_priority for r in remove_rule(policy, 1).rules]
        [4]
    """
    return LifecyclePolicy(
        rules=tuple(rule for rule in policy.by_priority() if rule.rule_priority != priority)
    )
