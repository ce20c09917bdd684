"""The lifecycle evaluator: what an ECR lifecycle policy will do to each image, and why.

This implements the evaluation rules of the ECR user guide (``ecr-behaviour.md`` §1.4):

1. Rules are applied in ascending ``rulePriority``. An image is acted on by at most one rule.
2. An image identified by a rule's tag selection (and storage class) can never be acted on by a
   lower-priority rule, even when the higher rule's count or age criterion does not select it.
   Hence every image is *governed* by the first rule that identifies it, and only that rule can act.
3. ``imageCountMoreThan`` ranks **all** identified images, including ones governed by higher rules,
   newest first by the time the digest was first pushed (``lastActivatedAt`` once restored), and
   selects those beyond ``countNumber``. Ties are broken by digest (UNCONFIRMED: AWS does not say).
4. Age rules select images strictly older than ``countNumber`` days at the evaluation instant:
   ``sinceImagePushed`` from the (effective) push, ``sinceImagePulled`` from the last pull with the
   documented fall-backs, ``sinceImageTransitioned`` from ``lastArchivedAt``.
5. An image referenced by an image index that is not itself removed is not removed; ECR records the
   failure ``ImageReferencedByManifestList``.

ECR acts within 24 hours of an image matching, so callers that warn should add that margin.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from operator import attrgetter

from bot.lifecycle.decisions import Decision, Evaluation, Outcome, RuleSummary, make_decision
from bot.lifecycle.images import Image, ImageStatus, gc_paused
from bot.lifecycle.matching import TagIndex
from bot.lifecycle.policy import LifecyclePolicy, Rule
from bot.lifecycle.timefmt import DAY

__all__ = ["Decision", "Evaluation", "Outcome", "RuleSummary", "evaluate"]


def evaluate(policy: LifecyclePolicy, images: Iterable[Image], now: float) -> Evaluation:
    """Evaluate ``policy`` against one repository's ``images`` at the instant ``now``.

    The result does not depend on the order of ``images``. Image indexes protect their children
    when :attr:`Image.children` is filled (see :func:`bot.lifecycle.inputs.attach_children`).

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"],
        ...                 "countType": "imageCountMoreThan", "countNumber": 1}}]}''')
        >>> a = Image("sha256:" + "a" * 64, ("prod-1",), 100.0)
        >>> b = Image("sha256:" + "b" * 64, ("prod-2",), 200.0)
        >>> [d.image.tags for d in evaluate(policy, [b, a], now=1000.0).acted()]
        [('prod-1',)]
    """
    with gc_paused():
        state = _State(rank_order(images))
        counts = [state.apply(rule, now) for rule in policy.by_priority()]
        decisions, blocked = _block_referenced_children(state.decisions())
    summaries = tuple(
        RuleSummary(rule, identified, governed, acted - blocked[id(rule)])
        for rule, identified, governed, acted in counts
    )
    return Evaluation(policy=policy, now=now, decisions=decisions, rules=summaries)


_effective_pushed_at = attrgetter("effective_pushed_at")
_digest_of = attrgetter("digest")
_status_of = attrgetter("status")
_tags_of = attrgetter("tags")


def rank_order(images: Iterable[Image]) -> list[Image]:
    """The images newest first, as count rules rank them; equal push times in digest order.

    UNCONFIRMED: AWS does not say how it orders images pushed at the same instant.

    Example:
        >>> older = Image("sha256:" + "b" * 64, (), 1.0)
        >>> newer = Image("sha256:" + "c" * 64, (), 2.0)
        >>> tie = Image("sha256:" + "a" * 64, (), 1.0)
        >>> [i.digest[7] for i in rank_order([older, tie, newer])]
        ['c', 'a', 'b']
    """
    pool = list(images)
    times = list(map(_effective_pushed_at, pool))
    if len(set(times)) == len(times):
        return [pool[i] for i in sorted(range(len(pool)), key=times.__getitem__, reverse=True)]
    ordered = sorted(pool, key=_digest_of)
    ordered.sort(key=_effective_pushed_at, reverse=True)  # stable: ties stay in digest order
    return ordered


class _State:
    """Per-evaluation working set: images in rank order, and the decision made for each."""

    def __init__(self, ordered: list[Image]) -> None:
        self.images = ordered
        self.tags = TagIndex(ordered)
        self.decided: list[Decision | None] = [None] * len(ordered)
        self.undecided: set[int] = set(range(len(ordered)))
        self.pushed = list(map(_effective_pushed_at, ordered))
        active = ImageStatus.ACTIVE
        self.storage_classes = [
            "standard" if status is active else "archive" for status in map(_status_of, ordered)
        ]
        untagged = [position for position, tags in enumerate(map(_tags_of, ordered)) if not tags]
        self.by_class: dict[str, list[int]] = {}
        self.untagged_by_class: dict[str, list[int]] = {}
        for storage_class in ("standard", "archive"):
            if self.storage_classes.count(storage_class) == len(ordered):
                self.by_class[storage_class] = list(range(len(ordered)))
                self.untagged_by_class[storage_class] = untagged
            else:
                self.by_class[storage_class] = self._in_class(range(len(ordered)), storage_class)
                self.untagged_by_class[storage_class] = self._in_class(untagged, storage_class)

    def _in_class(self, positions: Iterable[int], storage_class: str) -> list[int]:
        classes = self.storage_classes
        return [p for p in positions if classes[p] == storage_class]

    def identify(self, rule: Rule) -> list[int]:
        """Positions, in rank order, of the images the rule's tag selection and class identify."""
        selection = rule.selection
        storage_class = selection.effective_storage_class
        if selection.tag_status == "any":
            return self.by_class[storage_class]
        if selection.tag_status == "untagged":
            return self.untagged_by_class[storage_class]
        positions = sorted(self.tags.positions_selected(selection))
        if len(self.by_class[storage_class]) == len(self.images):
            return positions
        return self._in_class(positions, storage_class)

    def apply(self, rule: Rule, now: float) -> tuple[Rule, int, int, int]:
        """Decide the undecided images this rule identifies.

        Returns the rule and its counts: identified, governed, acted on.
        """
        identified = self.identify(rule)
        undecided = self.undecided
        if undecided.issuperset(identified):
            governed = list(enumerate(identified))
        else:
            governed = [(rank, p) for rank, p in enumerate(identified) if p in undecided]
        if rule.selection.is_count_rule:
            acted = self._decide_by_count(rule, governed, len(identified))
        else:
            acted = self._decide_by_age(rule, governed, now)
        undecided.difference_update([p for _, p in governed])
        return rule, len(identified), len(governed), acted

    def _decide_by_count(self, rule: Rule, governed: list[tuple[int, int]], total: int) -> int:
        keep = rule.selection.count_number
        act, stay = _action_outcome(rule), Outcome.KEEP
        images, decided = self.images, self.decided
        for rank, position in governed:
            decided[position] = make_decision(
                images[position], act if rank >= keep else stay, rule, rank, total, None
            )
        return sum(1 for rank, _ in governed if rank >= keep)

    def _decide_by_age(self, rule: Rule, governed: list[tuple[int, int]], now: float) -> int:
        threshold = now - rule.selection.count_number * DAY
        act, stay = _action_outcome(rule), Outcome.KEEP
        images, decided, acted = self.images, self.decided, 0
        if rule.selection.count_type == "sinceImagePushed":
            references = map(self.pushed.__getitem__, [p for _, p in governed])
        else:
            references = map(
                _AGE_REFERENCES[rule.selection.count_type], (images[p] for _, p in governed)
            )
        for (_, position), since in zip(governed, references, strict=True):
            image = images[position]
            if since is not None and since < threshold:
                decided[position] = make_decision(image, act, rule, None, 0, since)
                acted += 1
            else:
                decided[position] = make_decision(image, stay, rule, None, 0, since)
        return acted

    def decisions(self) -> list[Decision]:
        """Every image's decision, in rank order; images no rule identifies are kept."""
        keep = Outcome.KEEP
        return [
            decision if decision is not None else make_decision(image, keep, None, None, 0, None)
            for image, decision in zip(self.images, self.decided, strict=True)
        ]


def _action_outcome(rule: Rule) -> Outcome:
    return Outcome.TRANSITION if rule.action.type == "transition" else Outcome.EXPIRE


def _archived_at(image: Image) -> float | None:
    return None if image.status is ImageStatus.ACTIVE else image.last_archived_at


_AGE_REFERENCES: dict[str, Callable[[Image], float | None]] = {
    "sinceImagePushed": attrgetter("effective_pushed_at"),
    "sinceImagePulled": attrgetter("pull_reference_at"),
    "sinceImageTransitioned": _archived_at,
}


def _block_referenced_children(
    decisions: list[Decision],
) -> tuple[tuple[Decision, ...], Counter[int]]:
    """Turn removals of images that a staying image index references into BLOCKED decisions.

    Repeated until nothing changes, so that an index which is itself blocked (a nested index)
    keeps its own children too. Returns the decisions and, per governing rule (keyed by ``id``),
    how many were blocked.
    """
    parents: dict[str, list[str]] = defaultdict(list)
    for decision in decisions:
        for child in decision.image.children:
            parents[child].append(decision.image.digest)
    blocked: Counter[int] = Counter()
    if not parents:
        return tuple(decisions), blocked
    current = {d.image.digest: d for d in decisions}
    changed = True
    while changed:
        changed = False
        for digest, holders_of in parents.items():
            pending = current.get(digest)
            if pending is None or not pending.acted:
                continue
            holders = tuple(
                parent
                for parent in holders_of
                if parent in current and _parent_holds(current[parent], pending.outcome)
            )
            if holders:
                blocked[id(pending.rule)] += 1
                current[digest] = dataclasses.replace(
                    pending, outcome=Outcome.BLOCKED, blocked_by=holders
                )
                changed = True
    return tuple(current[d.image.digest] for d in decisions), blocked


def _parent_holds(parent: Decision, child_outcome: Outcome) -> bool:
    """Whether an image index that references an image prevents the image's removal.

    An index that is expired releases its children. An index that is archived (or being archived)
    releases them for archiving, not for deletion.
    """
    if parent.outcome is Outcome.EXPIRE:
        return False
    parent_archived = (
        parent.outcome is Outcome.TRANSITION or parent.image.status is not ImageStatus.ACTIVE
    )
    return not (child_outcome is Outcome.TRANSITION and parent_archived)
