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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.matching import TagIndex
from bot.lifecycle.policy import LifecyclePolicy, Rule
from bot.lifecycle.timefmt import DAY

MANIFEST_LIST_FAILURE = "ImageReferencedByManifestList"


class Outcome(StrEnum):
    """What happens to an image at this evaluation."""

    EXPIRE = "expire"
    TRANSITION = "transition"
    KEEP = "keep"
    BLOCKED = "blocked"  # selected, but an image index that stays references it

    @property
    def removes(self) -> bool:
        """True when the image leaves its current storage class (deleted or archived)."""
        return self in (Outcome.EXPIRE, Outcome.TRANSITION)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one image.

    ``rule`` is the governing rule: the highest-priority rule whose selection identifies the image,
    the only rule that can act on it (None when no rule selects it). For count rules ``rank`` is the
    image's 0-based position among the ``identified`` images, newest first; for age rules
    ``measured_from`` is the instant the age is measured from.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> old = Image("sha256:" + "a" * 64, ("v1",), 100.0)
        >>> new = Image("sha256:" + "b" * 64, ("v2",), 200.0)
        >>> d = evaluate(policy, [old, new], now=300.0).decision(old.digest)
        >>> d.outcome, d.rank, d.identified
        (<Outcome.EXPIRE: 'expire'>, 1, 2)
    """

    image: Image
    outcome: Outcome
    rule: Rule | None = None
    rank: int | None = None
    identified: int = 0
    measured_from: float | None = None
    blocked_by: tuple[str, ...] = ()

    @property
    def acted(self) -> bool:
        """True when ECR will expire or archive the image at this evaluation."""
        return self.outcome.removes

    @property
    def eligible_at(self) -> float | None:
        """For age rules: the instant the image becomes older than the rule's threshold."""
        if self.rule is None or self.measured_from is None:
            return None
        return self.measured_from + self.rule.selection.count_number * DAY

    @property
    def headroom(self) -> int | None:
        """For count rules: how many more newer matching images may arrive before this one goes.

        0 means the next matching push removes it; None when it is already selected or the
        governing rule is not a count rule.
        """
        if self.rule is None or self.rank is None or self.acted:
            return None
        return max(self.rule.selection.count_number - self.rank - 1, 0)


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """How one rule fared: images it identifies, images it governs, images it acts on."""

    rule: Rule
    identified: int
    governed: int
    acted: int


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation: a decision per image, newest image first.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 1}}]}''')
        >>> result = evaluate(policy, [Image("sha256:" + "c" * 64, (), 0.0)], now=2 * 86400.0)
        >>> [d.image.digest[:9] for d in result.acted()]
        ['sha256:cc']
    """

    policy: LifecyclePolicy
    now: float
    decisions: tuple[Decision, ...]
    rules: tuple[RuleSummary, ...]

    def acted(self) -> Iterator[Decision]:
        """The decisions that expire or archive an image."""
        return (d for d in self.decisions if d.acted)

    def blocked(self) -> Iterator[Decision]:
        """The decisions ECR records as failures (``ImageReferencedByManifestList``)."""
        return (d for d in self.decisions if d.outcome is Outcome.BLOCKED)

    def decision(self, digest: str) -> Decision:
        """The decision for one digest; ``KeyError`` when the digest was not evaluated."""
        for decision in self.decisions:
            if decision.image.digest == digest:
                return decision
        raise KeyError(digest)

    def by_digest(self) -> dict[str, Decision]:
        """All decisions keyed by image digest."""
        return {d.image.digest: d for d in self.decisions}


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
    ordered = sorted(images, key=lambda image: (-image.effective_pushed_at, image.digest))
    state = _State(ordered)
    counts = [state.apply(rule, now) for rule in policy.by_priority()]
    decisions = _block_referenced_children(state.decisions())
    acted = Counter(id(d.rule) for d in decisions if d.acted)
    summaries = tuple(
        RuleSummary(rule, identified, governed, acted[id(rule)])
        for rule, identified, governed in counts
    )
    return Evaluation(policy=policy, now=now, decisions=decisions, rules=summaries)


class _State:
    """Per-evaluation working set: images in rank order, and who governs each position."""

    def __init__(self, ordered: Sequence[Image]) -> None:
        self.images = ordered
        self.tags = TagIndex(ordered)
        self.decided: list[Decision | None] = [None] * len(ordered)
        self.undecided: set[int] = set(range(len(ordered)))
        self.by_class: dict[str, list[int]] = defaultdict(list)
        self.untagged_by_class: dict[str, list[int]] = defaultdict(list)
        for position, image in enumerate(ordered):
            self.by_class[image.storage_class].append(position)
            if not image.tags:
                self.untagged_by_class[image.storage_class].append(position)

    def identify(self, rule: Rule) -> list[int]:
        selection = rule.selection
        storage_class = selection.effective_storage_class
        if selection.tag_status == "any":
            return self.by_class[storage_class]
        if selection.tag_status == "untagged":
            return self.untagged_by_class[storage_class]
        images = self.images
        return sorted(
            p
            for p in self.tags.positions_selected(selection)
            if images[p].storage_class == storage_class
        )

    def apply(self, rule: Rule, now: float) -> tuple[Rule, int, int]:
        """Decide the undecided images this rule identifies; return (rule, identified, governed)."""
        identified = self.identify(rule)
        undecided = self.undecided
        governed = [(rank, p) for rank, p in enumerate(identified) if p in undecided]
        if rule.selection.is_count_rule:
            decide = _count_decider(rule, len(identified))
        else:
            decide = _age_decider(rule, now)
        for rank, position in governed:
            self.decided[position] = decide(self.images[position], rank)
            undecided.discard(position)
        return rule, len(identified), len(governed)

    def decisions(self) -> list[Decision]:
        return [
            decision if decision is not None else Decision(image, Outcome.KEEP)
            for image, decision in zip(self.images, self.decided, strict=True)
        ]


def _action_outcome(rule: Rule) -> Outcome:
    return Outcome.TRANSITION if rule.action.type == "transition" else Outcome.EXPIRE


Decider = Callable[[Image, int], Decision]


def _count_decider(rule: Rule, identified: int) -> Decider:
    keep = rule.selection.count_number
    act = _action_outcome(rule)

    def decide(image: Image, rank: int) -> Decision:
        outcome = act if rank >= keep else Outcome.KEEP
        return Decision(image, outcome, rule, rank=rank, identified=identified)

    return decide


def _age_decider(rule: Rule, now: float) -> Decider:
    threshold = now - rule.selection.count_number * DAY
    act = _action_outcome(rule)
    count_type = rule.selection.count_type

    def decide(image: Image, rank: int) -> Decision:
        measured_from = _age_reference(image, count_type)
        selected = measured_from is not None and measured_from < threshold
        return Decision(image, act if selected else Outcome.KEEP, rule, measured_from=measured_from)

    return decide


def _age_reference(image: Image, count_type: str) -> float | None:
    if count_type == "sinceImagePushed":
        return image.effective_pushed_at
    if count_type == "sinceImagePulled":
        return image.pull_reference_at
    if image.status is ImageStatus.ACTIVE:
        return None
    return image.last_archived_at


def _block_referenced_children(decisions: list[Decision]) -> tuple[Decision, ...]:
    parents: dict[str, list[Decision]] = defaultdict(list)
    for decision in decisions:
        for child in decision.image.children:
            parents[child].append(decision)
    if not parents:
        return tuple(decisions)
    result = []
    for decision in decisions:
        holders = tuple(
            parent.image.digest
            for parent in parents.get(decision.image.digest, ())
            if decision.acted and _parent_holds(parent, decision.outcome)
        )
        result.append(_blocked(decision, holders) if holders else decision)
    return tuple(result)


def _blocked(decision: Decision, holders: tuple[str, ...]) -> Decision:
    return dataclasses.replace(decision, outcome=Outcome.BLOCKED, blocked_by=holders)


def _parent_holds(parent: Decision, child_outcome: Outcome) -> bool:
    """Whether an image index that references an image prevents the image's removal."""
    if parent.outcome is Outcome.EXPIRE:
        return False
    parent_archived = (
        parent.outcome is Outcome.TRANSITION or parent.image.status is not ImageStatus.ACTIVE
    )
    return not (child_outcome is Outcome.TRANSITION and parent_archived)
