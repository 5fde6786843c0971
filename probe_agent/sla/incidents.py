"""Incidents: outages per (agent, endpoint) from state intervals, and incidents of a combined timeline.

An **outage** is what the measurement fold confirmed for one (agent, endpoint): every interval carrying the
same ``outage_start_ms``. It runs from that start to the start of the first later up/degraded interval of the
same (agent, endpoint) (its recovery), or, with no recovery in the data handed over, to the end of its last
interval, and is then ``ongoing``. Unknown and no_data spans inside it are part of it but are not down ms.

An **incident** of a combined timeline (one endpoint across its agents, or a service across its endpoints)
starts at a run of combined down time. Two down runs separated only by unknown/no_data time are one incident
when a single stretch of member outages covers the whole gap between them (the members say it never
recovered). After its last down run an incident also keeps the following unknown/no_data time that member
outages still cover, up to their recovery, so an outage that ends "unknown, then up" lasts until the up, as
the fold says.

An incident is ``ongoing`` when it reaches the end of the timeline and a member outage it overlaps is ongoing.
Its ``cause`` is the cause of the earliest member outage that overlaps its first down run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from probe_agent.model import State, StateInterval
from probe_agent.sla.exclusions import merge_ranges
from probe_agent.sla.timeline import Span


@dataclass(frozen=True, slots=True)
class Outage:
    """One confirmed outage of one (agent, endpoint): ``[start_ms, end_ms)``, ``down_ms`` inside it."""

    agent: str
    endpoint: str
    start_ms: int
    end_ms: int
    down_ms: int
    cause: str | None
    ongoing: bool


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident ``[start_ms, end_ms)`` of a combined timeline; ``down_ms``: combined down time in it."""

    start_ms: int
    end_ms: int
    down_ms: int
    endpoints: tuple[str, ...]
    cause: str | None
    ongoing: bool

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class IncidentStats:
    """Count; MTTR = mean duration of resolved incidents; MTBF = mean time from one incident's end to the
    next one's start (needs two incidents); the longest incident (ongoing ones included). Means in ms."""

    count: int
    mttr_ms: Fraction | None
    mtbf_ms: Fraction | None
    longest: Incident | None


def outages_of(intervals: Iterable[StateInterval]) -> list[Outage]:
    """The outages in the intervals of any number of (agent, endpoint) pairs, sorted by start."""
    by_member: dict[tuple[str, str], list[StateInterval]] = {}
    for iv in intervals:
        by_member.setdefault((iv.agent, iv.endpoint), []).append(iv)
    out: list[Outage] = []
    for (agent, endpoint), ivs in by_member.items():
        ivs.sort(key=lambda iv: iv.start_ms)
        recoveries = [iv.start_ms for iv in ivs if iv.state in (State.UP, State.DEGRADED)]
        groups: dict[int, list[StateInterval]] = {}
        for iv in ivs:
            if iv.outage_start_ms is not None:
                groups.setdefault(iv.outage_start_ms, []).append(iv)
        for start, members in groups.items():
            last_end = max(iv.end_ms for iv in members)
            r = bisect.bisect_left(recoveries, last_end)
            ongoing = r == len(recoveries)
            downs = [iv for iv in members if iv.state is State.DOWN]
            cause = min(downs, key=lambda iv: iv.start_ms).cause if downs else members[0].cause
            out.append(
                Outage(
                    agent=agent,
                    endpoint=endpoint,
                    start_ms=start,
                    end_ms=last_end if ongoing else recoveries[r],
                    down_ms=sum(iv.duration_ms for iv in downs),
                    cause=cause,
                    ongoing=ongoing,
                )
            )
    out.sort(key=lambda o: (o.start_ms, o.endpoint, o.agent))
    return out


def _covered(extents: Sequence[tuple[int, int]], a: int, b: int) -> bool:
    """Whether one merged extent contains all of ``[a, b)``."""
    i = bisect.bisect_right(extents, (a, 2**63)) - 1
    return i >= 0 and extents[i][0] <= a and b <= extents[i][1]


