"""The report read path at the size the spec names: 1,000 endpoints x 30 days, with history before and after."""

from __future__ import annotations

import sqlite3

import pytest

from probe_agent.store import queries as q
from probe_agent.store import transaction

from .conftest import HOUR, T0

DAY = 24 * HOUR


@pytest.mark.slow
def test_thirty_days_of_intervals_for_1000_endpoints_read_through_bounded_index_ranges(
    conn: sqlite3.Connection,
) -> None:
    """The read is correct at full size and every interval lookup is an index range bounded by the window.

    Speed itself is measured by bench/bench_report.py (timed tests flake on shared machines), not asserted here.
    """
    endpoints = [f"ep{n:04d}" for n in range(1000)]
    # Per endpoint: 180 days of history at one interval a day, then the cycle at 12 intervals a day.
    rows = []
    for ep in endpoints:
        t = T0 - 180 * DAY
        while t < T0 + 30 * DAY:
            step = DAY if t < T0 else 2 * HOUR
            rows.append(("ams", ep, t, t + step, "up" if (t // step) % 7 else "down"))
            t += step
    with transaction(conn):
        conn.executemany(
            "INSERT INTO intervals (agent, endpoint, start_ms, end_ms, state) VALUES (?, ?, ?, ?, ?)", rows
        )
    got = q.intervals_overlapping(conn, T0 + HOUR, T0 + 30 * DAY - HOUR, endpoints)
    assert len(got) == 1000 * 30 * 12
    assert all(iv.end_ms > T0 + HOUR and iv.start_ms < T0 + 30 * DAY - HOUR for iv in got)

    plans: list[str] = []

    class Explain:
        def execute(self, sql: str, params: object) -> list[object]:
            plans.extend(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))  # type: ignore[arg-type]
            return []

    q.intervals_overlapping(Explain(), T0, T0 + DAY, endpoints)  # type: ignore[arg-type]
    lookups = [p for p in plans if p.startswith(("SEARCH i ", "SCAN i "))]
    assert lookups and all("start_ms>? AND start_ms<?" in p for p in lookups), plans
