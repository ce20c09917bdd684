"""Where an alert goes: the owner of the most urgent consumer, else the repository rules, else
the default channel (pure)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from bot.inventory.models import ResolvedUse
from bot.refs import RepositoryKey
from bot.risk.models import Risk
from bot.settings import RoutingSettings


def route(risk: Risk, routing: RoutingSettings) -> str | None:
    """The channel for an alert, or None when nothing is configured.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.refs import RepositoryKey
        >>> from bot.risk.models import RiskWhen
        >>> from bot.settings import RouteRule
        >>> risk = Risk(RepositoryKey("1", "r", "shop/web"),
        ...             Decision(Image("sha256:" + "a" * 64, (), 0.0), Outcome.EXPIRE),
        ...             (), "", RiskWhen("now"))
        >>> route(risk, RoutingSettings(rules=[RouteRule(repositories="shop/*", channel="#shop")]))
        '#shop'
    """
    return route_repository(risk.repository, routing, risk.uses)


def route_repository(
    repository: RepositoryKey, routing: RoutingSettings, uses: Sequence[ResolvedUse] = ()
) -> str | None:
    """The channel for news about a repository: the owner of the most urgent of ``uses``, else
    the repository rules, else the default channel.

    Example:
        >>> route_repository(RepositoryKey("1", "r", "app"), RoutingSettings(default_channel="#x"))
        '#x'
    """
    for use in sorted(uses, key=lambda u: -u.kind):
        if use.consumer.channel:
            return use.consumer.channel
    for rule in routing.rules:
        if fnmatch.fnmatchcase(repository.name, rule.repositories):
            return rule.channel
    return routing.default_channel