def incidents_of(combined: Sequence[Span], outages: Sequence[Outage]) -> list[Incident]:
    """The incidents of a combined timeline (contiguous spans), bridged by the members' ``outages``."""
    extents = merge_ranges((o.start_ms, o.end_ms) for o in outages)
    # Per incident: its down spans, and the unknown/no_data spans after its last down span (if no up since).
    groups: list[tuple[list[Span], list[Span]]] = []
    open_tail = False  # True while only unknown/no_data followed the last down span
    for span in combined:
        if span.state is State.DOWN:
            if open_tail and _covered(extents, groups[-1][0][-1].end_ms, span.start_ms):
                downs, tail = groups[-1]
                downs.append(span)
                tail.clear()
            else:
                groups.append(([span], []))
            open_tail = True
        elif span.state in (State.UNKNOWN, State.NO_DATA):
            if open_tail:
                groups[-1][1].append(span)
        else:
            open_tail = False
    timeline_end = combined[-1].end_ms if combined else 0
    ordered = sorted(outages, key=lambda o: o.start_ms)
    active: list[Outage] = []  # outages started before the current incident's end, not yet known to be over
    next_outage = 0
    incidents: list[Incident] = []
    for downs, tail in groups:
        start, stop = downs[0].start_ms, _incident_end(downs, tail, extents)
        while next_outage < len(ordered) and ordered[next_outage].start_ms < stop:
            active.append(ordered[next_outage])
            next_outage += 1
        # Incidents come in time order, so an outage over before this one starts is over for all later ones.
        active = [o for o in active if o.end_ms > start]
        incidents.append(_incident(downs, start, stop, active, timeline_end))
    return incidents


def _incident_end(downs: list[Span], tail: list[Span], extents: Sequence[tuple[int, int]]) -> int:
    stop = downs[-1].end_ms
    # Keep trailing unknown/no_data only as far as a member outage still covers it (until its recovery).
    for span in tail:
        i = bisect.bisect_right(extents, (stop, 2**63)) - 1
        if i < 0 or not extents[i][0] <= stop < extents[i][1]:
            break
        stop = min(span.end_ms, extents[i][1])
        if stop < span.end_ms:
            break
    return stop


def _incident(downs: list[Span], start: int, stop: int, overlapping: Sequence[Outage], end: int) -> Incident:
    first_run_end = downs[0].end_ms
    first = [o for o in overlapping if o.start_ms < first_run_end]
    cause = min(first, key=lambda o: o.start_ms).cause if first else None
    return Incident(
        start_ms=start,
        end_ms=stop,
        down_ms=sum(s.duration_ms for s in downs),
        endpoints=tuple(sorted({o.endpoint for o in overlapping})),
        cause=cause,
        # Ongoing while a member outage in it has no recovery yet, even if the timeline goes on as no_data (the
        # agent stopped, or the data ends): a stop is not a recovery.
        ongoing=any(o.ongoing and o.end_ms >= stop for o in overlapping),
    )


def incident_stats(incidents: Sequence[Incident]) -> IncidentStats:
    """Count, MTTR, MTBF and the longest of ``incidents`` (sorted by start)."""
    ordered = sorted(incidents, key=lambda i: i.start_ms)
    resolved = [i.duration_ms for i in ordered if not i.ongoing]
    gaps = [b.start_ms - a.end_ms for a, b in pairwise(ordered)]
    return IncidentStats(
        count=len(ordered),
        mttr_ms=Fraction(sum(resolved), len(resolved)) if resolved else None,
        mtbf_ms=Fraction(sum(gaps), len(gaps)) if gaps else None,
        longest=max(ordered, key=lambda i: i.duration_ms) if ordered else None,
    )


def longer_than(incidents: Iterable[Incident], max_duration_ms: int) -> list[Incident]:
    """The incidents strictly longer than ``max_duration_ms`` (one of exactly the maximum is within it)."""
    return [i for i in incidents if i.duration_ms > max_duration_ms]
