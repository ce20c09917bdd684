"""The evaluation as JSON shaped like ``GetLifecyclePolicyPreview``, plus explanations.

``previewResults`` and ``summary`` use the field names and values of the AWS API, so the output can
be diffed against a real preview. The extra top-level keys carry what AWS does not say:

* ``images``: every image with its outcome, governing rule, reason, headroom and eligibility time;
* ``failures``: images ECR would refuse to remove (``ImageReferencedByManifestList``);
* ``rules``: per rule, how many images it identifies, governs and acts on;
* ``evaluatedAt``: the evaluation instant.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any

from bot.lifecycle.decisions import MANIFEST_LIST_FAILURE, Decision, Evaluation, Outcome
from bot.lifecycle.explain import Explainer, describe_rule
from bot.lifecycle.images import ImageStatus, gc_paused
from bot.lifecycle.timefmt import iso


def preview_result(decision: Decision) -> dict[str, Any]:
    """One ``previewResults`` entry for an image the policy acts on.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 1}}]}''')
        >>> d = evaluate(policy, [Image("sha256:" + "a" * 64, ("v1",), 0.0)], now=9e5).decisions[0]
        >>> preview_result(d)["action"], preview_result(d)["storageClass"]
        ({'type': 'EXPIRE'}, 'STANDARD')
    """
    return preview_results([decision], [iso(decision.image.pushed_at)])[0]


def preview_results(decisions: list[Decision], pushed_at: list[str]) -> list[dict[str, Any]]:
    """The ``previewResults`` entries of decisions that act (``pushed_at``: ``imagePushedAt``)."""
    actions, active = _ACTIONS, _ACTIVE
    return [
        {
            "imageDigest": image.digest,
            "imageTags": list(image.tags),
            "imagePushedAt": pushed,
            "action": actions[decision.outcome].copy(),
            "appliedRulePriority": priority,
            "storageClass": "STANDARD" if image.status is active else "ARCHIVE",
        }
        for decision, image, priority, pushed in zip(
            decisions,
            map(_image_of, decisions),
            map(_priority_of, decisions),  # every decision that acts has its rule
            pushed_at,
            strict=True,
        )
    ]


_ACTIVE = ImageStatus.ACTIVE
_KEEP = Outcome.KEEP
_ACTIONS: dict[Outcome, dict[str, str]] = {  # copied into each entry
    Outcome.EXPIRE: {"type": "EXPIRE"},
    Outcome.TRANSITION: {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"},
    Outcome.BLOCKED: {"type": "BLOCKED"},
    Outcome.KEEP: {"type": "KEEP"},
}
_OUTCOMES = {outcome: outcome.value.upper() for outcome in Outcome}
_STATUSES = {status: status.value for status in ImageStatus}


def preview_summary(evaluation: Evaluation) -> dict[str, Any]:
    """The ``summary`` object: expiring count and per-target transitioning counts.

    ``transitioningImageTotalCounts`` is always present (empty when nothing is archived), where
    AWS leaves it out; everything else matches the API.
    """
    outcomes = Counter(d.outcome for d in evaluation.decisions)
    transitions = outcomes[Outcome.TRANSITION]
    return {
        "expiringImageTotalCount": outcomes[Outcome.EXPIRE],
        "transitioningImageTotalCounts": (
            [{"targetStorageClass": "ARCHIVE", "imageTotalCount": transitions}]
            if transitions
            else []
        ),
    }


def image_entry(decision: Decision, explainer: Explainer) -> dict[str, Any]:
    """The explanation of one image, for the ``images`` list."""
    return image_entries([decision], explainer)[0]


def image_entries(
    decisions: list[Decision], explainer: Explainer, pushed_at: list[str] | None = None
) -> list[dict[str, Any]]:
    """The ``images`` entries of many decisions (``pushed_at``: their ``imagePushedAt`` texts).

    Built column by column: a plan lists up to hundreds of thousands of them.
    """
    if pushed_at is None:
        pushed_at = list(map(iso, map(_pushed_at, decisions)))
    reasons = list(map(explainer.explain, decisions))
    entries = [
        {
            "imageDigest": image.digest,
            "imageTags": list(image.tags),
            "imagePushedAt": pushed,
            "imageStatus": _STATUSES[image.status],
            "outcome": _OUTCOMES[decision.outcome],
            "governingRulePriority": None if rule is None else rule.rule_priority,
            "reason": reason,
        }
        for decision, image, rule, pushed, reason in zip(
            decisions,
            map(_image_of, decisions),
            map(_rule_of, decisions),
            pushed_at,
            reasons,
            strict=True,
        )
    ]
    for entry, decision in zip(entries, decisions, strict=True):
        rank = decision.rank
        if rank is not None:
            entry["rank"] = rank + 1
            entry["identifiedCount"] = decision.identified
            headroom = decision.headroom
            if headroom is not None:
                entry["headroom"] = headroom
        elif decision.measured_from is not None and not decision.acted:
            entry["eligibleAt"] = iso(decision.eligible_at or 0.0)
    return entries


_image_of = attrgetter("image")
_rule_of = attrgetter("rule")
_priority_of = attrgetter("rule.rule_priority")
_pushed_at = attrgetter("image.pushed_at")


def preview_document(evaluation: Evaluation, *, include_kept: bool = False) -> dict[str, Any]:
    """The whole JSON document ``ecr-lifeguard plan --format json`` prints.

    ``images`` explains the images acted on and the blocked ones; with ``include_kept`` it
    explains every image. :func:`preview_sections` gives the same document a chunk at a time.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> imgs = [Image("sha256:" + c * 64, (c,), t) for c, t in (("a", 1.0), ("b", 2.0))]
        >>> doc = preview_document(evaluate(policy, imgs, now=3.0))
        >>> doc["summary"]["expiringImageTotalCount"], doc["previewResults"][0]["imageTags"]
        (1, ['a'])
    """
    with gc_paused():
        sections = preview_sections(evaluation, include_kept=include_kept)
        return {
            key: list(chain.from_iterable(value)) if isinstance(value, Chunks) else value
            for key, value in sections.items()
        }


CHUNK = 10_000  # entries made at a time by preview_sections


@dataclass(frozen=True)
class Chunks:
    """A list too long to hold at once (one entry per image): iterate it for its chunks."""

    make: Callable[[], Iterator[list[dict[str, Any]]]]

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        return self.make()


def preview_sections(
    evaluation: Evaluation, *, include_kept: bool = False, chunk: int = CHUNK
) -> dict[str, Any]:
    """The document of :func:`preview_document`, its two per-image lists as :class:`Chunks`.

    A writer can then hold one chunk of entries at a time instead of a few hundred megabytes
    for a large repository.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 1}}]}''')
        >>> imgs = [Image("sha256:" + c * 64, (c,), t) for c, t in (("a", 1.0), ("b", 2.0))]
        >>> sections = preview_sections(evaluate(policy, imgs, now=3.0))
        >>> [len(chunk) for chunk in sections["images"]]
        [1]
    """
    listed = [d for d in evaluation.decisions if include_kept or d.outcome is not _KEEP]
    pushed_at = list(map(iso, map(_pushed_at, listed)))
    text_of = dict(zip(map(id, listed), pushed_at, strict=True))  # shared by both lists
    acted = _acted_in_preview_order(evaluation)
    explainer = Explainer(evaluation)

    def preview_chunks() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(acted), chunk):
            part = acted[start : start + chunk]
            yield preview_results(part, [text_of[id(d)] for d in part])

    def image_chunks() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(listed), chunk):
            end = start + chunk
            yield image_entries(listed[start:end], explainer, pushed_at[start:end])

    return {
        "evaluatedAt": iso(evaluation.now),
        "previewResults": Chunks(preview_chunks),
        "summary": preview_summary(evaluation),
        "failures": [
            {
                "imageDigest": d.image.digest,
                "imageTags": list(d.image.tags),
                "appliedRulePriority": d.rule.rule_priority if d.rule else None,
                "failureCode": MANIFEST_LIST_FAILURE,
                "failureReason": "Requested image referenced by manifest list: ["
                + ", ".join(d.blocked_by)
                + "]",
            }
            for d in evaluation.blocked()
        ],
        "rules": [
            {
                "rulePriority": s.rule.rule_priority,
                "description": describe_rule(s.rule),
                "identifiedCount": s.identified,
                "governedCount": s.governed,
                "actedCount": s.acted,
            }
            for s in evaluation.rules
        ],
        "images": Chunks(image_chunks),
    }


def _acted_in_preview_order(evaluation: Evaluation) -> list[Decision]:
    """The decisions that act, by rule priority, then oldest first (as AWS lists them)."""
    by_rule: dict[int, list[Decision]] = defaultdict(list)
    for decision in evaluation.acted():
        by_rule[id(decision.rule)].append(decision)
    ordered: list[Decision] = []
    for summary in sorted(evaluation.rules, key=lambda s: s.rule.rule_priority):
        group = by_rule.get(id(summary.rule), [])
        group.sort(key=_effective_pushed_at)  # stable: equal times keep their rank order
        ordered += group
    return ordered


_effective_pushed_at = attrgetter("image.effective_pushed_at")
