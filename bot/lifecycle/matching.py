"""Tag selection: which images a rule's ``tagStatus`` and prefix or pattern list identify.

Semantics (ECR user guide, "Lifecycle policy evaluation rules"):

* ``tagPrefixList``: an entry matches a tag that starts with it.
* ``tagPatternList``: an entry is a whole-tag glob in which only ``*`` is special (any run of
  characters, possibly empty); without ``*`` it must equal the tag.
* Several entries are ANDed: **every** entry must match **some** tag of the image (different
  entries may be satisfied by different tags). Matching is case-sensitive (UNCONFIRMED).

For speed on repositories with 100,000 images, :class:`TagIndex` matches each entry once against
all tags of the repository instead of once per image, using an anchored regular expression over the
newline-joined tags. Patterns compile to atomic groups, so matching stays linear in the tag length
however the wildcards are placed.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache

from bot.lifecycle.images import Image
from bot.lifecycle.policy import Selection

_AFTER_EVERY_CHARACTER = chr(0x10FFFF)


def _body(entry: str, is_pattern: bool) -> str:
    """The regular expression for the tags one entry matches, without anchors."""
    if not is_pattern:
        return f"{re.escape(entry)}.*"
    first, *middle_and_last = entry.split("*")
    body = re.escape(first)
    if middle_and_last:
        *middle, last = middle_and_last
        body += "".join(f"(?>.*?{re.escape(part)})" for part in middle)
        body += f".*{re.escape(last)}"
    return body


@lru_cache(maxsize=1024)
def entry_regex(entry: str, is_pattern: bool) -> re.Pattern[str]:
    """A multiline regex whose matches are exactly the tags (one per line) that ``entry`` matches.

    For tags joined by newlines; :func:`tag_regex` matches one tag, whatever it holds.

    Example:
        >>> entry_regex("prod*", True).findall("production\\nstaging\\nprod")
        ['production', 'prod']
    """
    return re.compile(f"^{_body(entry, is_pattern)}$", re.MULTILINE)


@lru_cache(maxsize=1024)
def tag_regex(entries: tuple[str, ...], is_pattern: bool) -> re.Pattern[str]:
    """A regex whose full matches are exactly the tags that at least one of ``entries`` matches.

    Example:
        >>> bool(tag_regex(("prod*",), True).fullmatch("production"))
        True
        >>> bool(tag_regex(("prod*",), False).fullmatch("prod-1"))  # a prefix, not a glob
        False
        >>> bool(tag_regex(("prod", "beta"), False).fullmatch("beta-1"))
        True
    """
    return re.compile("|".join(f"(?:{_body(e, is_pattern)})" for e in entries), re.DOTALL)


def entry_matches(entry: str, is_pattern: bool, tag: str) -> bool:
    """Whether one prefix or pattern entry matches one tag.

    Example:
        >>> entry_matches("*prod*", True, "repo-production"), entry_matches("beta", False, "alpha")
        (True, False)
    """
    return tag_regex((entry,), is_pattern).fullmatch(tag) is not None


def selection_matches(selection: Selection, tags: Sequence[str]) -> bool:
    """Whether a rule's tag selection identifies an image with these tags (storage class aside).

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> both = Selection.model_validate({"tagStatus": "tagged", "tagPatternList":
        ...     ["alpha*", "beta*"], "countType": "imageCountMoreThan", "countNumber": 1})
        >>> selection_matches(both, ["alpha-2", "beta-2"]), selection_matches(both, ["alpha-1"])
        (True, False)
    """
    if selection.tag_status == "any":
        return True
    if selection.tag_status == "untagged":
        return not tags
    return bool(tags) and all(
        any(entry_matches(entry, selection.uses_patterns, tag) for tag in tags)
        for entry in selection.entries
    )


class TagIndex:
    """All tags of a repository, indexed for matching one entry against every image at once.

    Example:
        >>> images = [Image("sha256:" + "a" * 64, ("v1", "prod"), 0.0),
        ...           Image("sha256:" + "b" * 64, ("v2",), 0.0)]
        >>> sorted(TagIndex(images).positions_matching("v", is_pattern=False))
        [0, 1]
    """

    def __init__(self, images: Sequence[Image]) -> None:
        self._owner: dict[str, int] = {
            tag: position for position, image in enumerate(images) for tag in image.tags
        }
        self._sorted: list[str] | None = None
        self._joined: str | None = None
        self._cache: dict[tuple[str, bool], frozenset[int]] = {}

    def positions_matching(self, entry: str, is_pattern: bool) -> frozenset[int]:
        """Positions of the images with at least one tag that ``entry`` matches."""
        key = (entry, is_pattern)
        cached = self._cache.get(key)
        if cached is None:
            cached = frozenset(map(self._owner.__getitem__, self._matching_tags(entry, is_pattern)))
            self._cache[key] = cached
        return cached

    def _matching_tags(self, entry: str, is_pattern: bool) -> list[str]:
        if not self._owner:
            return []
        if not is_pattern:
            return self._with_prefix(entry)
        head, star, rest = entry.partition("*")
        if not star:
            return [entry] if entry in self._owner else []
        if not rest:
            return self._with_prefix(head)
        # Only tags that start with the literal head can match: narrow first, then match.
        candidates = self._with_prefix(head) if head else list(self._owner)
        if "\n" in entry or self._has_newline():
            # A newline in a tag (ECR allows none, but it is evaluated): match one by one.
            single = tag_regex((entry,), is_pattern=True)
            return [tag for tag in candidates if single.fullmatch(tag)]
        joined = "\n".join(candidates) if head else self._joined_tags()
        return entry_regex(entry, is_pattern=True).findall(joined)

    def _joined_tags(self) -> str:
        if self._joined is None:
            self._joined = "\n".join(self._owner)
        return self._joined

    def _has_newline(self) -> bool:
        return self._joined_tags().count("\n") != len(self._owner) - 1

    def _with_prefix(self, prefix: str) -> list[str]:
        """Every tag that starts with ``prefix``: a contiguous run of the sorted tags."""
        if self._sorted is None:
            self._sorted = sorted(self._owner)
        start = bisect_left(self._sorted, prefix)
        end = bisect_left(self._sorted, prefix + _AFTER_EVERY_CHARACTER, lo=start)
        return self._sorted[start:end]

    def positions_selected(self, selection: Selection) -> frozenset[int]:
        """Positions of the tagged images whose tags satisfy every entry of a tagged selection."""
        result: frozenset[int] | None = None
        for entry in selection.entries:
            found = self.positions_matching(entry, selection.uses_patterns)
            result = found if result is None else result & found
            if not result:
                break
        return result or frozenset()


def _as_glob(entry: str, is_pattern: bool) -> str | None:
    """A prefix entry as the equivalent glob; None when a literal ``*`` makes that impossible."""
    if is_pattern:
        return entry
    return None if "*" in entry else entry + "*"


_MAX_CONTAINMENT_CELLS = 1_000_000


@lru_cache(maxsize=4096)
def glob_contains(outer: str, inner: str) -> bool:
    """Whether every tag matching glob ``inner`` also matches glob ``outer`` (``*`` is special).

    Decided by matching ``outer`` against ``inner`` where a ``*`` of ``inner`` can only be consumed
    by a ``*`` of ``outer``. True is always right; for absurdly long entries it answers False
    rather than spend the time.

    Example:
        >>> glob_contains("prod*", "prod-eu-*"), glob_contains("prod-*", "prod*")
        (True, False)
        >>> glob_contains("*", "anything"), glob_contains("a*c", "abc")
        (True, True)
    """
    if (len(outer) + 1) * (len(inner) + 1) > _MAX_CONTAINMENT_CELLS:
        return False
    # below[i] holds the answer for (inner[i:], outer[j + 1:]) while row j is computed.
    below = [i == len(inner) for i in range(len(inner) + 1)]
    for j in range(len(outer) - 1, -1, -1):
        row = [False] * (len(inner) + 1)
        for i in range(len(inner), -1, -1):
            if outer[j] == "*":
                row[i] = below[i] or (i < len(inner) and row[i + 1])
            else:
                row[i] = (
                    i < len(inner) and inner[i] != "*" and inner[i] == outer[j] and below[i + 1]
                )
        below = row
    return below[0]


def entry_contains(outer: str, outer_pattern: bool, inner: str, inner_pattern: bool) -> bool:
    """Whether every tag that entry ``inner`` matches is also matched by entry ``outer``.

    Example:
        >>> entry_contains("prod", False, "prod-eu*", True), entry_contains("v1", False, "v*", True)
        (True, False)
    """
    if not outer_pattern and not inner_pattern:
        return inner.startswith(outer)
    outer_glob, inner_glob = _as_glob(outer, outer_pattern), _as_glob(inner, inner_pattern)
    if outer_glob is None or inner_glob is None:
        return False
    return glob_contains(outer_glob, inner_glob)


def selection_contains(outer: Selection, inner: Selection) -> bool:
    """Whether ``outer`` identifies every image ``inner`` identifies (same storage class assumed).

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> def sel(**kw):
        ...     return Selection.model_validate({"countType": "imageCountMoreThan",
        ...                                      "countNumber": 1, **kw})
        >>> selection_contains(sel(tagStatus="tagged", tagPrefixList=["v"]),
        ...                    sel(tagStatus="tagged", tagPatternList=["v1.*", "latest"]))
        True
    """
    if outer.tag_status == "any":
        return True
    if outer.tag_status == "untagged" or inner.tag_status != "tagged":
        return outer.tag_status == inner.tag_status
    return all(
        any(entry_contains(o, outer.uses_patterns, i, inner.uses_patterns) for i in inner.entries)
        for o in outer.entries
    )
