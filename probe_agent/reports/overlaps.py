"""Stored intervals of one (agent, endpoint) that overlap: resolved for reading, and said so.

One timeline never holds two states at once, so the SLA core refuses overlapping spans (``sla.timeline.normalize``).
They were stored all the same when two daemons of one agent id wrote to one database at once (one of them paused
past its heartbeats, the other judged it dead and started). ``probe-agent db repair`` re-folds such a pair from
its raw results; until then a report must neither crash nor quietly pick one record, so the reading side resolves
the overlap by a fixed rule and the report warns.

The rule, for every instant that two or more stored intervals of one (agent, endpoint) cover: the interval whose
state comes first in down > degraded > up > unknown > no_data speaks for it (a state a result saw beats a doubt,
a doubt beats no data, and of two things seen the worse one counts: a report over bad records never hides the
downtime one of them holds). Ties go to the interval that starts first, then to the longer one. Instants covered
by one interval, or none, are as stored. The outcome depends only on the set of intervals, not on their order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from probe_agent.model import State, StateInterval, iso

_RANK = {State.DOWN: 0, State.DEGRADED: 1, State.UP: 2, State.UNKNOWN: 3, State.NO_DATA: 4}


@dataclass(frozen=True, slots=True)
class Overlap:
    """Where stored intervals of one (agent, endpoint) overlap: from the first instant two of them cover to the
    last one (``[start_ms, end_ms)``, epoch ms), and how long in all two or more cover (``overlap_ms``)."""

    agent: str
    endpoint: str
    start_ms: int
    end_ms: int
    overlap_ms: int


def _winner_key(iv: StateInterval) -> tuple[int, int, int, str, int]:
    return (_RANK[State(iv.state)], iv.start_ms, -iv.end_ms, iv.cause or "", iv.outage_start_ms or -1)


def resolve_pair(intervals: Sequence[StateInterval]) -> tuple[list[StateInterval], Overlap | None]:
    """One (agent, endpoint)'s intervals without overlaps (by the module's rule), sorted by start, and where they
    overlapped (None when they did not: then they come back as given, sorted). Empty intervals are dropped."""
    ivs = sorted((iv for iv in intervals if iv.end_ms > iv.start_ms), key=lambda iv: (iv.start_ms, iv.end_ms))
    reach = None
    for iv in ivs:
        if reach is not None and iv.start_ms < reach:
            break
        reach = iv.end_ms if reach is None else max(reach, iv.end_ms)
    else:
        return ivs, None  # the usual case: nothing overlaps
    bounds = sorted({b for iv in ivs for b in (iv.start_ms, iv.end_ms)})
    out: list[StateInterval] = []
    active: list[StateInterval] = []
    nxt = 0
    first = last = None
    overlap_ms = 0
    for lo, hi in itertools.pairwise(bounds):
        while nxt < len(ivs) and ivs[nxt].start_ms <= lo:
            active.append(ivs[nxt])
            nxt += 1
        active = [iv for iv in active if iv.end_ms > lo]
        if not active:
            continue
        if len(active) > 1:
            first = lo if first is None else first
            last = hi
            overlap_ms += hi - lo
        win = min(active, key=_winner_key)
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.end_ms == lo
            and (prev.state, prev.cause, prev.outage_start_ms) == (win.state, win.cause, win.outage_start_ms)
        ):
            out[-1] = replace(prev, end_ms=hi)
        else:
            out.append(replace(win, start_ms=lo, end_ms=hi))
    assert first is not None and last is not None
    return out, Overlap(ivs[0].agent, ivs[0].endpoint, first, last, overlap_ms)


def resolve_overlaps(
    by_endpoint: Mapping[str, Iterable[StateInterval]],
) -> tuple[dict[str, list[StateInterval]], list[Overlap]]:
    """Per endpoint (as ``timelines.load_intervals`` returns them), every agent's intervals with overlaps resolved,
    sorted by (agent, start); and the overlaps found, by (agent, endpoint)."""
    out: dict[str, list[StateInterval]] = {}
    found: list[Overlap] = []
    for endpoint, ivs in by_endpoint.items():
        per_agent: dict[str, list[StateInterval]] = {}
        for iv in ivs:
            per_agent.setdefault(iv.agent, []).append(iv)
        resolved: list[StateInterval] = []
        for agent in sorted(per_agent):
            pair, overlap = resolve_pair(per_agent[agent])
            resolved += pair
            if overlap is not None:
                found.append(overlap)
        out[endpoint] = resolved
    return out, sorted(found, key=lambda o: (o.agent, o.endpoint))


def overlap_warning(overlap: Overlap) -> str:
    """The warning a report gives for one overlap."""
    return (
        f"the stored timeline of {overlap.agent}/{overlap.endpoint} has overlapping intervals from "
        f"{iso(overlap.start_ms)} to {iso(overlap.end_ms)} ({overlap.overlap_ms / 1000:g} s in all; two daemons of "
        "one agent id wrote at once): where they overlap this report counts the worst state they record (down, "
        "degraded, up, unknown, no_data in that order); run `probe-agent db repair` to re-fold it from the raw "
        "results"
    )
