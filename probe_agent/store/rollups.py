"""Hourly rollups: counts and latency histograms per (agent, endpoint, hour), rebuilt from raw results.

Rebuilding is idempotent (an hour's rows are replaced, never added to), one short transaction per hour. An hour is
marked complete in ``rollup_marks`` only by a rebuild for every agent and endpoint whose hour has ended before
``complete_before_ms``; ``queries.rollup_sums`` reads rollups only for marked hours and raw results otherwise.
"""

from __future__ import annotations

import json
import sqlite3

from probe_agent.model import HOUR_MS
from probe_agent.store.queries import ceil_hour, floor_hour, hourly_result_sums
from probe_agent.store.schema import transaction


def rebuild_rollups(
    conn: sqlite3.Connection,
    start_ms: int,
    end_ms: int,
    agent: str | None = None,
    endpoint: str | None = None,
    *,
    complete_before_ms: int,
) -> int:
    """Recompute the rollups of every whole hour touching ``[start_ms, end_ms)``; returns rollup rows written.

    ``complete_before_ms`` is the time before which all results are known to be stored: the daemon passes now
    minus its largest probe timeout and the writer's flush interval, ``import`` passes the end of the file. With
    ``agent``/``endpoint`` only those rows are replaced and no hour is marked (other agents' rows may be stale).
    """
    agents = None if agent is None else [agent]
    endpoints = None if endpoint is None else [endpoint]
    written = 0
    for hour_ms in range(floor_hour(start_ms), ceil_hour(end_ms), HOUR_MS):
        with transaction(conn):
            # Read inside the write transaction: a result committed meanwhile cannot slip between read and mark.
            sums = hourly_result_sums(conn, hour_ms, hour_ms + HOUR_MS, endpoints, agents)
            conn.execute(
                "DELETE FROM rollups WHERE hour_ms = ? AND (? IS NULL OR agent = ?) AND (? IS NULL OR endpoint = ?)",
                (hour_ms, agent, agent, endpoint, endpoint),
            )
            conn.executemany(
                "INSERT INTO rollups (endpoint, hour_ms, agent, n_up, n_degraded, n_down, n_unknown, n_recheck, "
                "histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e,
                        h,
                        a,
                        s.n_up,
                        s.n_degraded,
                        s.n_down,
                        s.n_unknown,
                        s.n_recheck,
                        json.dumps(s.histogram.to_dict(), separators=(",", ":")),
                    )
                    for (a, e, h), s in sums.items()
                ],
            )
            written += len(sums)
            if agent is None and endpoint is None and hour_ms + HOUR_MS <= complete_before_ms:
                conn.execute(
                    "INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (?, ?) "
                    "ON CONFLICT (hour_ms) DO UPDATE SET built_ms = excluded.built_ms",
                    (hour_ms, complete_before_ms),
                )
    return written


def unmarked_hours(conn: sqlite3.Connection, before_ms: int) -> list[int]:
    """Hours before ``before_ms`` that hold raw results but are not marked complete (need a rebuild)."""
    rows = conn.execute(
        f"SELECT DISTINCT ts_ms - ts_ms % {HOUR_MS} AS hour FROM results INDEXED BY results_ts WHERE ts_ms < ? "
        "AND hour NOT IN (SELECT hour_ms FROM rollup_marks) ORDER BY hour",
        (before_ms,),
    )
    return [int(h) for (h,) in rows]
