"""Billing periods: hand tables of month lengths, DST, anchor days, parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from probe_agent.model import dt_to_ms
from probe_agent.sla.periods import (
    Period,
    clip_start,
    cycle_containing,
    cycle_starting_in,
    explicit_period,
    next_cycle,
    parse_bound,
    parse_cycle,
    parse_period,
    previous_cycle,
)

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUR = 3_600_000


def utc(year: int, month: int, day: int, hour: int = 0) -> int:
    return dt_to_ms(datetime(year, month, day, hour, tzinfo=UTC))


@pytest.mark.parametrize(
    ("year", "month", "hours"),
    [
        (2026, 1, 31 * 24),  # 31-day month
        (2026, 4, 30 * 24),  # 30-day month
        (2028, 2, 29 * 24),  # leap February
        (2026, 2, 28 * 24),  # plain February
        (2026, 12, 31 * 24),  # the cycle that ends in the next year
    ],
)
def test_calendar_month_lengths_in_utc(year: int, month: int, hours: int) -> None:
    assert cycle_starting_in(year, month, 1, UTC_ZONE).duration_ms == hours * HOUR


@pytest.mark.parametrize(
    ("tz", "year", "month", "anchor", "hours"),
    [
        (NEW_YORK, 2026, 3, 1, 743),  # spring forward on Mar 8: 31 days minus an hour
        (NEW_YORK, 2026, 11, 1, 721),  # fall back on Nov 1 (after midnight): 30 days plus an hour
        (NEW_YORK, 2026, 10, 1, 744),  # Oct 1 - Nov 1 00:00: the fall-back at 02:00 is in the next cycle
        (NEW_YORK, 2026, 10, 15, 745),  # Oct 15 - Nov 15 holds the fall-back: 31 days plus an hour
        (NEW_YORK, 2026, 3, 15, 744),  # Mar 15 - Apr 15: DST already started, 31 plain days
        (NEW_YORK, 2026, 2, 15, 28 * 24 - 1),  # Feb 15 - Mar 15 holds the spring-forward
        (AMSTERDAM, 2026, 3, 1, 743),  # EU switch on Mar 29
        (AMSTERDAM, 2026, 10, 1, 745),  # EU switch back on Oct 25
        (AMSTERDAM, 2026, 11, 15, 30 * 24),  # Nov 15 - Dec 15, no switch
    ],
)
def test_cycle_lengths_follow_dst(tz: ZoneInfo, year: int, month: int, anchor: int, hours: int) -> None:
    assert cycle_starting_in(year, month, anchor, tz).duration_ms == hours * HOUR


def test_anchor_15_cycle_named_by_its_start_month() -> None:
    cycle = cycle_starting_in(2026, 11, 15, AMSTERDAM)
    # Local midnight in CET (+01:00) is 23:00 UTC the day before.
    assert cycle == Period(utc(2026, 11, 14, 23), utc(2026, 12, 14, 23), "2026-11")
    assert parse_cycle("2026-11") == (2026, 11)


def test_new_york_cycle_bounds_in_utc() -> None:
    cycle = cycle_starting_in(2026, 3, 1, NEW_YORK)
    assert cycle.start_ms == utc(2026, 3, 1, 5)  # EST, -05:00
    assert cycle.end_ms == utc(2026, 4, 1, 4)  # EDT, -04:00


def test_cycle_containing_uses_half_open_bounds() -> None:
    nov = cycle_starting_in(2026, 11, 15, AMSTERDAM)
    assert cycle_containing(nov.start_ms, 15, AMSTERDAM) == nov
    assert cycle_containing(nov.end_ms - 1, 15, AMSTERDAM) == nov
    assert cycle_containing(nov.start_ms - 1, 15, AMSTERDAM).label == "2026-10"
    assert cycle_containing(nov.end_ms, 15, AMSTERDAM).label == "2026-12"
    # Early in a month, before the anchor day: the cycle started the month before (here: across a year).
    assert cycle_containing(utc(2027, 1, 10), 15, AMSTERDAM).label == "2026-12"


def test_next_and_previous_cycles_tile_time() -> None:
    dec = cycle_starting_in(2026, 12, 15, NEW_YORK)
    jan = next_cycle(dec, 15, NEW_YORK)
    assert jan.label == "2027-01" and jan.start_ms == dec.end_ms
    assert previous_cycle(jan, 15, NEW_YORK) == dec
    assert previous_cycle(dec, 15, NEW_YORK).end_ms == dec.start_ms


def test_anchor_day_must_exist_in_every_month() -> None:
    with pytest.raises(ValueError, match="1-28"):
        cycle_starting_in(2026, 2, 29, UTC_ZONE)
    with pytest.raises(ValueError, match="1-28"):
        cycle_containing(0, 0, UTC_ZONE)


def test_clip_start_gives_the_covered_fraction() -> None:
    cycle = cycle_starting_in(2026, 4, 1, UTC_ZONE)  # 30 days
    partial = clip_start(cycle, utc(2026, 4, 21))
    assert partial is not None
    assert partial.period == Period(utc(2026, 4, 21), cycle.end_ms, "2026-04")
    assert partial.full == cycle
    assert partial.covered == Fraction(10, 30)
    whole = clip_start(cycle, cycle.start_ms - 1)
    assert whole is not None and whole.period == cycle and whole.covered == 1
    assert clip_start(cycle, cycle.end_ms) is None


def test_parse_bound_accepts_offsets_and_plain_dates() -> None:
    expected = utc(2026, 11, 14, 23)
    assert parse_bound("2026-11-15", AMSTERDAM) == expected
    assert parse_bound("2026-11-15T00:00:00+01:00", AMSTERDAM) == expected
    assert parse_bound("2026-11-14T23:00:00Z", NEW_YORK) == expected
    assert parse_bound("2026-07-01", NEW_YORK) == utc(2026, 7, 1, 4)


@pytest.mark.parametrize("value", ["2026-11-15T00:00:00", "2026-11-15 12:00", "yesterday", "2026-02-30"])
def test_parse_bound_rejects_naive_and_invalid_values(value: str) -> None:
    with pytest.raises(ValueError):
        parse_bound(value, AMSTERDAM)


def test_parse_period_and_cycle_validation() -> None:
    period = parse_period("2026-11-01", "2026-11-02", UTC_ZONE)
    assert period.duration_ms == 24 * HOUR and period.label == "2026-11-01..2026-11-02"
    with pytest.raises(ValueError, match="after"):
        parse_period("2026-11-02", "2026-11-01", UTC_ZONE)
    for bad in ("2026-13", "26-11", "2026/11"):
        with pytest.raises(ValueError):
            parse_cycle(bad)


def test_explicit_period_label_and_validation() -> None:
    assert explicit_period(0, 1000).label == "1970-01-01T00:00:00.000Z..1970-01-01T00:00:01.000Z"
    with pytest.raises(ValueError):
        Period(5, 5, "empty")
