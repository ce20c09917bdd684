"""The guard rule: a top-priority rule that selects keep tags and never expires them (pure).

``protect`` puts a keep tag (``keep-<short digest>``) on an image. That tag only shields the image
if a rule that selects it comes before every other rule: a rule's tag selection shields an image
from all lower-priority rules. The guard rule selects the keep prefix and only acts on images
pushed more than 100 years ago, so in practice it never expires anything.
"""

from __future__ import annotations

from bot.lifecycle.edit import insert_rules, renumber
from bot.lifecycle.policy import LifecyclePolicy, Rule

GUARD_DAYS = 36_500
GUARD_DESCRIPTION = "ecr-lifeguard: keep protected images (never expires them)"
DEFAULT_KEEP_PREFIX = "keep-"  # the default of ``protect.tag_prefix``
_NEVER_DAYS = 3_650


def guard_rule(prefix: str) -> Rule:
    """The guard rule for a keep-tag prefix (its priority is set when it is inserted).

    Example:
        >>> guard_rule("keep-").selection.tag_prefix_list
        ('keep-',)
    """
    return Rule.model_validate(
        {
            "rulePriority": 1,
            "description": GUARD_DESCRIPTION,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [prefix],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": GUARD_DAYS,
            },
            "action": {"type": "expire"},
        }
    )


def is_guard(rule: Rule, prefix: str) -> bool:
    """Whether a rule selects exactly the keep prefix and never (in practice) acts.

    Example:
        >>> is_guard(guard_rule("keep-"), "keep-"), is_guard(guard_rule("keep-"), "pin-")
        (True, False)
    """
    selection = rule.selection
    selects_prefix = selection.tag_status == "tagged" and (
        selection.tag_prefix_list == (prefix,) or selection.tag_pattern_list == (prefix + "*",)
    )
    never = selection.count_type == "sinceImagePushed" and selection.count_number >= _NEVER_DAYS
    return (
        selects_prefix
        and never
        and rule.action.type == "expire"
        and selection.effective_storage_class == "standard"
    )


def is_any_guard(rule: Rule) -> bool:
    """Whether a rule is a guard rule for some keep prefix (one prefix, never acts in practice).

    Example:
        >>> is_any_guard(guard_rule("pin-")), is_any_guard(guard_rule("keep-"))
        (True, True)
    """
    selection = rule.selection
    entries = selection.entries
    if len(entries) != 1:
        return False
    prefix = entries[0] if selection.tag_prefix_list else entries[0].removesuffix("*")
    return bool(prefix) and is_guard(rule, prefix)


def has_guard(policy: LifecyclePolicy, prefix: str) -> bool:
    """Whether the policy's first standard-storage rule is a guard for ``prefix``."""
    standard = [
        r for r in policy.by_priority() if r.selection.effective_storage_class == "standard"
    ]
    return bool(standard) and is_guard(standard[0], prefix)


def with_guard(policy: LifecyclePolicy, prefix: str) -> LifecyclePolicy:
    """The policy with the guard rule first; other rules keep their order (renumbered if needed).

    A guard already present lower down is moved to the top rather than duplicated.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 5}}]}''')
        >>> [(r.rule_priority, r.description) for r in with_guard(policy, "keep-").rules]
        [(1, 'ecr-lifeguard: keep protected images (never expires them)'), (2, None)]
    """
    others = [rule for rule in policy.by_priority() if not is_guard(rule, prefix)]
    if not others:
        return LifecyclePolicy(rules=renumber([guard_rule(prefix)]))
    return insert_rules(LifecyclePolicy(rules=tuple(others)), 0, [guard_rule(prefix)])


def keep_tag(prefix: str, digest: str) -> str:
    """The keep tag of an image: the prefix and the first 12 hex digits of its digest.

    Example:
        >>> keep_tag("keep-", "sha256:ec1477a7420a97a789dd4b778a0a1141a6c6ba9314fce70599c134964121960c")
        'keep-ec1477a7420a'
    """  # noqa: E501
    return prefix + digest.removeprefix("sha256:")[:12]
