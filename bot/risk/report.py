"""Risks as JSON: the document ``ecr-lifeguard scan --format json`` prints (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bot.inventory.models import ResolvedUse
from bot.lifecycle.timefmt import iso
from bot.risk.models import Risk


def consumer_json(use: ResolvedUse) -> dict[str, Any]:
    """One consumer of an image at risk."""
    consumer = use.consumer
    document: dict[str, Any] = {
        "kind": consumer.kind,
        "name": consumer.name,
        "use": use.kind.name.lower(),
    }
    for key, value in (
        ("account", consumer.account),
        ("region", consumer.region),
        ("cluster", consumer.cluster),
        ("namespace", consumer.namespace),
        ("channel", consumer.channel),
        ("detail", use.use.detail),
        ("note", use.note),
    ):
        if value:
            document[key] = value
    return document


def risk_json(risk: Risk, now: float) -> dict[str, Any]:
    """One risk: where, what, which rule, who uses it, why, and when ECR may act.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.refs import RepositoryKey
        >>> from bot.risk.models import RiskWhen
        >>> risk = Risk(RepositoryKey("123456789012", "eu-west-1", "app"),
        ...             Decision(Image("sha256:" + "a" * 64, ("v1",), 0.0), Outcome.EXPIRE),
        ...             (), "why", RiskWhen("now"))
        >>> risk_json(risk, 0.0)["when"]["kind"], risk_json(risk, 0.0)["severity"]
        ('now', 'static')
    """
    when = risk.when.as_json(now)
    if risk.when.at is not None:
        when["at"] = iso(risk.when.at)
    return {
        "registryId": risk.repository.registry,
        "region": risk.repository.region,
        "repositoryName": risk.repository.name,
        "imageDigest": risk.digest,
        "imageTags": list(risk.decision.image.tags),
        "action": risk.action,
        "appliedRulePriority": risk.rule_priority,
        "severity": risk.severity.name.lower(),
        "upcoming": risk.upcoming,
        "consumers": [consumer_json(use) for use in risk.uses],
        "reason": risk.reason,
        "when": when,
    }


def summary_json(
    *,
    repositories: int,
    with_policy: int,
    images: int,
    in_use: int,
    risks: Sequence[Risk],
    api_calls: Mapping[str, int],
    inventory: Mapping[str, int],
    problems: Sequence[str],
    sources: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The scan summary: counts, API calls made, inventory sizes and sources, and what failed.

    ``complete`` is false when anything could not be checked: then ``problems`` says what, and
    no risk count is a pass.

    Example:
        >>> summary = summary_json(repositories=1, with_policy=1, images=2, in_use=0, risks=[],
        ...                        api_calls={}, inventory={}, problems=["kubernetes: ..."])
        >>> summary["complete"], summary["atRisk"]
        (False, 0)
    """
    severities = Counter(risk.severity.name.lower() for risk in risks)
    return {
        "repositories": repositories,
        "repositoriesWithPolicy": with_policy,
        "images": images,
        "imagesInUse": in_use,
        "atRisk": sum(1 for risk in risks if not risk.upcoming),
        "upcoming": sum(1 for risk in risks if risk.upcoming),
        "bySeverity": dict(severities),
        "apiCalls": dict(sorted(api_calls.items())),
        "apiCallsTotal": sum(api_calls.values()),
        "inventory": dict(inventory),
        "sources": [dict(source) for source in sources],
        "complete": not problems,
        "problems": list(problems),
    }
