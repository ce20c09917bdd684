"""A risk: an image something uses, which the lifecycle policy will expire or archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.inventory.models import ResolvedUse, UseKind
from bot.lifecycle.decisions import Decision, Outcome
from bot.lifecycle.timefmt import human, human_duration
from bot.refs import RepositoryKey

WhenKind = Literal["now", "at", "after_pushes"]


@dataclass(frozen=True, slots=True)
class RiskWhen:
    """When ECR may act: now, from an instant on, or after more matching pushes.

    ECR applies lifecycle policies within 24 hours of an image matching, so "now" means "at its
    next run" and "at" means "from that instant, within 24 hours".

    Example:
        >>> RiskWhen("at", at=86_400.0).describe(now=0.0)
        'from 1970-01-02 00:00 UTC (in 1 day), then within 24 hours'
        >>> RiskWhen("after_pushes", pushes=1, rule_priority=2).describe(now=0.0)
        'after 1 more push matching rule 2'
    """

    kind: WhenKind
    at: float | None = None
    pushes: int | None = None
    rule_priority: int | None = None

    def describe(self, now: float) -> str:
        """The timing in words."""
        if self.kind == "now":
            return "now: ECR may act at its next run, within 24 hours"
        if self.kind == "at" and self.at is not None:
            return (
                f"from {human(self.at)} (in {human_duration(self.at - now)}), then within 24 hours"
            )
        plural = "push" if self.pushes == 1 else "pushes"
        return f"after {self.pushes} more {plural} matching rule {self.rule_priority}"

    def as_json(self, now: float) -> dict[str, object]:
        """The timing as JSON: kind, the instant or push count, and the sentence."""
        document: dict[str, object] = {"kind": self.kind, "text": self.describe(now)}
        if self.at is not None:
            document["at"] = self.at
        if self.pushes is not None:
            document["pushes"] = self.pushes
        return document


@dataclass(frozen=True, slots=True)
class Risk:
    """An in-use image that the policy expires or archives now or within the horizon.

    Example:
        >>> from bot.lifecycle.images import Image
        >>> image = Image("sha256:" + "a" * 64, ("v1",), 0.0)
        >>> risk = Risk(RepositoryKey("123456789012", "eu-west-1", "app"),
        ...             Decision(image, Outcome.EXPIRE), (), "reason", RiskWhen("now"))
        >>> risk.action, risk.upcoming
        ('EXPIRE', False)
    """

    repository: RepositoryKey
    decision: Decision
    uses: tuple[ResolvedUse, ...]
    reason: str
    when: RiskWhen

    @property
    def severity(self) -> UseKind:
        """The most urgent use: running now > launched on scale-out > rollback > static."""
        return max((use.kind for use in self.uses), default=UseKind.STATIC)

    @property
    def upcoming(self) -> bool:
        """True when ECR will not act at its next run, but later within the horizon."""
        return self.when.kind != "now"

    @property
    def action(self) -> str:
        """EXPIRE or TRANSITION, as the lifecycle preview API says it."""
        rule = self.decision.rule
        transition = self.decision.outcome is Outcome.TRANSITION or (
            rule is not None and rule.action.type == "transition"
        )
        return "TRANSITION" if transition else "EXPIRE"

    @property
    def digest(self) -> str:
        """The image digest at risk."""
        return self.decision.image.digest

    @property
    def rule_priority(self) -> int | None:
        """The rule that acts (or will act)."""
        return self.decision.rule.rule_priority if self.decision.rule else None
