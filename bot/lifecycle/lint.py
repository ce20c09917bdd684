"""Advice beyond validity: policies ECR accepts that do not do what people mean.

Each :class:`Finding` has a stable code, a severity, the rule it concerns, what happens, and a
concrete fix; where the fix is a policy change, ``fixed_policy`` holds the whole corrected policy.

=====  ========  ================================================================================
code   severity  finding
=====  ========  ================================================================================
LG001  warning   several prefixes or patterns in one rule are ANDed, not ORed
LG002  warning   a count rule ranks digests by first push: re-pushed release tags rank as old
LG003  warning   a rule can never act: a higher-priority rule selects all of its images
LG004  warning   an untagged/any expire rule deletes digests that lost a moving tag (ECS pins them)
LG005  warning   no rule keeps a rollback window of tagged images
LG006  info      an expire rule could archive instead (restorable)
LG007  warning   a prefix contains ``*``, which prefixes treat literally
LG008  info      a pattern without ``*`` matches one exact tag only
LG009  warning   ``sinceImagePulled`` archives images still running but not re-pulled
LG010  info      a count rule also counts images higher-priority rules already govern
LG011  info      an archive expiry rule with no rule that archives
=====  ========  ================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from bot.lifecycle.edit import insert_rules, remove_rule, replace_rule
from bot.lifecycle.explain import describe_selection, rule_name
from bot.lifecycle.guard import DEFAULT_KEEP_PREFIX, has_guard, is_any_guard, with_guard
from bot.lifecycle.matching import selection_contains
from bot.lifecycle.policy import Action, LifecyclePolicy, Rule, Selection
from bot.lifecycle.validate import MIN_DAYS_IN_ARCHIVE, check_policy


class Severity(IntEnum):
    """How much a finding matters; higher is worse."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The lower-case name used in output and in ``--fail-on``."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of advice about a policy.

    Example:
        >>> f = Finding("LG006", Severity.INFO, 2, "could archive", "...", "use transition",
        ...             other_rules=(5,))
        >>> f.severity.label, f.rule_priority, f.rule_priorities
        ('info', 2, (2, 5))
    """

    code: str
    severity: Severity
    rule_priority: int | None
    title: str
    detail: str
    fix: str
    fixed_policy: LifecyclePolicy | None = None
    other_rules: tuple[int, ...] = ()  # further rules the finding concerns

    @property
    def rule_priorities(self) -> tuple[int, ...]:
        """Every rule the finding concerns, by priority: ``rule_priority`` first."""
        first = () if self.rule_priority is None else (self.rule_priority,)
        return first + tuple(p for p in self.other_rules if p != self.rule_priority)


Check = Callable[[LifecyclePolicy], Iterator[Finding]]

_ARCHIVE_ACTION = Action.model_validate({"type": "transition", "targetStorageClass": "archive"})


def lint(policy: LifecyclePolicy) -> list[Finding]:
    """All findings for a valid policy, most severe first, then by rule priority.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod", "staging"],
        ...                 "countType": "sinceImagePushed", "countUnit": "days",
        ...                 "countNumber": 30}}]}''')
        >>> [f.code for f in lint(policy)]
        ['LG001', 'LG005', 'LG006']
    """
    findings = [finding for check in CHECKS for finding in check(policy)]
    return sorted(findings, key=lambda f: (-f.severity, f.rule_priority or 0, f.code))


def _valid(policy: LifecyclePolicy) -> LifecyclePolicy | None:
    """A proposed policy, or None when ``PutLifecyclePolicy`` would refuse it (50 rules...)."""
    return None if check_policy(policy, len(policy.to_json())) else policy


def _below(fixed: LifecyclePolicy | None) -> str:
    return " (fixed policy below)" if fixed is not None else ""


def _with_selection(rule: Rule, **changes: object) -> Rule:
    return rule.model_copy(update={"selection": rule.selection.model_copy(update=changes)})


def check_and_lists(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG001: a list with several entries selects images that match *all* of them."""
    for rule in policy.rules:
        entries = rule.selection.entries
        if len(entries) < 2:
            continue
        key = "tag_pattern_list" if rule.selection.uses_patterns else "tag_prefix_list"
        split = [_with_selection(rule, **{key: (entry,)}) for entry in entries]
        fixed = _valid(replace_rule(policy, rule.rule_priority, split))
        listed = " AND ".join(f'"{e}"' for e in entries)
        yield Finding(
            "LG001",
            Severity.WARNING,
            rule.rule_priority,
            "several tags in one rule are ANDed, not ORed",
            f"{_cap(rule_name(rule))} selects only images that carry a tag for each of {listed}. "
            f'An image tagged only "{entries[0]}…" is not selected, so the rule neither keeps nor '
            "expires it.",
            f"To select images with any of these tags, split the rule into {len(entries)} rules, "
            f"one entry each{_below(fixed)}. Keep the list only if every image really carries "
            "all of them.",
            fixed,
        )


def check_first_push_ranking(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG002: count rules rank digests by their first push, not by when a tag was added."""
    guarded = has_guard(policy, DEFAULT_KEEP_PREFIX)
    fixed = None if guarded else _valid(with_guard(policy, DEFAULT_KEEP_PREFIX))
    protect = "protect deployed releases with `ecr-lifeguard protect`"
    if guarded:
        protect += ", whose guard rule this policy already has"
    elif fixed is not None:
        protect += (
            f": it tags them {DEFAULT_KEEP_PREFIX}<digest>, and the guard rule that the fixed "
            "policy below puts first shields those tags from every other rule"
        )
    for rule in policy.rules:
        if not rule.selection.is_count_rule or rule.selection.tag_status == "untagged":
            continue
        yield Finding(
            "LG002",
            Severity.WARNING,
            rule.rule_priority,
            "count rule ranks digests by first push; re-pushed release tags rank as old",
            f"{_cap(rule_name(rule))} keeps the newest {rule.selection.count_number} "
            f"{describe_selection(rule.selection)} by the time each digest was first pushed. "
            "When a build reproduces an existing digest (a layer cache, a rebuild of unchanged "
            "code, a retag), the new release tag is added to the old image and keeps its old push "
            "time, so the newest release can be the first to expire.",
            "Make every build produce a unique digest (e.g. write the git revision into the image "
            f"as a LABEL or file), and {protect}. `ecr-lifeguard plan` marks the images caught "
            "this way.",
            fixed,
        )


def check_shadowed(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG003: a rule whose every image a higher-priority rule already identifies."""
    ordered = policy.by_priority()
    for index, rule in enumerate(ordered):
        shield = next(
            (
                earlier
                for earlier in ordered[:index]
                if earlier.selection.effective_storage_class
                == rule.selection.effective_storage_class
                and selection_contains(earlier.selection, rule.selection)
            ),
            None,
        )
        if shield is None:
            continue
        fixed = _valid(remove_rule(policy, rule.rule_priority))
        yield Finding(
            "LG003",
            Severity.WARNING,
            rule.rule_priority,
            "rule can never act",
            f"Every image {rule_name(rule)} selects ({describe_selection(rule.selection)}) is also "
            f"selected by {rule_name(shield)}, which has higher priority and shields it.",
            f"Remove {rule_name(rule)}{_below(fixed)}, or give it a priority above "
            f"{rule_name(shield)} if it was meant to apply first.",
            fixed,
            (shield.rule_priority,),
        )


def check_untagged_expiry(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG004: untagged or any-status expiry removes digests that lost a moving tag."""
    for rule in policy.rules:
        selection = rule.selection
        if rule.action.type != "expire" or selection.tag_status == "tagged":
            continue
        if selection.effective_storage_class == "archive":
            continue
        archive = _archive_instead(policy, [rule])
        yield Finding(
            "LG004",
            Severity.WARNING,
            rule.rule_priority,
            "expires images that became untagged when a tag moved",
            "When a mutable tag (latest, prod, a branch) moves to a new image, the previous "
            "digest becomes untagged. ECS resolves tags to digests at deployment, so a service "
            "keeps launching that untagged digest on scale-out and task replacement; "
            f"{rule_name(rule)} expires it ({_criterion(rule)}) and the next launch fails with "
            "`manifest unknown`.",
            "Archive instead of expiring, so that a digest still in use can be restored"
            f"{archive.below} Also keep untagged images longer than your longest-lived "
            "deployment, make tags immutable, and let `ecr-lifeguard scan` protect digests that "
            "are in use.",
            archive.policy,
        )


def check_rollback_window(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG005: nothing keeps the last few tagged images when age or count rules remove them."""
    removers = [
        r
        for r in policy.by_priority()
        if r.selection.effective_storage_class == "standard"
        and r.selection.tag_status != "untagged"
        and not is_any_guard(r)
    ]
    if not removers:
        return
    keepers = [r for r in removers if r.selection.is_count_rule]
    if any(r.selection.count_number >= 2 for r in keepers):
        return
    first = removers[0]
    keep_rule = Rule.model_validate(
        {
            "rulePriority": 1,
            "description": "Keep the last 10 release images (rollback window)",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["v*"],
                "countType": "imageCountMoreThan",
                "countNumber": 10,
            },
            "action": {"type": "expire"},
        }
    )
    fixed = _valid(insert_rules(policy, _leading_guards(policy), [keep_rule]))
    if fixed is not None:
        example = 'fixed policy below; adapt "v*" to your release tags'
    else:
        example = 'e.g. tagPatternList ["v*"] with imageCountMoreThan 10'
    yield Finding(
        "LG005",
        Severity.WARNING,
        first.rule_priority,
        "no rule keeps a rollback window",
        "No rule keeps a number of recent tagged images, so "
        f"{rule_name(first)} ({_criterion(first)}) can remove the release you would roll back to.",
        "Add, before the other rules, a count rule that keeps your recent releases; it shields "
        f"them from every lower rule ({example}).",
        fixed,
    )


def _leading_guards(policy: LifecyclePolicy) -> int:
    """How many guard rules come first: new rules go after them, so that they keep shielding."""
    count = 0
    for rule in policy.by_priority():
        if not is_any_guard(rule):
            break
        count += 1
    return count


def check_could_archive(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG006: expire rules on standard storage that could archive instead."""
    expiring = [
        r
        for r in policy.by_priority()
        if r.action.type == "expire"
        and r.selection.effective_storage_class == "standard"
        and not is_any_guard(r)
    ]
    if not expiring:
        return
    archive = _archive_instead(policy, expiring)
    names = _join_names(expiring)
    yield Finding(
        "LG006",
        Severity.INFO,
        expiring[0].rule_priority,
        "could archive instead of deleting",
        f"{_cap(names)} delete{'s' if len(expiring) == 1 else ''} images for good. Archived "
        "images cannot be pulled either, but `ecr-lifeguard restore` brings them back within "
        "about 20 minutes.",
        'Use "action": {"type": "transition", "targetStorageClass": "archive"} instead'
        f"{archive.below}",
        archive.policy,
        tuple(rule.rule_priority for rule in expiring[1:]),
    )


@dataclass(frozen=True, slots=True)
class _Archiving:
    """A policy changed to archive instead of expire (None if invalid), and what to say of it."""

    policy: LifecyclePolicy | None
    below: str  # ends the sentence that proposes archiving: where the policy is, how it deletes


def _archive_instead(policy: LifecyclePolicy, rules: list[Rule]) -> _Archiving:
    """``rules`` archive instead of expiring, and archived images are deleted after a while."""
    fixed = policy
    for rule in rules:
        transition = rule.model_copy(update={"action": _ARCHIVE_ACTION})
        fixed = replace_rule(fixed, rule.rule_priority, [transition])
    existing = [r for r in fixed.by_priority() if r.selection.effective_storage_class == "archive"]
    if existing:
        deletes = f"{_cap(_join_names(existing))} already deletes images from archive."
    else:
        fixed = insert_rules(fixed, len(fixed.rules), [_ARCHIVE_RULE])
        deletes = (
            "The fixed policy also deletes archived images after "
            f"{_ARCHIVE_RULE.selection.count_number} days in archive (sinceImageTransitioned; "
            f"archive bills at least {MIN_DAYS_IN_ARCHIVE} days, so use {MIN_DAYS_IN_ARCHIVE} or "
            "more)."
        )
    valid = _valid(fixed)
    return _Archiving(valid, f" (fixed policy below). {deletes}" if valid else ".")


_ARCHIVE_RULE = Rule.model_validate(
    {
        "rulePriority": 1,
        "description": f"Delete images archived more than {MIN_DAYS_IN_ARCHIVE * 2} days ago",
        "selection": {
            "tagStatus": "any",
            "storageClass": "archive",
            "countType": "sinceImageTransitioned",
            "countUnit": "days",
            "countNumber": MIN_DAYS_IN_ARCHIVE * 2,
        },
        "action": {"type": "expire"},
    }
)


def _join_names(rules: list[Rule]) -> str:
    names = [rule_name(rule) for rule in rules]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_literal_star_prefix(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG007: ``*`` in a prefix is a literal character, not a wildcard."""
    for rule in policy.rules:
        starred = [p for p in rule.selection.tag_prefix_list or () if "*" in p]
        if not starred:
            continue
        fixed = _valid(
            replace_rule(
                policy,
                rule.rule_priority,
                [
                    _with_selection(
                        rule,
                        tag_prefix_list=None,
                        tag_pattern_list=tuple(
                            p if "*" in p else p + "*" for p in rule.selection.tag_prefix_list or ()
                        ),
                    )
                ],
            )
        )
        yield Finding(
            "LG007",
            Severity.WARNING,
            rule.rule_priority,
            "wildcard in a prefix",
            f'{_cap(rule_name(rule))} has prefix "{starred[0]}": tagPrefixList matches the start '
            "of a tag literally, so no tag matches a `*` there.",
            f"Use tagPatternList, where `*` is a wildcard{_below(fixed)}.",
            fixed,
        )


def check_exact_patterns(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG008: a pattern without ``*`` matches only that exact tag."""
    for rule in policy.rules:
        patterns = rule.selection.tag_pattern_list or ()
        exact = [p for p in patterns if "*" not in p]
        if not exact:
            continue
        starred = tuple(p if "*" in p else p + "*" for p in patterns)
        fixed = _valid(
            replace_rule(
                policy, rule.rule_priority, [_with_selection(rule, tag_pattern_list=starred)]
            )
        )
        yield Finding(
            "LG008",
            Severity.INFO,
            rule.rule_priority,
            "pattern without a wildcard",
            f'{_cap(rule_name(rule))} has pattern "{exact[0]}", which matches that exact tag only.',
            f'If you meant tags that start with it, write "{exact[0]}*"{_below(fixed)}.',
            fixed,
        )


def check_pull_based_archive(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG009: ``sinceImagePulled`` sees long-running or cross-region use as no use."""
    for rule in policy.rules:
        if rule.selection.count_type != "sinceImagePulled":
            continue
        yield Finding(
            "LG009",
            Severity.WARNING,
            rule.rule_priority,
            "pull age misses images that run without being pulled",
            f"{_cap(rule_name(rule))} archives images not pulled for "
            f"{rule.selection.count_number} days. A task or pod that has run that long without a "
            "restart pulls nothing, and images used only from another region or account look "
            "unpulled here; once archived they cannot be pulled, so the next scale-out fails.",
            "Run `ecr-lifeguard scan` to protect images in use, or use sinceImagePushed with a "
            "window longer than your longest-running workload.",
        )


def check_shared_count(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG010: a lower count rule also counts images that higher rules govern."""
    ordered = policy.by_priority()
    for index, rule in enumerate(ordered):
        if not rule.selection.is_count_rule or index == 0:
            continue
        overlapping = [
            e
            for e in ordered[:index]
            if e.selection.effective_storage_class == rule.selection.effective_storage_class
            and _may_overlap(e.selection, rule.selection)
        ]
        if not overlapping:
            continue
        names = ", ".join(rule_name(e) for e in overlapping)
        yield Finding(
            "LG010",
            Severity.INFO,
            rule.rule_priority,
            "count rule counts images higher rules already govern",
            f"{_cap(rule_name(rule))} keeps the newest {rule.selection.count_number} of all the "
            f"images it selects, including those {names} already decide. Those can take its keep "
            "slots, so fewer of its own images survive than the number suggests (AWS "
            "documentation, 'Filtering on all images, Example B').",
            "Check the plan with `ecr-lifeguard plan`; raise countNumber by the number of images "
            "the higher rules keep, or narrow this rule's selection.",
            other_rules=tuple(e.rule_priority for e in overlapping),
        )


def check_archive_without_transition(policy: LifecyclePolicy) -> Iterator[Finding]:
    """LG011: an archive-class rule with nothing archiving images."""
    if any(r.action.type == "transition" for r in policy.rules):
        return
    for rule in policy.rules:
        if rule.selection.effective_storage_class == "archive":
            yield Finding(
                "LG011",
                Severity.INFO,
                rule.rule_priority,
                "archive rule with no archiving rule",
                f"{_cap(rule_name(rule))} deletes archived images, but no rule archives any: it "
                "acts only on images archived by hand.",
                "Fine if you archive by hand; otherwise add a transition rule.",
            )


def _may_overlap(first: Selection, second: Selection) -> bool:
    if "any" in (first.tag_status, second.tag_status):
        return True
    return first.tag_status == second.tag_status and (
        first.tag_status == "untagged"
        or selection_contains(first, second)
        or selection_contains(second, first)
    )


def _criterion(rule: Rule) -> str:
    selection = rule.selection
    if selection.is_count_rule:
        return f"keeps {selection.count_number}"
    unit = "day" if selection.count_number == 1 else "days"
    return f"after {selection.count_number} {unit}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


CHECKS: tuple[Check, ...] = (
    check_and_lists,
    check_first_push_ranking,
    check_shadowed,
    check_untagged_expiry,
    check_rollback_window,
    check_could_archive,
    check_literal_star_prefix,
    check_exact_patterns,
    check_pull_based_archive,
    check_shared_count,
    check_archive_without_transition,
)
