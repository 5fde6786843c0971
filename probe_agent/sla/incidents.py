"""Incidents: outages per (agent, endpoint) from state intervals, and incidents of a combined timeline.

An **outage** is what the measurement fold confirmed for one (agent, endpoint): every interval carrying the
same ``outage_start_ms``. It runs from that start to the end of its last interval, where the fold saw it recover
(the recovery's own span may hold no time, when it was stored just before a crash); with no later interval of the
same (agent, endpoint) in the data handed over it is ``ongoing``. Unknown and no_data spans inside it are part of
it but are not down ms.

An **incident** of a combined timeline (one endpoint across its agents, or a service across its endpoints)
starts at a run of combined down time, or earlier at the stored start of the member outages covering that run
when only unknown/no_data time (or time before the intervals handed over) lies between: an outage whose first
failure speaks for no time (stored just before a crash) or lies in an earlier cycle keeps its true start. Two down
runs separated only by unknown/no_data time are one incident when a single stretch of member outages covers the
whole gap between them (the members say it never recovered). After its last down run an incident also keeps the
following unknown/no_data time that member outages still cover, up to their recovery, so an outage that ends
"unknown, then up" lasts until the up, as the fold says.

An incident is ``ongoing`` when it reaches the end of the timeline and a member outage it overlaps is ongoing.
Its ``cause`` is the cause of the earliest member outage that overlaps its first down run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

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
    """Count; MTTR = mean duration of resolved incidents; MTBF = counted up time / the incidents that started in
    the window (None with none started: never negative, even when incidents of several endpoints overlap); the
    longest incident (ongoing ones included). Means in ms."""

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
        groups: dict[int, list[StateInterval]] = {}
        for iv in ivs:
            if iv.outage_start_ms is not None:
                groups.setdefault(iv.outage_start_ms, []).append(iv)
        for start, members in groups.items():
            last_end = max(iv.end_ms for iv in members)
            # Any later interval of the member is not part of the outage: it recovered where its spans stop. (Not
            # "at the next up interval": a recovery result stored just before a crash speaks for no time, and the
            # next up interval may be much later.)
            ongoing = ivs[-1].start_ms < last_end  # sorted by start: no interval starts after the outage
            downs = [iv for iv in members if iv.state is State.DOWN]
            cause = min(downs, key=lambda iv: iv.start_ms).cause if downs else members[0].cause
            out.append(
                Outage(
                    agent=agent,
                    endpoint=endpoint,
                    start_ms=start,
                    end_ms=last_end,
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
    # Per incident: its down spans, the unknown/no_data spans after its last down span (if no up since), and
    # where the unknown/no_data stretch right before its first down span began (None: back to the data's start).
    groups: list[tuple[list[Span], list[Span], int | None]] = []
    open_tail = False  # True while only unknown/no_data followed the last down span
    lead: int | None = None  # start of the unknown/no_data stretch before the current span; None: data's start
    for span in combined:
        if span.state is State.DOWN:
            if open_tail and _covered(extents, groups[-1][0][-1].end_ms, span.start_ms):
                downs, tail, _ = groups[-1]
                downs.append(span)
                tail.clear()
            else:
                groups.append(([span], [], lead))
            open_tail = True
            lead = span.end_ms
        elif span.state in (State.UNKNOWN, State.NO_DATA):
            if open_tail:
                groups[-1][1].append(span)
        else:
            open_tail = False
            lead = span.end_ms
    timeline_end = combined[-1].end_ms if combined else 0
    ordered = sorted(outages, key=lambda o: o.start_ms)
    active: list[Outage] = []  # outages started before the current incident's end, not yet known to be over
    next_outage = 0
    incidents: list[Incident] = []
    for downs, tail, lead_start in groups:
        start, stop = _incident_start(downs[0].start_ms, lead_start, extents), _incident_end(downs, tail, extents)
        while next_outage < len(ordered) and ordered[next_outage].start_ms < stop:
            active.append(ordered[next_outage])
            next_outage += 1
        # Incidents come in time order, so an outage over before this one starts is over for all later ones.
        active = [o for o in active if o.end_ms > start]
        incidents.append(_incident(downs, start, stop, active, timeline_end))
    return incidents


def _incident_start(first_down_ms: int, lead_start: int | None, extents: Sequence[tuple[int, int]]) -> int:
    """Where an incident starts: at its member outage's stored start, when the outage began before the first down
    span and only unknown/no_data time (or time before the data handed over) lies between them. The fold dates an
    outage from its first failure, and that failure's own span may hold no time (stored just before a crash) or
    lie in a cycle whose intervals were not handed over."""
    i = bisect.bisect_right(extents, (first_down_ms, 2**63)) - 1
    if i < 0 or not extents[i][0] <= first_down_ms < extents[i][1]:
        return first_down_ms
    if lead_start is None:
        return extents[i][0]
    return min(first_down_ms, max(lead_start, extents[i][0]))


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


def incident_stats(incidents: Sequence[Incident], counted_up_ms: int | None, window_start_ms: int) -> IncidentStats:
    """Count, MTTR, MTBF and the longest of ``incidents`` (those overlapping a window that starts at
    ``window_start_ms``; ``counted_up_ms``: the window's counted up time). MTBF divides the counted up time by the
    incidents that *started* in the window, so an incident that began in an earlier window is listed and counted
    here but adds no failure: over consecutive windows each incident is one failure. With ``counted_up_ms`` None
    (incidents of several scopes merged, which have no one up time) MTBF is None: average the scopes' MTBFs."""
    ordered = sorted(incidents, key=lambda i: i.start_ms)
    resolved = [i.duration_ms for i in ordered if not i.ongoing]
    started = sum(1 for i in ordered if i.start_ms >= window_start_ms)
    return IncidentStats(
        count=len(ordered),
        mttr_ms=Fraction(sum(resolved), len(resolved)) if resolved else None,
        mtbf_ms=Fraction(counted_up_ms, started) if started and counted_up_ms is not None else None,
        longest=max(ordered, key=lambda i: i.duration_ms) if ordered else None,
    )


def longer_than(incidents: Iterable[Incident], max_duration_ms: int) -> list[Incident]:
    """The incidents strictly longer than ``max_duration_ms`` (one of exactly the maximum is within it)."""
    return [i for i in incidents if i.duration_ms > max_duration_ms]
