"""Rollups: counts and latency histograms per (agent, endpoint, hour) rebuilt from raw results, and per (agent,
endpoint, UTC day) built from a day's 24 complete hours.

Rebuilding an hour is idempotent (its rows are replaced, never added to), one short transaction per hour. An hour is
marked complete in ``rollup_marks`` only by a rebuild for every agent and endpoint whose hour has ended before
``complete_before_ms``. A day is built (``build_missing_days``) only when all 24 of its hours are marked, from
those hourly rows, and marked in ``rollup_day_marks``; rebuilding any of its hours removes the day's mark in the
same transaction, so a day's sums always equal its hours' sums. ``rollup_reads.rollup_sums`` reads marked days,
then marked hours, and raw results for everything else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from probe_agent.model import DAY_MS, HOUR_MS
from probe_agent.store.packed_histograms import pack, pack_value, value_of
from probe_agent.store.queries import ceil_hour, floor_hour, hourly_result_sums
from probe_agent.store.rows import RollupSums
from probe_agent.store.schema import transaction

HOURS_PER_DAY = DAY_MS // HOUR_MS
_SUMS = "n_up, n_degraded, n_down, n_unknown, n_recheck, histogram"


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
    Days are not built here (``build_missing_days``), but the days of the hours rebuilt lose their marks.
    """
    agents = None if agent is None else [agent]
    endpoints = None if endpoint is None else [endpoint]
    written = 0
    for hour_ms in range(floor_hour(start_ms), ceil_hour(end_ms), HOUR_MS):
        with transaction(conn):
            # Read inside the write transaction: a result committed meanwhile cannot slip between read and mark.
            sums = hourly_result_sums(conn, hour_ms, hour_ms + HOUR_MS, endpoints, agents)
            _replace_hour(conn, hour_ms, sums, agent, endpoint)
            written += len(sums)
            if agent is None and endpoint is None and hour_ms + HOUR_MS <= complete_before_ms:
                mark_hour(conn, hour_ms, complete_before_ms)
    return written


def _replace_hour(
    conn: sqlite3.Connection,
    hour_ms: int,
    sums: Mapping[tuple[str, str, int], RollupSums],
    agent: str | None,
    endpoint: str | None,
) -> None:
    """Replace the hour's rollup rows (of ``agent``/``endpoint`` when given) by ``sums`` and unmark its day, whose
    sums may no longer be the hours'; inside a transaction."""
    conn.execute(
        "DELETE FROM rollups WHERE hour_ms = ? AND (? IS NULL OR agent = ?) AND (? IS NULL OR endpoint = ?)",
        (hour_ms, agent, agent, endpoint, endpoint),
    )
    conn.executemany(
        f"INSERT INTO rollups (endpoint, hour_ms, agent, {_SUMS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (e, h, a, s.n_up, s.n_degraded, s.n_down, s.n_unknown, s.n_recheck, pack(s.histogram))
            for (a, e, h), s in sums.items()
        ],
    )
    conn.execute("DELETE FROM rollup_day_marks WHERE day_ms = ?", (hour_ms - hour_ms % DAY_MS,))


def mark_hour(conn: sqlite3.Connection, hour_ms: int, built_ms: int) -> None:
    """Mark ``hour_ms`` complete (its rollups were rebuilt, for every pair, after it ended); inside a transaction."""
    conn.execute(
        "INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (?, ?) "
        "ON CONFLICT (hour_ms) DO UPDATE SET built_ms = excluded.built_ms",
        (hour_ms, built_ms),
    )


def store_hour(conn: sqlite3.Connection, hour_ms: int, sums: Mapping[tuple[str, str, int], RollupSums]) -> None:
    """Store sums computed elsewhere as the complete rollups of ``hour_ms`` (every pair's rows replaced, the
    hour marked): what a rebuild writes, for a benchmark that has the sums but not the raw results."""
    with transaction(conn):
        _replace_hour(conn, hour_ms, sums, None, None)
        mark_hour(conn, hour_ms, hour_ms + HOUR_MS)


