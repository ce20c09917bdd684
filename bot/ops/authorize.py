"""Who may change what: read-only commands for everyone, changes per repository rule (pure).

Rules come from the ``permissions`` setting. A rule applies to repositories matching its glob (and
its accounts and regions, when it names them) and allows a Slack user who is listed, who belongs
to a listed user group, or who acts from a listed channel. No matching rule means no one may
change that repository (deny by default).

User groups are looked up only when a decision needs them: when an applicable rule names groups
and neither the user nor the channel already decides it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from bot.refs import RepositoryKey
from bot.settings import PermissionRule


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a Slack user in a channel, or a CLI user.

    Example:
        >>> Actor("U0ALICE", "C0OPS").label, Actor("cli:alice", trusted=True).label
        ('<@U0ALICE>', 'cli:alice')
    """

    user: str
    channel: str | None = None
    # True for the CLI: it acts with the caller's own AWS credentials, so IAM decides.
    trusted: bool = False

    @property
    def label(self) -> str:
        """How messages and the audit log name the actor (a Slack mention for Slack users)."""
        return f"<@{self.user}>" if self.user[:1] in {"U", "W"} else self.user


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an action is allowed, and why (the reason is shown to denied users)."""

    allowed: bool
    reason: str


def applicable_rules(
    repository: RepositoryKey, rules: Sequence[PermissionRule]
) -> list[PermissionRule]:
    """The rules that cover a repository: its name, account and region.

    Example:
        >>> rules = [PermissionRule(repositories="shop/*", regions=["eu-west-1"])]
        >>> len(applicable_rules(RepositoryKey("111111111111", "us-east-1", "shop/web"), rules))
        0
    """
    return [
        rule
        for rule in rules
        if fnmatch.fnmatchcase(repository.name, rule.repositories)
        and (not rule.accounts or repository.registry in rule.accounts)
        and (not rule.regions or repository.region in rule.regions)
    ]


def needs_groups(actor: Actor, repository: RepositoryKey, rules: Sequence[PermissionRule]) -> bool:
    """Whether deciding for ``actor`` needs their user groups (so they must be looked up).

    Example:
        >>> rules = [PermissionRule(user_groups=["S0PLATFORM"])]
        >>> needs_groups(Actor("U1", "C1"), RepositoryKey("1", "r", "app"), rules)
        True
    """
    if actor.trusted:
        return False
    applicable = applicable_rules(repository, rules)
    if any(_direct_match(actor, rule) for rule in applicable):
        return False
    return any(rule.user_groups for rule in applicable)


def authorize(
    actor: Actor,
    repository: RepositoryKey,
    rules: Sequence[PermissionRule],
    action: str,
    groups: frozenset[str] = frozenset(),
) -> Verdict:
    """Decide whether ``actor`` (in ``groups``) may run a changing ``action`` on ``repository``.

    Example:
        >>> rules = [PermissionRule(repositories="shop/*", user_groups=["S0PLATFORM"])]
        >>> web = RepositoryKey("111111111111", "eu-west-1", "shop/web")
        >>> authorize(Actor("U1", "C1"), web, rules, "protect", frozenset({"S0PLATFORM"}))
        Verdict(allowed=True, reason='allowed by the rule for shop/* (user group S0PLATFORM)')
        >>> authorize(Actor("U2", "C1"), web, rules, "protect").allowed
        False
    """
    if actor.trusted:
        return Verdict(True, "the CLI acts with the caller's own AWS credentials")
    applicable = applicable_rules(repository, rules)
    for rule in applicable:
        why = _direct_match(actor, rule) or _group_match(groups, rule)
        if why is not None:
            return Verdict(True, f"allowed by the rule for {rule.repositories} ({why})")
    if not applicable:
        return Verdict(
            False,
            f"no permission rule covers {repository.name} ({repository.registry}, "
            f"{repository.region}), so no one may {action} there; ask a platform admin to add one "
            "under `permissions` in the ECR Lifeguard configuration",
        )
    who = ", ".join(_describe(rule) for rule in applicable)
    return Verdict(False, f"only {who} may {action} images in {repository.name}")


def _direct_match(actor: Actor, rule: PermissionRule) -> str | None:
    if actor.user in rule.users:
        return f"user {actor.user}"
    if actor.channel is not None and actor.channel in rule.channels:
        return f"channel {actor.channel}"
    return None


def _group_match(groups: frozenset[str], rule: PermissionRule) -> str | None:
    shared = sorted(groups & set(rule.user_groups))
    return f"user group {shared[0]}" if shared else None


def _describe(rule: PermissionRule) -> str:
    parts = [f"<@{u}>" for u in rule.users]
    parts += [f"<!subteam^{g}>" for g in rule.user_groups]
    parts += [f"people in <#{c}>" for c in rule.channels]
    return " or ".join(parts) if parts else "no one"


def groups_to_check(rules: Sequence[PermissionRule]) -> list[str]:
    """Every user group any rule names (the Slack adapter looks up membership of these only).

    Example:
        >>> groups_to_check([PermissionRule(user_groups=["S2", "S1"]), PermissionRule()])
        ['S1', 'S2']
    """
    return sorted({group for rule in rules for group in rule.user_groups})
