"""Durations as people type them: ``7d``, ``12h``, ``2w``, ``90m``, ``1d12h`` (pure)."""

from __future__ import annotations

import re

_DAY = 86_400  # bot.lifecycle.timefmt.DAY, as a whole number of seconds
_UNITS = {"w": 7 * _DAY, "d": _DAY, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+|\d+")
MAX_SECONDS = 366 * _DAY
FORMS = "forms like 7d, 12h, 2w, 90m or 1d12h"


def parse_duration(text: str, *, minimum: float = 0.0, maximum: float = MAX_SECONDS) -> float:
    """Seconds in a duration such as ``7d`` or ``1d12h``; a bare whole number means days.

    Only whole numbers with a unit (w, d, h, m, s), written without spaces, are durations:
    ``ever``, ``-1d``, ``nan``, ``7 d`` and ``0.5d`` are not. Raises ``ValueError`` naming the
    text and the accepted forms or range.

    Example:
        >>> parse_duration("7d"), parse_duration("1d12h"), parse_duration("3")
        (604800.0, 129600.0, 259200.0)
        >>> parse_duration("soon")
        Traceback (most recent call last):
        ...
        ValueError: "soon" is not a duration; use forms like 7d, 12h, 2w, 90m or 1d12h
        >>> parse_duration("400d", minimum=3600, maximum=90 * 86400)
        Traceback (most recent call last):
        ...
        ValueError: "400d" is out of range: from 1h to 90d
    """
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f'"{text}" is not a duration; use {FORMS}')
    if cleaned.isdigit():
        seconds = float(int(cleaned) * _UNITS["d"])
    else:
        seconds = float(sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(cleaned)))
    if not minimum <= seconds <= maximum:
        raise ValueError(
            f'"{text}" is out of range: from {format_duration(minimum)} to '
            f"{format_duration(maximum)}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """A duration in the largest whole units, as ``parse_duration`` reads it.

    Example:
        >>> format_duration(604800), format_duration(129600), format_duration(90)
        ('7d', '1d12h', '1m30s')
    """
    remaining = int(seconds)
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
