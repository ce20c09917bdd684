"""A deliberately naive reference of ECR lifecycle evaluation, independent of ``bot.lifecycle``.

Written from the §1.4 pseudo-code of ``/work/shared/reference/ecr-behaviour.md``: per rule in
priority order, identify images by storage class and tag selection, pick candidates over *all*
identified images, and let a rule act only on images no higher-priority rule identified; then hold
back removals of images that a staying image index references.

It shares only vocabulary with the engine (the parsed policy model, :class:`Image`, the
:class:`Outcome` names) and none of its logic, tag matching included. Two users:

* ``tests/unit/test_properties.py`` compares the engine with it on generated repositories;
* ``tests/support/ecr_fake.py`` answers ``GetLifecyclePolicyPreview`` with it, so comparing the
  engine with "AWS's" preview compares two independent implementations.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.lifecycle.decisions import Outcome
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.policy import LifecyclePolicy, Rule, Selection

DAY = 86_400.0


@dataclass(frozen=True)
class Ref:
    """What the reference decides for one image, in the evaluator's vocabulary."""

    outcome: Outcome
    priority: int | None
    rank: int | None
    identified: int
    measured_from: float | None
    blocked_by: frozenset[str]


def ref_storage_class(image: Image) -> str:
    # Archived and being-restored images are in archive storage (§3).
    return "standard" if image.status == ImageStatus.ACTIVE else "archive"


def ref_effective_push(image: Image) -> float:
    return image.last_activated_at if image.last_activated_at is not None else image.pushed_at


def ref_pull_reference(image: Image) -> float:
    restored, pulled = image.last_activated_at, image.last_pulled_at
    if restored is not None and (pulled is None or pulled < restored):
        return restored
    return pulled if pulled is not None else image.pushed_at


def ref_age_since(count_type: str, image: Image) -> float | None:
    if count_type == "sinceImagePushed":
        return ref_effective_push(image)
    if count_type == "sinceImagePulled":
        return ref_pull_reference(image)
    assert count_type == "sinceImageTransitioned"
    return image.last_archived_at if ref_storage_class(image) == "archive" else None


def ref_entry_matches(entry: str, is_pattern: bool, tag: str) -> bool:
    """A prefix matches the tags that start with it; a pattern is a whole-tag glob where only
    ``*`` is special (any run of characters, possibly none)."""
    if not is_pattern:
        return tag.startswith(entry)
    return (
        re.fullmatch(".*".join(re.escape(part) for part in entry.split("*")), tag, re.S) is not None
    )


def ref_tags_match(selection: Selection, tags: Sequence[str]) -> bool:
    """tagStatus and the ANDed prefix or pattern entries: every entry matches some tag."""
    if selection.tag_status == "any":
        return True
    if selection.tag_status == "untagged":
        return not tags
    is_pattern = selection.tag_pattern_list is not None
    entries = selection.tag_pattern_list or selection.tag_prefix_list or ()
    return bool(tags) and all(
        any(ref_entry_matches(entry, is_pattern, tag) for tag in tags) for entry in entries
    )


def ref_identifies(rule: Rule, image: Image) -> bool:
    """The rule's storage class and tag selection both take the image in."""
    selection = rule.selection
    return ref_storage_class(image) == (selection.storage_class or "standard") and (
        ref_tags_match(selection, image.tags)
    )


def ref_releases(parent_outcome: Outcome, parent: Image, child_outcome: Outcome) -> bool:
    """Whether an index's own fate lets ECR remove a child it references (§1.4).

    "It cannot be expired or archived without the manifest list being deleted or archived first":
    read distributively, a deleted index releases its children; an archived (or being archived)
    index releases them for archiving only.
    """
    if parent_outcome is Outcome.EXPIRE:
        return True
    parent_archived = parent_outcome is Outcome.TRANSITION or ref_storage_class(parent) == "archive"
    return parent_archived and child_outcome is Outcome.TRANSITION


@dataclass(frozen=True)
class RuleView:
    """What one rule sees: the images it identifies, and the figures its criterion uses."""

    identified: list[Image]
    candidates: list[Image]
    ranks: dict[str, int]
    since: dict[str, float | None]


def ref_apply(rule: Rule, images: Sequence[Image], now: float) -> RuleView:
    """Identify, then select candidates over ALL identified images (shielded ones included)."""
    selection = rule.selection
    identified = [image for image in images if ref_identifies(rule, image)]
    if selection.count_type == "imageCountMoreThan":
        # Newest first; equal times fall back to digest order (the evaluator's documented
        # tie-break; AWS does not say, §1.4).
        ranked = sorted(identified, key=lambda i: (-ref_effective_push(i), i.digest))
        ranks = {image.digest: n for n, image in enumerate(ranked)}
        return RuleView(identified, ranked[selection.count_number :], ranks, {})
    since = {i.digest: ref_age_since(selection.count_type, i) for i in identified}
    limit = selection.count_number * DAY
    candidates = [i for i in identified if (s := since[i.digest]) is not None and now - s > limit]
    return RuleView(identified, candidates, {}, since)


def ref_holders(images: Sequence[Image], planned: dict[str, Outcome]) -> dict[str, frozenset[str]]:
    """For each planned removal, the indexes that reference the image and stay."""
    parents: dict[str, list[Image]] = defaultdict(list)
    for image in images:
        for child in image.children:
            parents[child].append(image)
    return {
        digest: frozenset(
            p.digest
            for p in parents[digest]
            if not ref_releases(planned.get(p.digest, Outcome.KEEP), p, outcome)
        )
        for digest, outcome in planned.items()
    }


def reference(policy: LifecyclePolicy, images: Sequence[Image], now: float) -> dict[str, Ref]:
    claimed: dict[str, Rule] = {}
    shielded: set[str] = set()
    result = {image.digest: Ref(Outcome.KEEP, None, None, 0, None, frozenset()) for image in images}
    for rule in sorted(policy.rules, key=lambda r: r.rule_priority):
        view = ref_apply(rule, images, now)
        for image in view.identified:
            if image.digest not in shielded:  # the first rule to identify an image governs it
                result[image.digest] = Ref(
                    Outcome.KEEP,
                    rule.rule_priority,
                    view.ranks.get(image.digest),
                    len(view.identified) if view.ranks else 0,
                    view.since.get(image.digest),
                    frozenset(),
                )
        for image in view.candidates:
            if image.digest not in claimed and image.digest not in shielded:
                claimed[image.digest] = rule
        shielded |= {image.digest for image in view.identified}
    planned = {
        digest: Outcome.TRANSITION if rule.action.type == "transition" else Outcome.EXPIRE
        for digest, rule in claimed.items()
    }
    for digest, holders in ref_holders(images, planned).items():
        outcome = Outcome.BLOCKED if holders else planned[digest]
        result[digest] = replace(result[digest], outcome=outcome, blocked_by=holders)
    return result
