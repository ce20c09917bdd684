"""Input problems: what is wrong with a document, and where.

Every parser in the engine reports bad input as an :class:`InputError` that carries one or more
:class:`Problem` entries. A problem names the JSON path of the offending value and says what is
wrong in words an on-call engineer can act on, for example::

    rules[0] (rulePriority 1).selection.countUnit: only allowed with sinceImagePushed, ...

The CLI prefixes each problem with the file name: ``policy.json: <path>: <message>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input document.

    Example:
        >>> str(Problem("rules[0].rulePriority", "must be an integer"))
        'rules[0].rulePriority: must be an integer'
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(ValueError):
    """A document could not be used; ``problems`` says why, one entry per problem.

    Example:
        >>> err = InputError([Problem("rules", "a policy needs at least one rule")])
        >>> str(err)
        'rules: a policy needs at least one rule'
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, path: str, message: str) -> InputError:
        """Build an error with exactly one problem.

        Example:
            >>> InputError.single("", "the file is empty").problems[0].message
            'the file is empty'
        """
        return cls([Problem(path, message)])


def join_path(parent: str, key: str | int) -> str:
    """Append a key or index to a dotted JSON path.

    Example:
        >>> join_path(join_path("rules", 0), "selection")
        'rules[0].selection'
    """
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key
