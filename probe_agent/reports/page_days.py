"""The status page's per-service figures from one evaluated timeline: a cell per local day, the state now.

Input is a service's ``ScopeResult`` of an evaluation over the page's window (the last ``DAYS`` local days up to
now, ``page_window``): its buckets tile the measured part of the window (exclusions and maintenance applied), its
incidents are the service's. Everything here is a walk over those buckets, so 90 days of one service cost one pass
over its (coalesced) buckets, not a report per day.

A day's figure is ``availability_of`` over the buckets inside that local day (00:00 to 24:00 in the group's zone;
23 or 25 hours on a DST day; today up to now), with the SLA's policies: the same code and rounding as the claim
report's daily bars (``reports/days.py``). A day before monitoring began, or not measured at all, has no figure.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from probe_agent.model import ms_to_dt
from probe_agent.reports.json_numbers import percent
from probe_agent.sla.availability import Bucket, BucketSpan, BucketTotals, Policies, availability_of
from probe_agent.sla.incidents import Incident
from probe_agent.sla.periods import Period, explicit_period, local_midnight_ms

DAYS = 90  # local days in the uptime bar, today included
# A day below target is amber while its unavailability is at most this many times what the target allows
# (99.9 %: amber down to 99.0 %), red below that.
AMBER_FACTOR = 10


@dataclass(frozen=True, slots=True)
class PageIncident:
    """An incident as the page shows it: ``[start_ms, end_ms)``, ``end_ms`` being "now" while it is ``ongoing``;
    ``down_ms``: its counted-down time. No endpoint, cause or error detail: the page never shows them."""

    start_ms: int
    end_ms: int
    down_ms: int
    ongoing: bool

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class DayCell:
    """One local day of the uptime bar.

    ``availability_percent``: 6 decimals (``json_numbers.percent``), None when nothing was counted that day;
    ``colour``: ``good`` (at or above target), ``warn`` (below, within ``AMBER_FACTOR`` x the allowed
    unavailability), ``bad``, ``maintenance`` (nothing counted, and some of the day was excluded: maintenance or an
    exclusion), ``none`` (no data); ``down_ms``, ``excluded_ms``: milliseconds of the day in those buckets;
    ``incidents``: those that overlap the day; ``day_ms``: the whole local day's length (23 or 25 hours on a DST
    day; ``end_ms`` is earlier for today).
    """

    day: date
    start_ms: int
    end_ms: int
    day_ms: int
    availability_percent: float | None
    colour: str
    down_ms: int
    excluded_ms: int
    incidents: tuple[PageIncident, ...]


Day = tuple[date, int, int, int]  # (local date, start_ms, end_ms, the whole day's ms)


def page_window(tz: ZoneInfo, now_ms: int, days: int = DAYS) -> tuple[Period, list[Day]]:
    """The window the bars cover, ``[local midnight DAYS-1 days ago, now)``, and its local days as (date,
    start_ms, end_ms, whole day's ms), today cut at now. Always ``days`` entries: a day with no time yet (now is
    exactly midnight) has ``end_ms == start_ms``."""
    today = ms_to_dt(now_ms).astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    spans = []
    for i in range(days):
        d = first + timedelta(days=i)
        start = local_midnight_ms(d, tz)
        midnight = local_midnight_ms(d + timedelta(days=1), tz)
        spans.append((d, start, max(start, min(midnight, now_ms)), midnight - start))
    start_ms = spans[0][1]
    return explicit_period(start_ms, max(now_ms, start_ms + 1), f"last {days} days"), spans


def day_colour(availability: Fraction | None, target: Fraction, excluded_ms: int) -> str:
    """The cell's colour class for a day's availability against ``target`` (both fractions of 1)."""
    if availability is None:
        return "maintenance" if excluded_ms else "none"
    if availability >= target:
        return "good"
    if 1 - availability <= AMBER_FACTOR * (1 - target):
        return "warn"
    return "bad"


def page_incidents(incidents: tuple[Incident, ...]) -> list[PageIncident]:
    return [PageIncident(i.start_ms, i.end_ms, i.down_ms, i.ongoing) for i in incidents]


def day_cells(
    days: list[Day],
    buckets: tuple[BucketSpan, ...],
    incidents: list[PageIncident],
    policies: Policies,
    target: Fraction,
) -> list[DayCell]:
    """A cell per day: the buckets inside it (one forward walk: days and buckets are both in order), and the
    incidents that overlap it (each placed on the days it spans by bisection).

    Most days have the same totals (a whole day up), so each distinct totals' figure and colour is worked out once.
    """
    starts = [day[1] for day in days]
    on_day: list[list[PageIncident]] = [[] for _ in days]
    for incident in incidents:
        first = max(bisect.bisect_right(starts, incident.start_ms) - 1, 0)
        for index in range(first, bisect.bisect_left(starts, incident.end_ms)):
            _, start, end, _ = days[index]
            if incident.start_ms < end and incident.end_ms > start:
                on_day[index].append(incident)
    cells: list[DayCell] = []
    figures: dict[tuple[int, ...], tuple[BucketTotals, float | None, str]] = {}
    j = 0
    for index, (d, start, end, day_ms) in enumerate(days):
        while j < len(buckets) and buckets[j].end_ms <= start:
            j += 1
        ms = dict.fromkeys(Bucket, 0)
        k = j
        while k < len(buckets) and buckets[k].start_ms < end:
            b = buckets[k]
            lo, hi = max(b.start_ms, start), min(b.end_ms, end)
            if hi > lo:
                ms[b.bucket] += hi - lo
            k += 1
        key = tuple(ms.values())
        known = figures.get(key)
        if known is None:
            totals = BucketTotals.of([BucketSpan(0, n, bucket) for bucket, n in ms.items() if n])
            value = availability_of(totals, policies, target).availability
            known = figures[key] = (totals, percent(value), day_colour(value, target, totals.excluded_ms))
        totals, figure, colour = known
        cells.append(
            DayCell(
                day=d,
                start_ms=start,
                end_ms=end,
                day_ms=day_ms,
                availability_percent=figure,
                colour=colour,
                down_ms=totals.down_ms,
                excluded_ms=totals.excluded_ms,
                incidents=tuple(on_day[index]),
            )
        )
    return cells


# What the last bucket says about now, in the page's words.
_STATE_OF_BUCKET = {
    Bucket.UP: "up",
    Bucket.DEGRADED: "degraded",
    Bucket.DOWN: "down",
    Bucket.UNKNOWN: "unknown",
    Bucket.NO_DATA: "no_data",
    Bucket.EXCLUDED: "maintenance",
}


def state_now(
    buckets: tuple[BucketSpan, ...], incidents: list[PageIncident], window_start_ms: int
) -> tuple[str, int | None]:
    """(state, since_ms) at the end of the buckets: ``up``, ``degraded``, ``down``, ``unknown``, ``no_data`` or
    ``maintenance``; since when that state holds (adjacent buckets of one kind are merged by ``bucketize``). A down
    state dates from its ongoing incident's start (which may lie before the window); ``since_ms`` is None when the
    state has held for the whole window (or there are no buckets: ``no_data``)."""
    if not buckets:
        return "no_data", None
    last = buckets[-1]
    state = _STATE_OF_BUCKET[last.bucket]
    since: int | None = last.start_ms
    if state == "down":
        ongoing = [i.start_ms for i in incidents if i.ongoing]
        since = min(ongoing) if ongoing else since
    elif since is not None and since <= window_start_ms:
        since = None
    return state, since
