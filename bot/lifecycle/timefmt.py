"""Timestamps in and out: the forms the AWS CLI prints, and the forms people read.

Inside the engine every instant is float seconds since the epoch, UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

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
    if not 0 <= instant < _YEAR_10000 or instant % 1 * 1e6 >= 999_999.5:
        return to_datetime(instant).isoformat(timespec="seconds")
    day, second = divmod(int(instant), 86_400)
    try:
        return _DATES[day] + _ISO_CLOCK[second]
    except KeyError:
        _remember(day, second)
        return _DATES[day] + _ISO_CLOCK[second]


def human(instant: float) -> str:
    """Epoch seconds as a short UTC time for messages.

    Example:
        >>> human(1671098240.0)
        '2022-12-15 09:57 UTC'
    """
    if not 0 <= instant < _YEAR_10000 or instant % 1 * 1e6 >= 999_999.5:
        return to_datetime(instant).strftime("%Y-%m-%d %H:%M UTC")
    day, second = divmod(int(instant), 86_400)
    try:
        return _DATES[day] + _HUMAN_CLOCK[second // 60]
    except KeyError:
        _remember(day, second)
        return _DATES[day] + _HUMAN_CLOCK[second // 60]


# A plan formats a few timestamps per image, for 100,000 images, and datetime objects would cost
# more than the rest of the explanation. So the text of each day (thousands at most) and of each
# second of a day (86,400 at most) is made once, and looked up. The shortcut is taken only where
# it agrees with datetime.fromtimestamp: from 1970 to 9999, and not for the fractions of a second
# that fromtimestamp rounds up to the next second (it rounds to microseconds, half to even).
_DATES: dict[int, str] = {}
_ISO_CLOCK: dict[int, str] = {}
_HUMAN_CLOCK: dict[int, str] = {}
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_YEAR_10000 = 253_402_300_800.0


def _remember(day: int, second: int) -> None:
    if day not in _DATES:
        _DATES[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    if second not in _ISO_CLOCK:
        hours, rest = divmod(second, 3600)
        _ISO_CLOCK[second] = f"T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}+00:00"
    minute = second // 60
    if minute not in _HUMAN_CLOCK:
        _HUMAN_CLOCK[minute] = f" {minute // 60:02d}:{minute % 60:02d} UTC"


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
            return _counted(count, unit)
    return "less than a minute"


_COUNTED: dict[tuple[int, str], str] = {}


def _counted(count: int, unit: str) -> str:
    text = _COUNTED.get((count, unit))
    if text is None:
        text = _COUNTED[count, unit] = f"{count} {unit}{'s' if count != 1 else ''}"
    return text
