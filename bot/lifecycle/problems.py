"""Input problems: what is wrong with a document, and where.

Every parser in the engine reports bad input as an :class:`InputError` that carries one or more
:class:`Problem` entries. A problem names the JSON path of the offending value and says what is
wrong in words an on-call engineer can act on, for example::

    rules[0] (rulePriority 1).selection.countUnit: only allowed with sinceImagePushed, ...

The CLI prefixes each problem with the file name: ``policy.json: <path>: <message>``.
"""

from __future__ import annotations

from bot.errors import InputError, Problem

__all__ = ["InputError", "Problem", "join_path"]


def join_path(parent: str, key: str | int) -> str:
    """Append a key or index to a dotted JSON path.

    Example:
        >>> join_path(join_path("rules", 0), "selection")
        'rules[0].selection'
    """
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key
