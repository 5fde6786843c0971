"""Billing periods: monthly cycles from an anchor day at local midnight in an IANA zone, or explicit from/to.

A cycle starts at local midnight of its anchor day (1-28) and ends at local midnight of the anchor day of the
next month. Local midnights are converted to UTC epoch milliseconds *before* subtracting, so lengths follow
the calendar and DST: March 2026 in America/New_York (anchor 1) is 743 h, November 721 h (30
days + the fall-back hour), and the cycle Oct 15 - Nov 15 (anchor 15) 745 h.

A local midnight that does not exist (a zone whose DST jump skips 00:00) resolves to the first instant of that
day after the jump; an ambiguous one (clocks fall back across 00:00) to its first occurrence (``fold=0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from probe_agent.model import dt_to_ms, iso, ms_to_dt

_CYCLE_RE = re.compile(r"^(\d{4})-(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open billing period ``[start_ms, end_ms)`` in epoch milliseconds; ``label`` names it in reports.

    Monthly cycles are labelled by the month they start in (``2026-11``); explicit periods by their bounds.
    """

    start_ms: int
    end_ms: int
    label: str

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"period {self.label!r}: end ({self.end_ms}) must be after start ({self.start_ms})")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class PartialPeriod:
    """A cycle cut at the start of monitoring. ``covered`` = clipped length / full length (for proration)."""

    period: Period
    full: Period
    covered: Fraction


def _check_anchor(anchor_day: int) -> None:
    if not 1 <= anchor_day <= 28:
        raise ValueError(f"anchor day must be 1-28 (every month has it), got {anchor_day}")


def local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    """Epoch ms of local midnight starting ``day`` in ``tz`` (see the module docstring for DST gaps/folds)."""
    # fold=0: a midnight inside a DST gap is read with the pre-jump offset, which lands on the first instant
    # after the jump (the day's real start); an ambiguous midnight resolves to its first occurrence.
    return dt_to_ms(datetime(day.year, day.month, day.day, tzinfo=tz))


def cycle_starting_in(year: int, month: int, anchor_day: int, tz: ZoneInfo) -> Period:
    """The cycle that *starts* in ``year-month`` (``--cycle 2026-11``, anchor 15: Nov 15 to Dec 15)."""
    _check_anchor(anchor_day)
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1-12, got {month}")
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    start = local_midnight_ms(date(year, month, anchor_day), tz)
    end = local_midnight_ms(date(next_year, next_month, anchor_day), tz)
    return Period(start, end, f"{year:04d}-{month:02d}")


def cycle_containing(ts_ms: int, anchor_day: int, tz: ZoneInfo) -> Period:
    """The monthly cycle that holds ``ts_ms`` (a cycle's start belongs to it, its end does not)."""
    _check_anchor(anchor_day)
    local = ms_to_dt(ts_ms).astimezone(tz)
    cycle = cycle_starting_in(local.year, local.month, anchor_day, tz)
    if ts_ms < cycle.start_ms:
        return previous_cycle(cycle, anchor_day, tz)
    return cycle


def next_cycle(period: Period, anchor_day: int, tz: ZoneInfo) -> Period:
    """The monthly cycle that starts where ``period`` ends."""
    return cycle_containing(period.end_ms, anchor_day, tz)


def previous_cycle(period: Period, anchor_day: int, tz: ZoneInfo) -> Period:
    """The monthly cycle that ends where ``period`` starts."""
    local = ms_to_dt(period.start_ms).astimezone(tz)
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return cycle_starting_in(year, month, anchor_day, tz)


def explicit_period(start_ms: int, end_ms: int, label: str | None = None) -> Period:
    """A period given by its bounds (short demo cycles, ``--from/--to``); labelled ``<from>..<to>`` in UTC."""
    return Period(start_ms, end_ms, label if label is not None else f"{iso(start_ms)}..{iso(end_ms)}")


def clip_start(period: Period, monitoring_start_ms: int) -> PartialPeriod | None:
    """The part of ``period`` from the start of monitoring on, with the fraction of the cycle it covers.

    Monitoring that started at or before the period start gives the whole period (covered = 1); monitoring
    that starts at or after its end gives None (nothing of this period was monitored).
    """
    if monitoring_start_ms >= period.end_ms:
        return None
    if monitoring_start_ms <= period.start_ms:
        return PartialPeriod(period, period, Fraction(1))
    clipped = Period(monitoring_start_ms, period.end_ms, period.label)
    return PartialPeriod(clipped, period, Fraction(clipped.duration_ms, period.duration_ms))


def parse_bound(value: str, tz: ZoneInfo) -> int:
    """Epoch ms for a ``--from``/``--to`` value.

    Accepts an ISO 8601 datetime *with* an offset (``2026-11-15T00:00:00+01:00``, ``...Z``) or a plain date
    (``2026-11-15``), read as local midnight in the SLA's zone ``tz``. A datetime without an offset is
    rejected: which zone it meant would be a guess.
    """
    text = value.strip()
    if _DATE_RE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a date: {value!r} ({exc})") from None
        return local_midnight_ms(day, tz)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or datetime: {value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; add one ('Z', '+01:00') or give a plain date")
    return dt_to_ms(dt)


def parse_period(from_value: str, to_value: str, tz: ZoneInfo) -> Period:
    """An explicit period from ``--from``/``--to`` values (see ``parse_bound``); to must follow from."""
    start, end = parse_bound(from_value, tz), parse_bound(to_value, tz)
    if end <= start:
        raise ValueError(f"--to ({to_value}) must be after --from ({from_value})")
    return explicit_period(start, end, f"{from_value}..{to_value}")


def parse_cycle(value: str) -> tuple[int, int]:
    """``(year, month)`` from a ``--cycle YYYY-MM`` value (the month the cycle starts in)."""
    match = _CYCLE_RE.match(value.strip())
    if not match:
        raise ValueError(f"--cycle must be YYYY-MM (the month the cycle starts in), got {value!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"--cycle month must be 01-12, got {value!r}")
    return year, month
