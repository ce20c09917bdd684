"""AWS's lifecycle preview against the local evaluation of the same policy, image by image.

``GetLifecyclePolicyPreview`` lists only the images the policy acts on; an image of the repository
that it does not list is one AWS keeps. So every image of the local evaluation gets AWS's answer
("expire by rule 1", or kept) and the two answers are compared:

* a **difference** is an image both sides know whose answers differ (action or rule);
* **only local**: images AWS's preview cannot have seen, pushed after ``aws_as_of`` (when the
  preview started) and absent from its results; they are reported, not counted as differences;
* **only AWS**: preview results for images the local evaluation does not have (deleted, or
  pushed, between the two reads).

Evaluate the local side at the instant the preview ran, or age rules can differ at their boundary.
An image the local evaluation holds back because an image index that stays references it
(:attr:`~bot.lifecycle.decisions.Outcome.BLOCKED`) is compared as selected by its rule: the
preview reports what the policy matches, and ECR records such images as failures only when it
runs (UNCONFIRMED: AWS does not document how previews show them).

Pure: standard library and :mod:`bot.lifecycle` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.lifecycle.decisions import Decision, Evaluation, Outcome
from bot.refs import RepositoryKey


@dataclass(frozen=True, slots=True)
class PreviewedImage:
    """One ``previewResults`` entry: what AWS's preview says the policy does to an image.

    ``action`` is ``EXPIRE`` or ``TRANSITION`` (then ``target_storage_class`` is ``ARCHIVE``);
    ``storage_class`` is where the image is now (``STANDARD`` or ``ARCHIVE``).
    """

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    action: str
    rule_priority: int
    storage_class: str = "STANDARD"
    target_storage_class: str | None = None

    @property
    def answer(self) -> Answer:
        """AWS's answer for this image."""
        return Answer(self.action, self.rule_priority)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one side says happens to an image now: an action by a rule, or kept (both None).

    Example:
        >>> str(Answer("EXPIRE", 1)), str(Answer()), str(Answer("EXPIRE", 2, held_back=True))
        ('expire (rule 1)', 'kept', 'expire (rule 2, held back by an image index)')
    """

    action: str | None = None
    rule_priority: int | None = None
    held_back: bool = False

    @property
    def kept(self) -> bool:
        """True when the image stays where it is."""
        return self.action is None

    def same_as(self, other: Answer) -> bool:
        """True when both answers take the same action by the same rule (or both keep)."""
        return (self.action, self.rule_priority) == (other.action, other.rule_priority)

    def __str__(self) -> str:
        if self.action is None:
            return "kept"
        held = ", held back by an image index" if self.held_back else ""
        return f"{self.action.lower()} (rule {self.rule_priority}{held})"


KEPT = Answer()


def local_answer(decision: Decision) -> Answer:
    """The local evaluation's answer for one image.

    Example:
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 3, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> old, new = Image("sha256:" + "a" * 64, (), 1.0), Image("sha256:" + "b" * 64, (), 2.0)
        >>> result = evaluate(policy, [old, new], now=3.0)
        >>> str(local_answer(result.decision(old.digest))), str(local_answer(result.decision(new.digest)))
        ('expire (rule 3)', 'kept')
    """  # noqa: E501
    selected = decision.acted or decision.outcome is Outcome.BLOCKED
    if not selected or decision.rule is None:
        return KEPT
    return Answer(
        decision.rule.action.type.upper(),
        decision.rule.rule_priority,
        held_back=decision.outcome is Outcome.BLOCKED,
    )


@dataclass(frozen=True, slots=True)
class Difference:
    """An image on which AWS's preview and the local evaluation disagree, with both answers."""

    digest: str
    tags: tuple[str, ...]
    aws: Answer
    local: Answer

    def describe(self) -> str:
        """One line for logs and the audit channel.

        Example:
            >>> Difference("sha256:ec14", ("v1",), Answer("EXPIRE", 1), Answer()).describe()
            "sha256:ec14 (v1): AWS's lifecycle preview: expire (rule 1); ECR Lifeguard: kept"
        """
        tags = ", ".join(self.tags[:3]) + (f" +{len(self.tags) - 3}" if len(self.tags) > 3 else "")
        named = f"{self.digest} ({tags})" if tags else f"{self.digest} (untagged)"
        return f"{named}: AWS's lifecycle preview: {self.aws}; ECR Lifeguard: {self.local}"


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    ``compared`` images were known to both sides; ``differences`` lists those whose answers
    differ. ``only_local`` are digests AWS's preview cannot have seen, ``only_aws`` the preview
    results for images the local evaluation does not have.
    """

    differences: tuple[Difference, ...]
    only_local: tuple[str, ...]
    only_aws: tuple[PreviewedImage, ...]
    compared: int

    @property
    def agrees(self) -> bool:
        """True when no image known to both sides gets different answers."""
        return not self.differences

    @property
    def counts(self) -> dict[str, int]:
        """The figures, by name, for metrics and logs."""
        return {
            "compared": self.compared,
            "agreed": self.compared - len(self.differences),
            "differences": len(self.differences),
            "only_local": len(self.only_local),
            "only_aws": len(self.only_aws),
        }

    def describe(self) -> str:
        """One line that sums the comparison up.

        Example:
            >>> Comparison((), (), (), compared=17).describe()
            "AWS's lifecycle preview agrees with ECR Lifeguard on all 17 images"
        """
        extra = []
        if self.only_local:
            extra.append(f"{len(self.only_local)} pushed after the preview started")
        if self.only_aws:
            extra.append(f"{len(self.only_aws)} no longer in the local listing")
        tail = f" (not compared: {', '.join(extra)})" if extra else ""
        images = "image" if self.compared == 1 else "images"
        if not self.compared:
            return f"AWS's lifecycle preview and ECR Lifeguard had no image in common{tail}"
        if self.agrees:
            every = "the one image" if self.compared == 1 else f"all {self.compared} images"
            return f"AWS's lifecycle preview agrees with ECR Lifeguard on {every}{tail}"
        return (
            f"AWS's lifecycle preview differs from ECR Lifeguard on {len(self.differences)} of "
            f"{self.compared} {images}{tail}"
        )


def compare(
    aws: Iterable[PreviewedImage], local: Evaluation, *, aws_as_of: float | None = None
) -> Comparison:
    """Compare AWS's preview results with the local evaluation of the same policy.

    ``aws_as_of`` is when the preview started (epoch seconds): images first pushed later than
    that and absent from the preview are ``only_local``. Without it, every local image counts as
    seen by AWS.

    Example:
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> old, new = Image("sha256:" + "a" * 64, (), 1.0), Image("sha256:" + "b" * 64, (), 2.0)
        >>> local = evaluate(policy, [old, new], now=3.0)
        >>> aws = [PreviewedImage(old.digest, (), 1.0, "EXPIRE", 1)]
        >>> compare(aws, local).agrees
        True
        >>> [d.local for d in compare([], local).differences]
        [Answer(action='EXPIRE', rule_priority=1, held_back=False)]
    """
    previewed = {image.digest: image for image in aws}
    differences: list[Difference] = []
    only_local: list[str] = []
    compared = 0
    for decision in local.decisions:
        digest = decision.image.digest
        seen = previewed.get(digest)
        if seen is None and aws_as_of is not None and decision.image.pushed_at > aws_as_of:
            only_local.append(digest)
            continue
        compared += 1
        theirs, ours = (seen.answer if seen else KEPT), local_answer(decision)
        if not theirs.same_as(ours):
            differences.append(Difference(digest, decision.image.tags, theirs, ours))
    known = {d.image.digest for d in local.decisions}
    return Comparison(
        differences=tuple(differences),
        only_local=tuple(only_local),
        only_aws=tuple(image for image in previewed.values() if image.digest not in known),
        compared=compared,
    )


@dataclass(frozen=True, slots=True)
class PreviewSummary:
    """``summary``: how many images the policy expires, and how many it archives."""

    expiring: int
    transitioning: int


@dataclass(frozen=True)
class LifecyclePreview:
    """AWS's preview of one repository's lifecycle policy.

    ``results`` are the images the policy acts on (an image not listed is kept);
    ``policy_text`` is the policy the preview used; ``started_at`` (epoch seconds) is when this
    preview was started or, when one was already running, when it was joined.
    """

    repository: RepositoryKey
    policy_text: str
    results: tuple[PreviewedImage, ...]
    summary: PreviewSummary
    started_at: float
