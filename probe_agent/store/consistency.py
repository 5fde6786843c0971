"""Reads that find a stored timeline in a state the fold never leaves it in (for ``db check`` and ``db repair``).

The fold stores each (agent, endpoint)'s intervals one after another, never overlapping, and its snapshot's open
spans start where the last stored interval ends. Two daemons of one agent id writing at once (one paused past its
heartbeats, the other judging it dead) broke both. These reads scan the whole intervals table: they are for the
maintenance commands, not for reports.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PairOverlap:
    """Stored intervals of one (agent, endpoint) that start before an earlier one ends: ``intervals`` of them,
    overlapping from ``start_ms`` (the first such start) to ``end_ms`` (the last end of an overlap), epoch ms."""

    agent: str
    endpoint: str
    intervals: int
    start_ms: int
    end_ms: int


def overlapping_intervals(conn: sqlite3.Connection) -> list[PairOverlap]:
    """Every (agent, endpoint) whose stored intervals overlap, by (agent, endpoint)."""
    rows = conn.execute(
        "SELECT agent, endpoint, count(*), min(start_ms), max(min(end_ms, reach)) FROM ("
        "SELECT agent, endpoint, start_ms, end_ms, max(end_ms) OVER (PARTITION BY endpoint, agent ORDER BY start_ms "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM intervals) "
        "WHERE start_ms < reach GROUP BY agent, endpoint ORDER BY agent, endpoint"
    )
    return [PairOverlap(str(a), str(e), int(n), int(lo), int(hi)) for a, e, n, lo, hi in rows]


def last_interval_ends(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """The end of the latest-ending stored interval of every (agent, endpoint) that has one."""
    rows = conn.execute("SELECT agent, endpoint, max(end_ms) FROM intervals GROUP BY endpoint, agent")
    return {(str(a), str(e)): int(end) for a, e, end in rows}
