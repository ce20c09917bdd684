"""Durations as people type them: ``7d``, ``12h``, ``2w``, ``90m``, ``1d12h``."""

from __future__ import annotations

import re

_UNITS = {"w": 7 * 86_400, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
MAX_SECONDS = 366 * 86_400


def parse_duration(text: str, *, maximum: float = MAX_SECONDS) -> float:
    """Seconds in a duration such as ``7d`` or ``1d12h``; a bare number means days.

    Raises ``ValueError`` with a message that shows the accepted forms.

    Example:
        >>> parse_duration("7d"), parse_duration("1d12h"), parse_duration("3")
        (604800.0, 129600.0, 259200.0)
        >>> parse_duration("soon")
        Traceback (most recent call last):
        ...
        ValueError: "soon" is not a duration; use forms like 7d, 12h, 2w, 90m or 1d12h
    """
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned) * _UNITS["d"]
    except ValueError:
        parts = _PART.findall(cleaned)
        if not parts or "".join(n + u for n, u in parts) != cleaned:
            raise ValueError(
                f'"{text}" is not a duration; use forms like 7d, 12h, 2w, 90m or 1d12h'
            ) from None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not 0 <= seconds <= maximum:
        raise ValueError(f'"{text}" is out of range (0 to {maximum / 86_400:.0f} days)')
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
