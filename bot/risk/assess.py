"""Join a lifecycle evaluation with the inventory: which in-use images are at risk, and when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.inventory.models import ResolvedUse
from bot.lifecycle.decisions import Decision, Evaluation, Outcome
from bot.lifecycle.explain import Explainer
from bot.lifecycle.timefmt import DAY
from bot.refs import RepositoryKey
from bot.risk.models import Risk, RiskWhen

DEFAULT_HORIZON = 7 * DAY
DEFAULT_PUSH_MARGIN = 2


def assess(
    repository: RepositoryKey,
    evaluation: Evaluation,
    uses: Mapping[str, Sequence[ResolvedUse]],
    *,
    horizon: float = DEFAULT_HORIZON,
    push_margin: int = DEFAULT_PUSH_MARGIN,
) -> list[Risk]:
    """The risks of one repository, most severe first.

    An in-use image is at risk when the policy expires or archives it now, when an age rule
    reaches it within ``horizon`` seconds, or when ``push_margin`` or fewer matching pushes would
    push it out of a count rule. An image an index keeps (BLOCKED) is not at risk.

    Example:
        >>> from bot.inventory.models import Consumer, ImageUse, ResolvedUse, UseKind
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.refs import ImageRef
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 14}}]}''')
        >>> image = Image("sha256:" + "a" * 64, ("v1",), 0.0)
        >>> use = ImageUse(ImageRef("app", "v1"), UseKind.RUNNING, Consumer("k8s-pod", "web"))
        >>> result = evaluate(policy, [image], now=10 * 86_400.0)
        >>> [r.when.kind for r in assess(RepositoryKey("1", "r", "app"), result,
        ...                               {image.digest: [ResolvedUse(use, image.digest)]})]
        ['at']
    """
    explainer = Explainer(evaluation)
    decisions = evaluation.by_digest()
    risks = []
    for digest, resolved in uses.items():
        decision = decisions.get(digest)
        if decision is None or not resolved:
            continue
        when = _when(decision, evaluation.now, horizon, push_margin)
        if when is not None:
            reason = explainer.explain(decision)
            risks.append(Risk(repository, decision, tuple(resolved), reason, when))
    return sorted(risks, key=_urgency)


def _when(decision: Decision, now: float, horizon: float, push_margin: int) -> RiskWhen | None:
    rule = decision.rule
    if rule is None or decision.outcome is Outcome.BLOCKED:
        return None
    if decision.acted:
        return RiskWhen("now", rule_priority=rule.rule_priority)
    eligible = decision.eligible_at
    if eligible is not None and eligible <= now + horizon:
        return RiskWhen("at", at=eligible, rule_priority=rule.rule_priority)
    headroom = decision.headroom
    if headroom is not None and headroom < push_margin:
        return RiskWhen("after_pushes", pushes=headroom + 1, rule_priority=rule.rule_priority)
    return None


def _urgency(risk: Risk) -> tuple[int, int, float, str]:
    timing = {"now": 0, "at": 1, "after_pushes": 2}[risk.when.kind]
    return (-risk.severity, timing, risk.when.at or 0.0, risk.digest)


def aws_only_risks(
    repository: RepositoryKey,
    evaluation: Evaluation,
    uses: Mapping[str, Sequence[ResolvedUse]],
    aws_acts: Mapping[str, int],
    already: Sequence[Risk],
) -> list[Risk]:
    """In-use images AWS's lifecycle preview acts on (digest → rule priority) that the local
    evaluation keeps: at risk too, since either side expiring an image is enough.

    Example:
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 5}}]}''')
        >>> aws_only_risks(RepositoryKey("1", "r", "app"), evaluate(policy, [], 0.0), {}, {}, [])
        []
    """
    policy = evaluation.policy
    rules = {rule.rule_priority: rule for rule in policy.rules} if policy is not None else {}
    known = {risk.digest for risk in already}
    found: list[Risk] = []
    for decision in evaluation.decisions:
        digest = decision.image.digest
        priority = aws_acts.get(digest)
        if priority is None or digest not in uses or digest in known or decision.acted:
            continue
        rule = rules.get(priority)
        outcome = (
            Outcome.TRANSITION
            if rule is not None and rule.action.type == "transition"
            else Outcome.EXPIRE
        )
        found.append(
            Risk(
                repository,
                replace(decision, outcome=outcome, rule=rule),
                tuple(uses[digest]),
                f"AWS's lifecycle preview says rule {priority} acts on it, though the local "
                "evaluation keeps it: treated as at risk until they agree.",
                RiskWhen("now"),
            )
        )
    return found
