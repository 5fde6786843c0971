"""Hourly rollups against a hand-computed table, rollup_sums against raw counts, and pruning."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.latency import LatencyHistogram, bucket_of
from probe_agent.model import Outcome, ProbeResult
from probe_agent.store import open_db
from probe_agent.store.maintenance import prune_results
from probe_agent.store.packed_histograms import unpack
from probe_agent.store.records import import_batch
from probe_agent.store.rollup_reads import rollup_sums
from probe_agent.store.rollups import rebuild_rollups
from probe_agent.store.rows import RollupSums

from .conftest import HOUR, T0, result

S = 1000
HAND_RESULTS = [
    result(T0, Outcome.UP, latency_ms=10),
    result(T0 + 10 * S, Outcome.DEGRADED, latency_ms=100),
    result(T0 + 20 * S, Outcome.DOWN, latency_ms=3),
    result(T0 + 30 * S, Outcome.DOWN, latency_ms=5, recheck=True),
    result(T0 + 35 * S, Outcome.UP, latency_ms=20, recheck=True),
    result(T0 + 40 * S, Outcome.UNKNOWN, latency_ms=None),
    result(T0 + HOUR, Outcome.UP, latency_ms=10),
    result(T0 + HOUR + 1, Outcome.UP, latency_ms=None),
    result(T0 + 50 * S, Outcome.UP, agent="fra", latency_ms=30),
]


def _rollup_table(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    rows = conn.execute(
        "SELECT agent, endpoint, hour_ms, n_up, n_degraded, n_down, n_unknown, n_recheck, histogram FROM rollups "
        "ORDER BY agent, endpoint, hour_ms"
    ).fetchall()
    return [(*row[:8], unpack(row[8])) for row in rows]


def _hist(*latencies: float) -> LatencyHistogram:
    return LatencyHistogram.of(latencies)


EXPECTED = [
    # agent, endpoint, hour, up, degraded, down, unknown, recheck, histogram (up/degraded incl. re-checks)
    ("ams", "api", T0, 1, 1, 1, 1, 2, _hist(10, 100, 20)),
    ("ams", "api", T0 + HOUR, 2, 0, 0, 0, 0, _hist(10)),
    ("fra", "api", T0, 1, 0, 0, 0, 0, _hist(30)),
]


def test_rebuild_matches_the_hand_computed_table_and_is_idempotent(conn: sqlite3.Connection) -> None:
    assert bucket_of(10) != bucket_of(20) != bucket_of(100)  # the table below counts them apart
    import_batch(conn, HAND_RESULTS, now_ms=0)
    assert rebuild_rollups(conn, T0 + 5, T0 + HOUR + 5, complete_before_ms=T0 + 2 * HOUR) == 3
    assert _rollup_table(conn) == EXPECTED
    assert rebuild_rollups(conn, T0, T0 + 2 * HOUR, complete_before_ms=T0 + 2 * HOUR) == 3
    assert _rollup_table(conn) == EXPECTED
    assert [h for (h,) in conn.execute("SELECT hour_ms FROM rollup_marks ORDER BY hour_ms")] == [T0, T0 + HOUR]


def test_an_hour_that_has_not_ended_is_not_marked(conn: sqlite3.Connection) -> None:
    import_batch(conn, HAND_RESULTS, now_ms=0)
    rebuild_rollups(conn, T0, T0 + 2 * HOUR, complete_before_ms=T0 + HOUR + 30 * S)
    assert [h for (h,) in conn.execute("SELECT hour_ms FROM rollup_marks")] == [T0]
    assert _rollup_table(conn) == EXPECTED  # rows are built anyway; rollup_sums just does not trust them yet


def test_a_filtered_rebuild_replaces_only_its_rows_and_marks_nothing(conn: sqlite3.Connection) -> None:
    import_batch(conn, HAND_RESULTS, now_ms=0)
    conn.execute("INSERT INTO rollups VALUES ('api', ?, 'fra', 99, 0, 0, 0, 0, x'')", (T0,))  # stale, other agent
    import_batch(conn, [result(T0 + 55 * S, Outcome.DOWN)], now_ms=0)
    rebuild_rollups(conn, T0, T0 + HOUR, agent="ams", complete_before_ms=T0 + 2 * HOUR)
    table = _rollup_table(conn)
    assert table[0] == ("ams", "api", T0, 1, 1, 2, 1, 2, _hist(10, 100, 20))
    assert table[1] == ("fra", "api", T0, 99, 0, 0, 0, 0, LatencyHistogram())
    assert conn.execute("SELECT count(*) FROM rollup_marks").fetchone()[0] == 0


def _brute_force(results: list[ProbeResult], a: int, b: int) -> dict[tuple[str, str], RollupSums]:
    out: dict[tuple[str, str], RollupSums] = {}
    for r in results:
        if not a <= r.ts_ms < b:
            continue
        s = out.setdefault((r.agent, r.endpoint), RollupSums())
        if r.recheck:
            s.n_recheck += 1
        else:
            field = {"up": "n_up", "degraded": "n_degraded", "down": "n_down", "unknown": "n_unknown"}[r.outcome]
            setattr(s, field, getattr(s, field) + 1)
        if r.outcome in (Outcome.UP, Outcome.DEGRADED) and r.latency_ms is not None:
            s.histogram.add(r.latency_ms)
    return out


@st.composite
def _results(draw: st.DrawFn) -> list[ProbeResult]:
    offsets = draw(st.lists(st.integers(0, 5 * HOUR - 1), unique=True, max_size=60))
    return [
        result(
            T0 + off,
            draw(st.sampled_from(list(Outcome))),
            agent=draw(st.sampled_from(["ams", "fra"])),
            latency_ms=draw(st.one_of(st.none(), st.floats(0, 5000))),
            recheck=draw(st.booleans()),
        )
        for off in offsets
    ]


@settings(max_examples=40, deadline=None)
@given(
    results=_results(),
    rebuilt=st.sets(st.integers(0, 4)),
    a=st.integers(-HOUR, 5 * HOUR),
    length=st.integers(1, 6 * HOUR),
)
def test_rollup_sums_equal_raw_counts_whatever_the_rollup_progress(
    results: list[ProbeResult], rebuilt: set[int], a: int, length: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "p.db")
        import_batch(conn, results, now_ms=0)
        for h in rebuilt:
            rebuild_rollups(conn, T0 + h * HOUR, T0 + (h + 1) * HOUR, complete_before_ms=T0 + 5 * HOUR)
        got = rollup_sums(conn, T0 + a, T0 + a + length)
        conn.close()
    assert got == _brute_force(results, T0 + a, T0 + a + length)


def test_rollup_sums_filters_by_endpoint_and_agent(conn: sqlite3.Connection) -> None:
    rows = [result(T0 + i * 600_000, agent=ag, endpoint=ep) for i in range(12) for ag in "xy" for ep in "pq"]
    import_batch(conn, rows, now_ms=0)
    rebuild_rollups(conn, T0, T0 + 2 * HOUR, complete_before_ms=T0 + 2 * HOUR)
    got = rollup_sums(conn, T0 + 1, T0 + 2 * HOUR, endpoints=["p"], agents=["y"])
    assert got == _brute_force([r for r in rows if r.endpoint == "p" and r.agent == "y"], T0 + 1, T0 + 2 * HOUR)
    assert set(got) == {("y", "p")} and got[("y", "p")].n_up == 11
    counts_only = rollup_sums(conn, T0 + 1, T0 + 2 * HOUR, with_histograms=False)
    assert counts_only[("y", "p")].n_up == 11 and counts_only[("y", "p")].histogram.total == 0


def test_pruning_keeps_statistics_by_rolling_up_first(conn: sqlite3.Connection) -> None:
    rows = [result(T0 + i * 300_000, Outcome.DOWN if i % 5 == 0 else Outcome.UP, latency_ms=i) for i in range(48)]
    import_batch(conn, rows, now_ms=0)
    before = rollup_sums(conn, T0, T0 + 4 * HOUR)
    deleted = prune_results(conn, older_than_ms=T0 + 2 * HOUR + 5, keep_after_ms=T0 + 3 * HOUR)
    assert deleted == 24  # two whole hours; the partial third hour is kept
    assert conn.execute("SELECT min(ts_ms) FROM results").fetchone()[0] == T0 + 2 * HOUR
    assert rollup_sums(conn, T0, T0 + 4 * HOUR) == before == _brute_force(rows, T0, T0 + 4 * HOUR)
    # keep_after_ms wins when it is earlier than the retention cut-off (an open cycle or claim window).
    assert prune_results(conn, older_than_ms=T0 + 4 * HOUR, keep_after_ms=T0 + 2 * HOUR) == 0
