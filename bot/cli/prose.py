"""Wrapping prose for a terminal: only at spaces, never inside a code span, no trailing spaces.

Rich wraps at any space and keeps the space at the end of the line; commands such as
`ecr-lifeguard protect` must stay whole so that they can be copied. Standard library only, so
that the JSON path of ``plan`` does not import Rich to print a note.
"""

from __future__ import annotations

import re

# A word: non-space characters and whole `code spans` (which may hold spaces), glued together,
# so that "(`ecr-lifeguard protect`)." is one unbreakable word. An unclosed span runs to the end.
_WORD = re.compile(r"(?:`[^`]*(?:`|$)|[^\s`])+")


def wrap(text: str, width: int, *, indent: str = "") -> list[str]:
    """The lines of ``text`` at most ``width`` columns wide (a longer word gets a line of its own).

    Line breaks in ``text`` are kept; continuation lines start with ``indent``.

    Example:
        >>> wrap("protect releases with `ecr-lifeguard protect` today", 30)
        ['protect releases with', '`ecr-lifeguard protect` today']
        >>> wrap("a b c", 3, indent=" ")
        ['a b', ' c']
    """
    return [line for paragraph in text.split("\n") for line in _lines(paragraph, width, indent)]


def _lines(paragraph: str, width: int, indent: str) -> list[str]:
    lines, line = [], ""
    for word in _WORD.findall(paragraph):
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = indent + word
    return [*lines, line]
