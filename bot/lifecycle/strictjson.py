"""Strict JSON decoding for hostile input.

The standard library's :func:`json.loads` accepts ``NaN`` and ``Infinity``, silently keeps the
last of two duplicate keys, and raises ``RecursionError`` on deeply nested input. None of that may
reach the engine: a policy AWS would reject must be rejected here too, saying where.
"""

from __future__ import annotations

import json
from typing import Any

from bot.lifecycle.problems import InputError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'duplicate key "{key}" in one object')
        result[key] = value
    return result


def loads_strict(text: str, *, reject_duplicate_keys: bool = True) -> Any:
    """Decode one JSON document, refusing what JSON or AWS would refuse.

    Refused: empty text, NaN/Infinity, duplicate keys (unless ``reject_duplicate_keys`` is false,
    which large AWS CLI outputs use for speed), absurdly deep nesting, and trailing data. Syntax
    errors name the line and column.

    Example:
        >>> loads_strict('{"rules": []}')
        {'rules': []}
        >>> loads_strict('{"a": 1, "a": 2}')
        Traceback (most recent call last):
        ...
        bot.errors.InputError: duplicate key "a" in one object
    """
    if not text.strip():
        raise InputError.single("", "the document is empty")
    hook = _object_without_duplicates if reject_duplicate_keys else None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise InputError.single(
            "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InputError.single("", "JSON is nested too deeply to be a real document") from None
    except ValueError as exc:
        raise InputError.single("", str(exc)) from None