def unmarked_hours(conn: sqlite3.Connection, before_ms: int) -> list[int]:
    """Hours before ``before_ms`` that hold raw results but are not marked complete (need a rebuild)."""
    rows = conn.execute(
        f"SELECT DISTINCT ts_ms - ts_ms % {HOUR_MS} AS hour FROM results INDEXED BY results_ts WHERE ts_ms < ? "
        "AND hour NOT IN (SELECT hour_ms FROM rollup_marks) ORDER BY hour",
        (before_ms,),
    )
    return [int(h) for (h,) in rows]


def unmarked_hours_between(conn: sqlite3.Connection, start_ms: int, before_ms: int) -> list[int]:
    """Every whole hour in ``[start_ms, before_ms)`` not marked complete, whether it holds raw results or not: an
    hour with none is rolled up (empty) and marked too, so that a day with a quiet hour can still be built."""
    first, end = ceil_hour(start_ms), floor_hour(before_ms)
    marked = {
        int(h)
        for (h,) in conn.execute("SELECT hour_ms FROM rollup_marks WHERE hour_ms >= ? AND hour_ms < ?", (first, end))
    }
    return [h for h in range(first, end, HOUR_MS) if h not in marked]


def missing_days(conn: sqlite3.Connection) -> list[int]:
    """UTC days (``day_ms``) whose 24 hours are all marked complete but that are not built (or no longer are)."""
    rows = conn.execute(
        f"SELECT hour_ms - hour_ms % {DAY_MS} AS day FROM rollup_marks GROUP BY day "
        f"HAVING count(*) = {HOURS_PER_DAY} AND day NOT IN (SELECT day_ms FROM rollup_day_marks) ORDER BY day"
    )
    return [int(d) for (d,) in rows]


def build_day(conn: sqlite3.Connection, day_ms: int, built_ms: int) -> int | None:
    """Build the daily rollups of the UTC day starting at ``day_ms`` from its hourly rollups and mark the day, in one
    transaction; returns the rows written, or None (nothing written) when not every hour of the day is marked.

    Idempotent: the day's rows are replaced. Each day row is the sum of the day's hourly rows of its pair.
    """
    if day_ms % DAY_MS:
        raise ValueError(f"a day starts at a multiple of {DAY_MS} ms, not {day_ms}")
    with transaction(conn):
        (marked,) = conn.execute(
            "SELECT count(*) FROM rollup_marks WHERE hour_ms >= ? AND hour_ms < ?", (day_ms, day_ms + DAY_MS)
        ).fetchone()
        if marked < HOURS_PER_DAY:
            return None
        span = (day_ms, day_ms + DAY_MS)
        histograms: dict[tuple[str, str], int] = {}
        hours = "FROM rollups INDEXED BY rollups_hour WHERE hour_ms >= ? AND hour_ms < ?"
        for endpoint, agent, blob in conn.execute(f"SELECT endpoint, agent, histogram {hours}", span):
            histograms[(endpoint, agent)] = histograms.get((endpoint, agent), 0) + value_of(blob)
        conn.execute("DELETE FROM rollup_days WHERE day_ms = ?", (day_ms,))
        rows = conn.execute(
            "SELECT endpoint, agent, sum(n_up), sum(n_degraded), sum(n_down), sum(n_unknown), sum(n_recheck) "
            f"{hours} GROUP BY endpoint, agent",
            span,
        ).fetchall()
        conn.executemany(
            f"INSERT INTO rollup_days (endpoint, day_ms, agent, {_SUMS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e, day_ms, a, *counts, pack_value(histograms[(e, a)])) for e, a, *counts in rows],
        )
        conn.execute(
            "INSERT INTO rollup_day_marks (day_ms, built_ms) VALUES (?, ?) "
            "ON CONFLICT (day_ms) DO UPDATE SET built_ms = excluded.built_ms",
            (day_ms, built_ms),
        )
    return len(rows)


def build_missing_days(conn: sqlite3.Connection, built_ms: int) -> int:
    """Build every day ``missing_days`` names, one transaction each (see ``build_day``); returns the days built.

    ``built_ms`` is recorded in the day's mark (when it was built: the caller's "now").
    """
    return sum(build_day(conn, day_ms, built_ms) is not None for day_ms in missing_days(conn))
