"""What an evaluation decides: an outcome per image, with the facts that explain it.

These are plain frozen dataclasses (not pydantic models): an evaluation of a large repository
creates one :class:`Decision` per image, and they must be cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from bot.lifecycle.images import Image
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


_EXPIRE, _TRANSITION = Outcome.EXPIRE, Outcome.TRANSITION


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one image.

    ``rule`` is the governing rule: the highest-priority rule whose selection identifies the image,
    the only rule that can act on it (None when no rule selects it). For count rules ``rank`` is the
    image's 0-based position among the ``identified`` images, newest first; for age rules
    ``measured_from`` is the instant the age is measured from.

    Example:
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> from bot.lifecycle.images import Image
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
        outcome = self.outcome
        return outcome is _EXPIRE or outcome is _TRANSITION

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


_new = object.__new__
_set_image, _set_outcome, _set_rule, _set_rank, _set_identified, _set_measured_from = (
    Decision.__dict__[name].__set__
    for name in ("image", "outcome", "rule", "rank", "identified", "measured_from")
)
_set_blocked_by = Decision.__dict__["blocked_by"].__set__


def make_decision(  # noqa: PLR0917 (positional on purpose: one call per image)
    image: Image,
    outcome: Outcome,
    rule: Rule | None,
    rank: int | None,
    identified: int,
    measured_from: float | None,
) -> Decision:
    """``Decision(...)`` with every field but ``blocked_by`` given positionally, faster.

    The evaluator makes one decision per image; this sets the slots directly instead of going
    through the frozen dataclass's per-field ``object.__setattr__``. The result is the same.

    Example:
        >>> image = Image("sha256:" + "a" * 64, (), 0.0)
        >>> make_decision(image, Outcome.KEEP, None, None, 0, None) == Decision(image, Outcome.KEEP)
        True
    """
    decision = _new(Decision)
    _set_image(decision, image)
    _set_outcome(decision, outcome)
    _set_rule(decision, rule)
    _set_rank(decision, rank)
    _set_identified(decision, identified)
    _set_measured_from(decision, measured_from)
    _set_blocked_by(decision, ())
    return decision


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
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 1}}]}''')
        >>> from bot.lifecycle.images import Image
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
