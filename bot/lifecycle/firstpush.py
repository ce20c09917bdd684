"""Spotting the first-push trap in a count rule's ranking.

ECR ranks a digest by the time it was *first* pushed. Pushing the same digest again under a new tag,
or retagging it with ``PutImage``, adds the tag but keeps that time (``ecr-behaviour.md`` §1.5, §2).
So a digest that carries a new release tag can rank as the oldest image of a ``keep N`` rule and be
expired before images with older release tags. Two signs show it in an evaluation:

* the image carries two or more version tags of one family (``tag-1-252-0`` and ``tag-1-253-0``);
* an image ranked newer carries only older versions of the same family (``tag-1-251-0``).

Only version-like tags are compared: a family word followed by dot/dash separated numbers, such as
``v1.2.3``, ``tag-1-253-0`` or ``build-981``; git hashes and dates are not versions.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import takewhile

from bot.lifecycle.evaluate import Decision, Evaluation
from bot.lifecycle.matching import tag_regex
from bot.lifecycle.policy import Rule, Selection
from bot.lifecycle.timefmt import human

_VERSION = re.compile(r"(?P<family>[^\d]*?)(?P<numbers>\d+(?:[._-]\d+)*)")
_SEPARATORS = re.compile(r"[._-]")

Family = tuple[str, int]
_NO_FAMILIES: dict[Family, list[Version]] = {}  # shared by every image without version tags


@dataclass(frozen=True, slots=True)
class Version:
    """A version-like tag split into its family and its numbers.

    Example:
        >>> Version.of("tag-1-253-0")
        Version(tag='tag-1-253-0', family=('tag-', 3), numbers=(1, 253, 0))
        >>> Version.of("git-325dc21f") is None
        True
    """

    tag: str
    family: Family
    numbers: tuple[int, ...]

    @classmethod
    def of(cls, tag: str) -> Version | None:
        """The version a tag names, or None when the tag is not version-like."""
        return _version_of(tag)


@lru_cache(maxsize=65_536)  # the same tags are read again at every event of their repository
def _version_of(tag: str) -> Version | None:
    match = _VERSION.fullmatch(tag)
    if match is None:
        return None
    numbers = tuple(map(int, _SEPARATORS.split(match["numbers"])))
    return Version(tag, (match["family"], len(numbers)), numbers)


def matching_tags(selection: Selection, tags: Iterable[str]) -> list[str]:
    """The tags of an image that a tagged selection's entries match (all tags for other rules).

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> s = Selection.model_validate({"tagStatus": "tagged", "tagPrefixList": ["tag"],
        ...     "countType": "imageCountMoreThan", "countNumber": 5})
        >>> matching_tags(s, ["git-1", "tag-1-253-0"])
        ['tag-1-253-0']
    """
    matches = _matcher(selection)
    return list(tags) if matches is None else [tag for tag in tags if matches(tag)]


def _matcher(selection: Selection) -> Callable[[str], object] | None:
    """What tells the tags a selection matches; None when it takes every tag."""
    if selection.tag_status != "tagged":
        return None
    return tag_regex(selection.entries, selection.uses_patterns).fullmatch


def newest_by_family(selection: Selection, tags: Iterable[str]) -> dict[Family, list[Version]]:
    """The version-like tags a selection matches, grouped by family, oldest first.

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> s = Selection.model_validate({"tagStatus": "any",
        ...     "countType": "imageCountMoreThan", "countNumber": 5})
        >>> [v.tag for v in newest_by_family(s, ["v1.10", "git-abc", "v1.9"])[("v", 2)]]
        ['v1.9', 'v1.10']
    """
    return _families_of(tags, _matcher(selection))


def _families_of(
    tags: Iterable[str], matches: Callable[[str], object] | None
) -> dict[Family, list[Version]]:
    families: dict[Family, list[Version]] = {}
    for tag in tags:
        if matches is not None and not matches(tag):
            continue
        version = Version.of(tag)
        if version is None:
            continue
        versions = families.get(version.family)
        if versions is None:
            families[version.family] = [version]
        else:
            versions.append(version)
            versions.sort(key=_numbers)
    return families


def _numbers(version: Version) -> tuple[int, ...]:
    return version.numbers


class _FamilyRanking:
    """For one rule and one tag family: images in rank order with the oldest version seen so far."""

    def __init__(self) -> None:
        self.ranks: list[int] = []
        self.oldest_so_far: list[tuple[Decision, Version]] = []

    def add(self, rank: int, decision: Decision, newest: Version) -> None:
        previous = self.oldest_so_far[-1] if self.oldest_so_far else None
        if previous is None or newest.numbers < previous[1].numbers:
            previous = (decision, newest)
        self.ranks.append(rank)
        self.oldest_so_far.append(previous)

    def oldest_above(self, rank: int) -> tuple[Decision, Version] | None:
        count = bisect_left(self.ranks, rank)
        return self.oldest_so_far[count - 1] if count else None


class FirstPushDetector:
    """Finds first-push-trap evidence for decisions of one evaluation (linear time per rule).

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
        ...                 "countType": "imageCountMoreThan", "countNumber": 1}}]}''')
        >>> old_digest = Image("sha256:" + "a" * 64, ("v1", "v3"), 100.0)
        >>> newer = Image("sha256:" + "b" * 64, ("v2",), 200.0)
        >>> result = evaluate(policy, [old_digest, newer], now=300.0)
        >>> note = FirstPushDetector(result).note(result.decision(old_digest.digest))
        >>> note.startswith("It carries v3, newer by name than v2")
        True
    """

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self._rankings: dict[int, dict[Family, _FamilyRanking]] = {}
        self._families: dict[int, dict[Family, list[Version]]] = {}
        self._ranked_by_rule: dict[int, list[Decision]] | None = None

    def note(self, decision: Decision) -> str | None:
        """Sentences explaining the trap for this decision, or None when there is no sign of it."""
        rule = decision.rule
        if rule is None or decision.rank is None or not rule.selection.is_count_rule:
            return None
        rankings = self._rankings_for(rule)
        families = self._families.get(id(decision))
        if families is None:
            families = newest_by_family(rule.selection, decision.image.tags)
        if not families:
            return None
        sentences = []
        bound = min(decision.rank, rule.selection.count_number)
        for family, versions in families.items():
            ranking = rankings.get(family)
            found = ranking.oldest_above(bound) if ranking else None
            if found is not None and found[1].numbers < versions[-1].numbers:
                other, older = found
                sentences.append(
                    f"It carries {versions[-1].tag}, newer by name than {older.tag} on image "
                    f"{other.image.short_digest}, which ranks newer because it was first pushed "
                    f"{human(other.image.effective_pushed_at)}."
                )
                break
        repeated = next((v for v in families.values() if len(v) > 1), None)
        if repeated:
            names = ", ".join(v.tag for v in repeated)
            sentences.append(f"One digest carries several releases ({names}).")
        if not sentences:
            return None
        sentences.append(
            f"ECR ranks a digest by its first push ({human(decision.image.effective_pushed_at)}); "
            "tags added later by a re-push or retag keep that time."
        )
        return " ".join(sentences)

    def _rankings_for(self, rule: Rule) -> dict[Family, _FamilyRanking]:
        key = id(rule)
        if key not in self._rankings:
            rankings: dict[Family, _FamilyRanking] = defaultdict(_FamilyRanking)
            ranked = sorted(self._ranked(rule), key=lambda d: d.rank or 0)
            matches = _matcher(rule.selection)
            # note() looks only above min(rank, countNumber): the images the rule keeps.
            for decision in takewhile(
                lambda d: (d.rank or 0) < rule.selection.count_number, ranked
            ):
                families = _families_of(decision.image.tags, matches)
                self._families[id(decision)] = families or _NO_FAMILIES
                for family, versions in families.items():
                    rankings[family].add(decision.rank or 0, decision, versions[-1])
            self._rankings[key] = rankings
        return self._rankings[key]

    def _ranked(self, rule: Rule) -> list[Decision]:
        """The decisions a count rule ranked, grouped by rule in one pass over the evaluation."""
        if self._ranked_by_rule is None:
            grouped: dict[int, list[Decision]] = defaultdict(list)
            for decision in self.evaluation.decisions:
                if decision.rank is not None:
                    grouped[id(decision.rule)].append(decision)
            self._ranked_by_rule = grouped
        return self._ranked_by_rule.get(id(rule), [])
