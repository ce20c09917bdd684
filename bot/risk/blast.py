"""The blast radius of a lifecycle policy change: what the new policy expires or archives that the
old one did not, which of those are in use, what it no longer touches, and the rules that changed
(pure)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.inventory.models import ResolvedUse
from bot.lifecycle.decisions import Decision, Evaluation
from bot.lifecycle.explain import describe_rule
from bot.lifecycle.policy import LifecyclePolicy, Rule
from bot.refs import RepositoryKey


@dataclass(frozen=True)
class BlastRadius:
    """A policy change, image by image.

    ``newly`` are the decisions of images the new policy acts on and the old did not;
    ``in_use`` maps the digests of those that something uses to the uses; ``spared`` are images
    the old policy acted on and the new one keeps. ``changes`` describe the rule changes, one
    line each.
    """

    repository: RepositoryKey
    who: str
    newly: tuple[Decision, ...]
    in_use: dict[str, tuple[ResolvedUse, ...]]
    spared: tuple[Decision, ...]
    changes: tuple[str, ...]
    removed: bool = False

    @property
    def quiet(self) -> bool:
        """Nothing changes for any image."""
        return not self.newly and not self.spared


def blast_radius(
    repository: RepositoryKey,
    before: Evaluation | None,
    after: Evaluation | None,
    in_use: dict[str, tuple[ResolvedUse, ...]],
    who: str,
) -> BlastRadius:
    """Compare the evaluations of the old and the new policy over the same images.

    None stands for no policy (nothing is acted on).
    """
    acted_before = {d.image.digest: d for d in before.acted()} if before else {}
    acted_after = {d.image.digest: d for d in after.acted()} if after else {}
    newly = tuple(d for digest, d in acted_after.items() if digest not in acted_before)
    spared = tuple(d for digest, d in acted_before.items() if digest not in acted_after)
    hit = {d.image.digest: in_use[d.image.digest] for d in newly if d.image.digest in in_use}
    changes = rule_changes(before.policy if before else None, after.policy if after else None)
    return BlastRadius(repository, who, newly, hit, spared, changes, removed=after is None)


def rule_changes(before: LifecyclePolicy | None, after: LifecyclePolicy | None) -> tuple[str, ...]:
    """The rules added, removed and changed, by priority, one line each.

    Example:
        >>> rule = Rule.model_validate({"rulePriority": 1, "action": {"type": "expire"},
        ...     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                   "countUnit": "days", "countNumber": 7}})
        >>> rule_changes(None, LifecyclePolicy(rules=(rule,)))
        ('+ rule 1: untagged images; expire those pushed more than 7 days ago',)
    """
    old = {r.rule_priority: r for r in (before.rules if before else ())}
    new = {r.rule_priority: r for r in (after.rules if after else ())}
    lines: list[str] = []
    for priority in sorted(old.keys() | new.keys()):
        was, now = old.get(priority), new.get(priority)
        if was is None and now is not None:
            lines.append(f"+ {describe_rule(now)}")
        elif now is None and was is not None:
            lines.append(f"- {describe_rule(was)}")
        elif was is not None and now is not None and _differs(was, now):
            lines.append(f"~ {describe_rule(now)} (was: {describe_rule(was)})")
    return tuple(lines)


def _differs(was: Rule, now: Rule) -> bool:
    return was.model_dump() != now.model_dump()
