"""Claim deadlines: calendar days across DST, billing cycles, and refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from probe_agent.sla.claims import ClaimCycles, ClaimWindow, ClaimWithin, claim_deadline, claim_window_text

AMS = ZoneInfo("Europe/Amsterdam")
DAY_MS = 86_400_000


def monthly_end(anchor_day: int, zone: ZoneInfo) -> Callable[[datetime], datetime]:
    """next_period_end for monthly cycles from local midnight on ``anchor_day``."""

    def next_end(end: datetime) -> datetime:
        local = end.astimezone(zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return datetime(year, month, anchor_day, tzinfo=zone)

    return next_end


@pytest.mark.parametrize(
    ("period_end", "window", "deadline"),
    [
        # October's cycle ends 1 Nov; "by the end of the second billing cycle after" = end of December's cycle.
        (datetime(2026, 11, 1, tzinfo=AMS), ClaimCycles(2), datetime(2027, 1, 1, tzinfo=AMS)),
        (datetime(2026, 11, 1, tzinfo=AMS), ClaimCycles(1), datetime(2026, 12, 1, tzinfo=AMS)),
        (datetime(2026, 12, 1, tzinfo=AMS), ClaimCycles(3), datetime(2027, 3, 1, tzinfo=AMS)),
        # 60 calendar days across the end of DST (25 Oct 2026): midnight stays midnight, 60 x 24 h + 1 h elapse.
        (datetime(2026, 10, 1, tzinfo=AMS), ClaimWithin(60 * DAY_MS), datetime(2026, 11, 30, tzinfo=AMS)),
        # 15 days across the start of DST (29 Mar 2026): 15 x 24 h - 1 h elapse.
        (datetime(2026, 3, 20, tzinfo=AMS), ClaimWithin(15 * DAY_MS), datetime(2026, 4, 4, tzinfo=AMS)),
        # 36 h = one calendar day, then 12 h of elapsed time.
        (datetime(2026, 3, 28, 12, tzinfo=AMS), ClaimWithin(36 * 3_600_000), datetime(2026, 3, 30, tzinfo=AMS)),
        # A wall time that does not exist (02:30 on 29 Mar) is read with the offset before the change.
        (datetime(2026, 3, 28, 2, 30, tzinfo=AMS), ClaimWithin(DAY_MS), datetime(2026, 3, 29, 3, 30, tzinfo=AMS)),
        (datetime(2026, 1, 1, tzinfo=UTC), ClaimWithin(60 * DAY_MS), datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_claim_deadline(period_end: datetime, window: ClaimWindow, deadline: datetime) -> None:
    got = claim_deadline(period_end, window, monthly_end(1, AMS))
    assert got == deadline
    assert got.utcoffset() == deadline.utcoffset()  # same instant and shown in the SLA's zone


def test_elapsed_time_of_calendar_days_follows_dst() -> None:
    start = datetime(2026, 10, 1, tzinfo=AMS)
    got = claim_deadline(start, ClaimWithin(60 * DAY_MS), monthly_end(1, AMS))
    # (aware datetimes in one zone subtract as wall clocks: compare instants in UTC)
    assert got.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=60, hours=1)


def test_anchor_day_cycles() -> None:
    end = datetime(2026, 12, 15, tzinfo=AMS)
    got = claim_deadline(end, ClaimCycles(2), monthly_end(15, AMS))
    assert got == datetime(2027, 2, 15, tzinfo=AMS)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="naive"):
        claim_deadline(datetime(2026, 11, 1), ClaimWithin(DAY_MS), monthly_end(1, AMS))
    with pytest.raises(ValueError, match="does not advance"):
        claim_deadline(datetime(2026, 11, 1, tzinfo=AMS), ClaimCycles(1), lambda end: end)
    with pytest.raises(ValueError, match="naive"):
        claim_deadline(datetime(2026, 11, 1, tzinfo=AMS), ClaimCycles(1), lambda end: datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        ClaimCycles(0)
    with pytest.raises(ValueError):
        ClaimWithin(0)


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (ClaimCycles(2), "by the end of the second billing cycle after the cycle"),
        (ClaimCycles(21), "by the end of the 21st billing cycle after the cycle"),
        (ClaimCycles(12), "by the end of the 12th billing cycle after the cycle"),
        (ClaimWithin(60 * DAY_MS), "within 60d of the end of the cycle"),
        (ClaimWithin(DAY_MS + 90_000), "within 1d1m30s of the end of the cycle"),
    ],
)
def test_claim_window_text(window: ClaimWindow, text: str) -> None:
    assert claim_window_text(window) == text
