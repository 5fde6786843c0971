"""Cron expansion of recurring maintenance windows: fields, names, DST, day-of-month/day-of-week OR."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from probe_agent.model import dt_to_ms
from probe_agent.sla.cron import expand, parse_cron

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3_600_000


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ms(datetime(year, month, day, hour, minute, tzinfo=UTC))


def test_parse_fields() -> None:
    spec = parse_cron("*/15 1-3,22 1 jan-mar MON-FRI")
    assert spec.minutes == {0, 15, 30, 45}
    assert spec.hours == {1, 2, 3, 22}
    assert spec.days == {1}
    assert spec.months == {1, 2, 3}
    assert spec.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert parse_cron("5/20 0 * * 0-6/2").minutes == {5, 25, 45}
    assert parse_cron("5/20 0 * * 0-6/2").weekdays == {0, 2, 4, 6}


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "5-1 * * * *",
        "*/0 * * * *",
        "a * * * *",
        "1,,2 * * * *",
    ],
)
def test_parse_rejects_bad_expressions(expression: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        parse_cron(expression)


def test_sundays_at_two_in_amsterdam() -> None:
    start, end = utc(2026, 10, 31, 23), utc(2026, 11, 30, 23)  # November 2026 in CET
    windows = expand("0 2 * * SUN", 2 * HOUR, start, end, AMSTERDAM)
    assert windows == [(utc(2026, 11, d, 1), utc(2026, 11, d, 3)) for d in (1, 8, 15, 22, 29)]


def test_window_started_before_the_range_is_included() -> None:
    windows = expand("0 23 * * *", 3 * HOUR, utc(2026, 7, 1), utc(2026, 7, 1, 1), ZoneInfo("UTC"))
    assert windows == [(utc(2026, 6, 30, 23), utc(2026, 7, 1, 2))]


def test_start_in_spring_gap_moves_forward() -> None:
    # 02:30 does not exist in New York on 2026-03-08; it starts at 03:30 EDT = 07:30 UTC.
    windows = expand("30 2 * * *", HOUR, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), NEW_YORK)
    assert windows == [(utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8, 30))]


def test_start_in_fall_back_hour_happens_once_at_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2026-11-01: EDT (05:30 UTC) first, then EST (06:30 UTC).
    windows = expand("30 1 * * *", HOUR, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), NEW_YORK)
    assert windows == [(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))]


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    utc_zone = ZoneInfo("UTC")
    # June 2026: the 1st is a Monday; other Mondays are 8, 15, 22, 29; "1 * MON" also matches the 1st of July.
    both = expand("0 0 1 * MON", HOUR, utc(2026, 6, 1), utc(2026, 7, 2), utc_zone)
    assert [w[0] for w in both] == [utc(2026, 6, d) for d in (1, 8, 15, 22, 29)] + [utc(2026, 7, 1)]
    # With day-of-week "*", only the day of month restricts.
    only_dom = expand("0 0 1 * *", HOUR, utc(2026, 6, 1), utc(2026, 7, 2), utc_zone)
    assert [w[0] for w in only_dom] == [utc(2026, 6, 1), utc(2026, 7, 1)]


def test_duration_must_be_positive() -> None:
    with pytest.raises(ValueError):
        expand("0 0 * * *", 0, 0, HOUR, ZoneInfo("UTC"))
