"""The stored intervals of outages that were already going on where a report's intervals begin.

Reports read the intervals that overlap their window (``timelines.load_intervals``). An outage that began before
the window (down from 20:00 on a cycle's last day, recovered at 01:00 in the next cycle) is stored as intervals
that all carry its start (``outage_start_ms``); only the ones overlapping the window were read. The SLA core
already dates the incident from that stored start; the earlier intervals read here give it its whole down time,
and let a service's rule see what the other members did meanwhile, so the incident is the same (start, end,
duration, down time) whichever cycle reports it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from probe_agent.model import StateInterval
from probe_agent.store import queries


def with_outage_history(
    conn: sqlite3.Connection, intervals: Mapping[str, Sequence[StateInterval]]
) -> dict[str, list[StateInterval]]:
    """``intervals`` (per endpoint, as loaded) plus every stored interval of those endpoints from the earliest
    outage start found in them up to where each (agent, endpoint)'s loaded intervals begin.

    A member's own timeline is contiguous, so what is missing is exactly its stored intervals ending at or before
    its first loaded one; a member with nothing loaded gets all of its intervals in that range (they end before
    the window, or they would have been loaded). Nothing is read when no loaded interval belongs to an outage
    that started before the member's first loaded interval. Lists come back sorted by (agent, start).
    """
    out = {endpoint: list(ivs) for endpoint, ivs in intervals.items()}
    first: dict[tuple[str, str], StateInterval] = {}
    for ivs in intervals.values():
        for iv in ivs:
            key = (iv.agent, iv.endpoint)
            if key not in first or iv.start_ms < first[key].start_ms:
                first[key] = iv
    earlier = [
        iv.outage_start_ms
        for iv in first.values()
        if iv.outage_start_ms is not None and iv.outage_start_ms < iv.start_ms
    ]
    if not earlier:
        return out
    since, until = min(earlier), max(iv.start_ms for iv in first.values())
    for iv in queries.intervals_overlapping(conn, since, until, sorted(out)):
        own = first.get((iv.agent, iv.endpoint))
        if own is None or iv.end_ms <= own.start_ms:
            out[iv.endpoint].append(iv)
    for ivs in out.values():
        ivs.sort(key=lambda iv: (iv.agent, iv.start_ms))
    return out
