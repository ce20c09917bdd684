"""Timestamps in and out: the forms the AWS CLI prints, and the forms people read.

Inside the engine every instant is float seconds since the epoch, UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

DAY = 86_400.0
# Epoch numbers above this are milliseconds (CloudTrail's pushedAt); as seconds they would be
# after the year 5000.
_MILLISECONDS_THRESHOLD = 100_000_000_000


def parse_instant(value: object) -> float:
    """Parse an ISO 8601 string, a datetime (as botocore returns) or an epoch number.

    Epoch numbers are seconds, or milliseconds when they are too large to be seconds.

    A string without a zone is taken as UTC. Raises ``ValueError`` with a readable message.

    Example:
        >>> parse_instant("2022-12-15T09:57:20Z"), parse_instant(1671098240000)
        (1671098240.0, 1671098240.0)
        >>> parse_instant("2022-12-15T10:57:20.000000+01:00")
        1671098240.0
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{value!r} is not a timestamp")
        return number / 1000 if number > _MILLISECONDS_THRESHOLD else number
    if isinstance(value, str):
        return _parse_iso(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.timestamp()
    raise ValueError(f"expected an ISO 8601 string or epoch seconds, got {type(value).__name__}")


def _parse_iso(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f'"{text}" is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)'
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def to_datetime(instant: float) -> datetime:
    """Epoch seconds to an aware UTC datetime.

    Example:
        >>> to_datetime(0).isoformat()
        '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(instant, UTC)


def iso(instant: float) -> str:
    """Epoch seconds as ISO 8601 in UTC with second precision, as ECR's API returns them.

    Example:
        >>> iso(1671098240.0)
        '2022-12-15T09:57:20+00:00'
    """
    return to_datetime(instant).isoformat(timespec="seconds")


def human(instant: float) -> str:
    """Epoch seconds as a short UTC time for messages.

    Example:
        >>> human(1671098240.0)
        '2022-12-15 09:57 UTC'
    """
    return to_datetime(instant).strftime("%Y-%m-%d %H:%M UTC")


def human_duration(seconds: float) -> str:
    """A duration as people say it: the largest sensible unit, rounded down.

    Example:
        >>> human_duration(3 * DAY + 7200), human_duration(5400), human_duration(30)
        ('3 days', '1 hour', 'less than a minute')
    """
    seconds = abs(seconds)
    for unit, size in (("day", DAY), ("hour", 3600.0), ("minute", 60.0)):
        count = int(seconds // size)
        if count:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"
