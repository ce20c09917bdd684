"""The evaluation as JSON shaped like ``GetLifecyclePolicyPreview``, plus explanations.

``previewResults`` and ``summary`` use the field names and values of the AWS API, so the output can
be diffed against a real preview. The extra top-level keys carry what AWS does not say:

* ``images``: every image with its outcome, governing rule, reason, headroom and eligibility time;
* ``failures``: images ECR would refuse to remove (``ImageReferencedByManifestList``);
* ``rules``: per rule, how many images it identifies, governs and acts on;
* ``evaluatedAt``: the evaluation instant.
"""

from __future__ import annotations

from typing import Any

from bot.lifecycle.decisions import MANIFEST_LIST_FAILURE, Decision, Evaluation, Outcome
from bot.lifecycle.explain import Explainer, describe_rule
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
    assert decision.rule is not None
    action: dict[str, str] = {"type": decision.outcome.value.upper()}
    if decision.outcome is Outcome.TRANSITION:
        action["targetStorageClass"] = "ARCHIVE"
    return {
        "imageDigest": decision.image.digest,
        "imageTags": list(decision.image.tags),
        "imagePushedAt": iso(decision.image.pushed_at),
        "action": action,
        "appliedRulePriority": decision.rule.rule_priority,
        "storageClass": decision.image.storage_class.upper(),
    }


def preview_summary(evaluation: Evaluation) -> dict[str, Any]:
    """The ``summary`` object: expiring count and per-target transitioning counts.

    ``transitioningImageTotalCounts`` is always present (empty when nothing is archived), where
    AWS leaves it out; everything else matches the API.
    """
    acted = list(evaluation.acted())
    transitions = sum(1 for d in acted if d.outcome is Outcome.TRANSITION)
    return {
        "expiringImageTotalCount": sum(1 for d in acted if d.outcome is Outcome.EXPIRE),
        "transitioningImageTotalCounts": (
            [{"targetStorageClass": "ARCHIVE", "imageTotalCount": transitions}]
            if transitions
            else []
        ),
    }


def image_entry(decision: Decision, explainer: Explainer) -> dict[str, Any]:
    """The explanation of one image, for the ``images`` list."""
    entry: dict[str, Any] = {
        "imageDigest": decision.image.digest,
        "imageTags": list(decision.image.tags),
        "imagePushedAt": iso(decision.image.pushed_at),
        "imageStatus": decision.image.status.value,
        "outcome": decision.outcome.value.upper(),
        "governingRulePriority": decision.rule.rule_priority if decision.rule else None,
        "reason": explainer.explain(decision),
    }
    if decision.rank is not None:
        entry["rank"] = decision.rank + 1
        entry["identifiedCount"] = decision.identified
    if decision.headroom is not None:
        entry["headroom"] = decision.headroom
    if decision.eligible_at is not None and not decision.acted:
        entry["eligibleAt"] = iso(decision.eligible_at)
    return entry


def preview_document(evaluation: Evaluation, *, include_kept: bool = False) -> dict[str, Any]:
    """The whole JSON document ``ecr-lifeguard plan --format json`` prints.

    ``images`` explains the images acted on and the blocked ones; with ``include_kept`` it
    explains every image.

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
    explainer = Explainer(evaluation)
    acted = sorted(
        evaluation.acted(),
        key=lambda d: (d.rule.rule_priority if d.rule else 0, d.image.effective_pushed_at),
    )
    return {
        "evaluatedAt": iso(evaluation.now),
        "previewResults": [preview_result(d) for d in acted],
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
        "images": [
            image_entry(d, explainer)
            for d in evaluation.decisions
            if include_kept or d.outcome is not Outcome.KEEP
        ],
    }
