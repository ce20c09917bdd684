"""Who may change what: read-only commands for everyone, mutations per repository pattern (pure).

Rules come from the ``permissions`` setting. A rule applies to repositories matching its glob and
allows a Slack user who is listed, who belongs to a listed user group, or who acts from a listed
channel. No matching rule means no one may mutate that repository (deny by default).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from bot.settings import PermissionRule


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a Slack user (with their user groups) in a channel, or a CLI user."""

    user: str
    channel: str | None = None
    groups: frozenset[str] = frozenset()
    # True for the CLI: it acts with the caller's own AWS credentials, so IAM decides.
    trusted: bool = False

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        return f"<@{self.user}>" if self.user[:1] in {"U", "W"} else self.user


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an action is allowed, and why (the reason is shown to denied users)."""

    allowed: bool
    reason: str


def authorize(
    actor: Actor, repository: str, rules: Sequence[PermissionRule], action: str
) -> Verdict:
    """Decide whether ``actor`` may run a mutating ``action`` on ``repository``.

    Example:
        >>> from bot.settings import PermissionRule
        >>> rules = [PermissionRule(repositories="shop/*", user_groups=["S0PLATFORM"])]
        >>> authorize(Actor("U1", "C1", frozenset({"S0PLATFORM"})), "shop/web", rules, "protect")
        Verdict(allowed=True, reason='allowed by the rule for shop/* (user group S0PLATFORM)')
        >>> authorize(Actor("U2", "C1"), "shop/web", rules, "protect").allowed
        False
    """
    if actor.trusted:
        return Verdict(True, "the CLI acts with the caller's own AWS credentials")
    applicable = [r for r in rules if fnmatch.fnmatchcase(repository, r.repositories)]
    for rule in applicable:
        why = _match(actor, rule)
        if why is not None:
            return Verdict(True, f"allowed by the rule for {rule.repositories} ({why})")
    if not applicable:
        return Verdict(
            False,
            f"no permission rule covers {repository}, so no one may {action} there; ask a "
            "platform admin to add one under `permissions` in the ECR Lifeguard configuration",
        )
    who = ", ".join(_describe(rule) for rule in applicable)
    return Verdict(False, f"only {who} may {action} images in {repository}")


def _match(actor: Actor, rule: PermissionRule) -> str | None:
    if actor.user in rule.users:
        return f"user {actor.user}"
    shared = sorted(actor.groups & set(rule.user_groups))
    if shared:
        return f"user group {shared[0]}"
    if actor.channel is not None and actor.channel in rule.channels:
        return f"channel {actor.channel}"
    return None


def _describe(rule: PermissionRule) -> str:
    parts = [f"<@{u}>" for u in rule.users]
    parts += [f"<!subteam^{g}>" for g in rule.user_groups]
    parts += [f"people in <#{c}>" for c in rule.channels]
    return " or ".join(parts) if parts else "no one"


def groups_to_check(rules: Sequence[PermissionRule]) -> list[str]:
    """Every user group any rule names (the Slack adapter looks up membership of these only)."""
    return sorted({group for rule in rules for group in rule.user_groups})
