"""Per-day uptime bars for the claim report: each local calendar day of the cycle, as fractions of the day.

A day's segments come from the SLA's bucketed timeline (one bucket per instant, exclusions applied). Time before
monitoring began, and time not yet measured (a cycle still running), has no segment: the bar is blank there.
A day's ``availability_percent`` is rounded like the report's (6 decimals, ``json_numbers.percent``).
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from probe_agent.model import ms_to_dt
from probe_agent.reports.json_numbers import local_iso, percent
from probe_agent.reports.json_types import DayJson, SegmentJson
from probe_agent.sla.availability import BucketSpan, BucketTotals, Policies, availability_of
from probe_agent.sla.periods import Period, local_midnight_ms


def day_bounds(period: Period, tz: ZoneInfo) -> list[tuple[date, int, int]]:
    """Local calendar days overlapping the period, each cut to the period: (date, start_ms, end_ms)."""
    first = ms_to_dt(period.start_ms).astimezone(tz).date()
    out = []
    day = first
    while True:
        start = max(local_midnight_ms(day, tz), period.start_ms)
        end = min(local_midnight_ms(day + timedelta(days=1), tz), period.end_ms)
        if start >= period.end_ms:
            break
        if end > start:
            out.append((day, start, end))
        day += timedelta(days=1)
    return out


def daily_bars(period: Period, tz: ZoneInfo, buckets: tuple[BucketSpan, ...], policies: Policies) -> list[DayJson]:
    """One entry per local calendar day of ``period`` (a cycle's bucketed timeline cut at each local midnight)."""
    days: list[DayJson] = []
    for day, start, end in day_bounds(period, tz):
        length = end - start
        segments: list[SegmentJson] = []
        inside: list[BucketSpan] = []
        for b in buckets:
            lo, hi = max(b.start_ms, start), min(b.end_ms, end)
            if hi <= lo:
                continue
            inside.append(BucketSpan(lo, hi, b.bucket))
            segments.append(
                {
                    "start_frac": round((lo - start) / length, 6),
                    "end_frac": round((hi - start) / length, 6),
                    "state": b.bucket.value,
                }
            )
        totals = BucketTotals.of(inside)
        avail = availability_of(totals, policies, Fraction(0)).availability if inside else None
        days.append(
            {
                "date": day.isoformat(),
                "start": local_iso(start, tz),
                "end": local_iso(end, tz),
                "start_ms": start,
                "end_ms": end,
                "segments": segments,
                "availability_percent": percent(avail),  # 6 decimals, like every availability_percent
                "down_s": round(totals.down_ms / 1000, 3),
            }
        )
    return days
