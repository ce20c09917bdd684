"""Timestamps as text: the shortcut ``iso``/``human`` take agrees with ``datetime`` everywhere."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.lifecycle.timefmt import human, human_duration, iso, parse_instant

# Fractions that datetime.fromtimestamp rounds up to the next second, or only just does not.
EDGES = [0.9999995, 0.99999949999, 0.9999994999999, 0.0000005, 0.0000015, 0.5, 0.0]


def reference_iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="seconds")


def reference_human(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M UTC")


@settings(max_examples=500, deadline=None)
@example(instant=0.0)
@example(instant=1_671_098_239.9999995)
@example(instant=253_402_300_799.0)  # 9999-12-31T23:59:59Z
@given(
    instant=st.floats(0, 4e9)
    | st.builds(lambda whole, edge: whole + edge, st.integers(0, 4 * 10**9), st.sampled_from(EDGES))
)
def test_iso_and_human_agree_with_datetime(instant: float) -> None:
    assert iso(instant) == reference_iso(instant)
    assert human(instant) == reference_human(instant)


@pytest.mark.parametrize("instant", [-1.5, -86_400.0 * 365])
def test_instants_before_1970_take_the_datetime_path(instant: float) -> None:
    assert iso(instant) == reference_iso(instant)
    assert human(instant) == reference_human(instant)


def test_human_duration_counts_down_to_the_largest_unit() -> None:
    assert human_duration(86_400.0) == "1 day"
    assert human_duration(2 * 86_400.0 + 5) == "2 days"
    assert human_duration(-3_600.0 * 3) == "3 hours"
    assert human_duration(59.0) == "less than a minute"


def test_parse_instant_round_trips_what_iso_prints() -> None:
    for instant in (0.0, 1_671_098_240.0, 1_900_000_000.0):
        assert parse_instant(iso(instant)) == instant
    assert math.isclose(parse_instant(1_671_098_240_000), 1_671_098_240.0)
