"""Reads and the small write paths (runs, exclusions, cycles, configs, import) against hand-made tables."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import AgentRun, Outcome, State, StateInterval
from probe_agent.store import open_db, transaction
from probe_agent.store import queries as q
from probe_agent.store.records import (
    CycleAlreadyClosed,
    add_exclusion,
    close_cycle,
    close_stale_runs,
    heartbeat,
    import_batch,
    record_config,
    revoke_exclusion,
    start_run,
    stop_run,
)
from probe_agent.store.rows import INSERT_INTERVAL, interval_row

from .conftest import interval, result


def _insert_intervals(conn: sqlite3.Connection, intervals: list[StateInterval]) -> None:
    with transaction(conn):
        conn.executemany(INSERT_INTERVAL, [interval_row(i) for i in intervals])


TIMELINES = [
    interval(0, 10, State.UP),
    interval(10, 20, State.DOWN),
    interval(20, 30, State.UP),
    interval(30, 100, State.NO_DATA),
    interval(5, 50, State.UP, agent="fra"),
    interval(0, 1000, State.UP, endpoint="web"),
]


def _spans(intervals: list[StateInterval]) -> list[tuple[str, str, int, int]]:
    return [(i.endpoint, i.agent, i.start_ms, i.end_ms) for i in intervals]


@pytest.mark.parametrize(
    ("window", "endpoints", "agents", "expected"),
    [
        ((15, 35), ["api"], None, [("api", "ams", 10, 20), ("api", "ams", 20, 30), ("api", "ams", 30, 100),
                                   ("api", "fra", 5, 50)]),
        ((20, 30), ["api"], None, [("api", "ams", 20, 30), ("api", "fra", 5, 50)]),
        ((100, 200), ["api"], None, []),
        ((99, 100), ["api"], None, [("api", "ams", 30, 100)]),
        ((0, 5), ["api"], None, [("api", "ams", 0, 10)]),
        ((15, 35), ["api"], ["fra"], [("api", "fra", 5, 50)]),
        ((40, 60), None, None, [("api", "ams", 30, 100), ("api", "fra", 5, 50), ("web", "ams", 0, 1000)]),
        ((40, 60), ["web", "nope"], None, [("web", "ams", 0, 1000)]),
        ((-50, 0), None, None, []),
    ],
)  # fmt: skip
def test_intervals_overlapping_hand_table(
    conn: sqlite3.Connection,
    window: tuple[int, int],
    endpoints: list[str] | None,
    agents: list[str] | None,
    expected: list[tuple[str, str, int, int]],
) -> None:
    _insert_intervals(conn, TIMELINES)
    assert _spans(q.intervals_overlapping(conn, *window, endpoints, agents)) == expected


def test_intervals_come_back_with_every_field(conn: sqlite3.Connection) -> None:
    stored = StateInterval("ams", "api", 10, 20, State.DOWN, cause="connect_refused", outage_start_ms=10)
    _insert_intervals(conn, [stored])
    assert q.intervals_overlapping(conn, 0, 100) == [stored]


@st.composite
def _timelines(draw: st.DrawFn) -> list[StateInterval]:
    out: list[StateInterval] = []
    for agent in draw(st.lists(st.sampled_from(["a1", "a2", "a3"]), unique=True, max_size=3)):
        for endpoint in draw(st.lists(st.sampled_from(["e1", "e2"]), unique=True, min_size=1)):
            t = draw(st.integers(0, 50))
            for _ in range(draw(st.integers(0, 12))):
                t += draw(st.integers(0, 20))  # gaps are allowed: the store does not fill them
                length = draw(st.integers(1, 40))
                out.append(StateInterval(agent, endpoint, t, t + length, draw(st.sampled_from(list(State)))))
                t += length
    return out


@settings(max_examples=40, deadline=None)
@given(intervals=_timelines(), a=st.integers(0, 400), length=st.integers(1, 200), by_endpoint=st.booleans())
def test_intervals_overlapping_equals_a_brute_force_filter(
    intervals: list[StateInterval], a: int, length: int, by_endpoint: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "p.db")
        _insert_intervals(conn, intervals)
        endpoints = ["e1"] if by_endpoint else None
        got = q.intervals_overlapping(conn, a, a + length, endpoints)
        conn.close()
    want = sorted(
        (i for i in intervals if i.start_ms < a + length and i.end_ms > a and (not by_endpoint or i.endpoint == "e1")),
        key=lambda i: (i.endpoint, i.agent, i.start_ms),
    )
    assert got == want


def test_last_results_and_export_stream(conn: sqlite3.Connection) -> None:
    rows = [
        result(100, agent="ams"),
        result(300, Outcome.DOWN, agent="ams"),
        result(200, agent="fra"),
        result(150, agent="ams", endpoint="web", latency_ms=None),
        result(300, agent="fra", endpoint="web", recheck=True),
    ]
    import_batch(conn, rows, now_ms=0)
    last = q.last_results(conn)
    assert {k: v.ts_ms for k, v in last.items()} == {
        ("ams", "api"): 300,
        ("fra", "api"): 200,
        ("ams", "web"): 150,
        ("fra", "web"): 300,
    }
    assert last[("ams", "api")] == rows[1]  # round-trips every field
    assert set(q.last_results(conn, endpoints=["web"], agents=["fra"])) == {("fra", "web")}

    stream = q.iter_results(conn)
    assert next(stream).ts_ms == 100  # a generator: rows come one at a time
    assert [r.ts_ms for r in stream] == [150, 200, 300, 300]
    assert [(r.agent, r.endpoint, r.ts_ms) for r in q.iter_results(conn, start_ms=150, end_ms=300)] == [
        ("ams", "web", 150),
        ("fra", "api", 200),
    ]
    assert [r.ts_ms for r in q.iter_results(conn, endpoints=["api"], agents=["ams"])] == [100, 300]
    assert list(q.iter_results(conn, endpoints=[])) == []


def test_import_is_idempotent_for_results_and_all_or_nothing(conn: sqlite3.Connection) -> None:
    rows = [result(1000 + i) for i in range(10)]
    assert import_batch(conn, rows, [interval(1000, 1010)], {("ams", "api"): {"x": 1}}, now_ms=5) == 10
    assert import_batch(conn, rows, now_ms=6) == 0
    # A second import whose interval starts where a stored one starts: nothing of it is stored.
    with pytest.raises(sqlite3.IntegrityError):
        import_batch(conn, [result(5000)], [interval(1000, 1020)], {("ams", "api"): {"x": 2}}, now_ms=7)
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 10
    assert q.fold_states(conn) == {("ams", "api"): {"x": 1}}


def test_runs_lifecycle_stale_runs_and_running_daemon(conn: sqlite3.Connection) -> None:
    r1 = start_run(conn, "ams", 100, "host-a", "0.1.0", "cfg1", now_ms=1_000)
    assert heartbeat(conn, r1, 5_000)
    assert heartbeat(conn, r1, 4_000)  # never backwards
    assert q.running_daemon(conn, "ams", stale_after_ms=30_000, now_ms=20_000) is not None
    assert q.running_daemon(conn, "ams", stale_after_ms=30_000, now_ms=40_000) is None  # heartbeat too old
    assert q.running_daemon(conn, "fra", stale_after_ms=30_000, now_ms=20_000) is None
    # r1 crashed. A run of another agent must not be touched by ams's start-up.
    other = start_run(conn, "fra", 7, "host-b", "0.1.0", "cfg9", now_ms=2_000)
    assert q.runs_for(conn, "ams") == [AgentRun(r1, "ams", 1_000, None, None)]  # without a clock: live
    assert q.runs_for(conn, "ams", now_ms=100_000, stale_after_ms=30_000) == [AgentRun(r1, "ams", 1_000, 5_000, False)]

    r2 = start_run(conn, "ams", 200, "host-a", "0.1.0", "cfg1", now_ms=60_000)
    assert close_stale_runs(conn, "ams", except_run_id=r2) == [r1]
    assert close_stale_runs(conn, "ams", except_run_id=r2) == []
    assert not heartbeat(conn, r1, 70_000)  # a closed run cannot come back to life
    assert heartbeat(conn, r2, 70_000)
    assert stop_run(conn, r2, 80_000)
    assert not stop_run(conn, r2, 90_000)
    assert q.runs_for(conn, "ams") == [
        AgentRun(r1, "ams", 1_000, 5_000, False),
        AgentRun(r2, "ams", 60_000, 80_000, True),
    ]
    assert q.running_daemon(conn, "ams", stale_after_ms=30_000, now_ms=80_001) is None
    assert [r.run_id for r in q.run_records(conn, "fra")] == [other]
    assert q.run_records(conn, "fra")[0].hostname == "host-b"


def _exclude(conn: sqlite3.Connection, scope_kind: str, start_ms: int, end_ms: int, kind: str) -> int:
    return add_exclusion(
        conn,
        scope_kind=scope_kind,
        scope_id="shop",
        start_ms=start_ms,
        end_ms=end_ms,
        kind=kind,
        reason="db upgrade",
        author="ops",
        created_ms=1,
    )


def test_exclusions_are_append_only(conn: sqlite3.Connection) -> None:
    e1 = _exclude(conn, "service", 100, 200, "maintenance")
    e2 = _exclude(conn, "sla", 300, 400, "customer")
    with pytest.raises(ValueError, match="kind"):
        _exclude(conn, "sla", 1, 2, "holiday")
    with pytest.raises(ValueError, match="scope_kind"):
        _exclude(conn, "region", 1, 2, "customer")
    with pytest.raises(ValueError, match="end after"):
        _exclude(conn, "sla", 2, 2, "customer")
    assert revoke_exclusion(conn, e1, 500, "lead")
    assert not revoke_exclusion(conn, e1, 600, "someone-else")
    assert [e.id for e in q.exclusions(conn)] == [e2]
    everything = q.exclusions(conn, include_revoked=True)
    assert [(e.id, e.revoked_ms, e.revoked_by) for e in everything] == [(e1, 500, "lead"), (e2, None, None)]
    assert [e.id for e in q.exclusions(conn, include_revoked=True, start_ms=150, end_ms=300)] == [e1]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM exclusions WHERE id = ?", (e2,))
    with pytest.raises(sqlite3.IntegrityError, match="only be revoked"):
        conn.execute("UPDATE exclusions SET end_ms = 999 WHERE id = ?", (e2,))
    with pytest.raises(sqlite3.IntegrityError, match="only be revoked"):
        conn.execute("UPDATE exclusions SET revoked_ms = NULL, revoked_by = NULL WHERE id = ?", (e1,))


def test_closed_cycles_are_immutable(conn: sqlite3.Connection) -> None:
    def close(report: object, credit: object) -> None:
        close_cycle(
            conn,
            sla="gold",
            cycle_start_ms=0,
            cycle_end_ms=100,
            closed_ms=150,
            inputs_hash="abc",
            report=report,
            credit=credit,
        )

    close({"availability": "0.999"}, {"amount": "10.00"})
    with pytest.raises(CycleAlreadyClosed, match="already closed"):
        close({"availability": "0.5"}, {"amount": "999.00"})
    cycle = q.closed_cycle(conn, "gold", 0)
    assert cycle is not None and cycle.report == {"availability": "0.999"} and cycle.credit == {"amount": "10.00"}
    assert q.closed_cycle(conn, "gold", 100) is None
    assert [c.cycle_start_ms for c in q.closed_cycles(conn, "gold")] == [0]
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE closed_cycles SET credit = '{}'")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("DELETE FROM closed_cycles")


@pytest.mark.parametrize("recursive_triggers", [False, True])
@pytest.mark.parametrize(
    "sql",
    [
        # Same (sla, cycle_start_ms): REPLACE deletes the old row without firing the DELETE trigger (recursive
        # triggers are off by default), so only a BEFORE INSERT guard can refuse it.
        "INSERT OR REPLACE INTO closed_cycles (sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, "
        "credit) VALUES ('gold', 0, 100, 999, 'forged', '{}', '{\"amount\": \"999.00\"}')",
        # Same row id, another cycle: REPLACE on the primary key would swap the stored row for a different one.
        "INSERT OR REPLACE INTO closed_cycles (id, sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, "
        "credit) SELECT id, 'gold', 500, 600, 999, 'forged', '{}', '{}' FROM closed_cycles",
        "REPLACE INTO closed_cycles (sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, credit) "
        "VALUES ('gold', 0, 100, 999, 'forged', '{}', '{}')",
        "INSERT OR IGNORE INTO closed_cycles (sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, "
        "credit) VALUES ('gold', 0, 100, 999, 'forged', '{}', '{}')",
    ],
    ids=["or-replace-same-cycle", "or-replace-same-id", "replace", "or-ignore"],
)
def test_a_closed_cycle_cannot_be_replaced(conn: sqlite3.Connection, sql: str, recursive_triggers: bool) -> None:
    close_cycle(
        conn, sla="gold", cycle_start_ms=0, cycle_end_ms=100, closed_ms=150, inputs_hash="abc",
        report={"availability": "0.999"}, credit={"amount": "10.00"},
    )  # fmt: skip
    conn.execute(f"PRAGMA recursive_triggers = {'ON' if recursive_triggers else 'OFF'}")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute(sql)
    assert [(c.cycle_start_ms, c.closed_ms, c.inputs_hash, c.credit) for c in q.closed_cycles(conn)] == [
        (0, 150, "abc", {"amount": "10.00"})
    ]
    # Another cycle of the same SLA still closes normally.
    close_cycle(
        conn, sla="gold", cycle_start_ms=100, cycle_end_ms=200, closed_ms=250, inputs_hash="def", report={}, credit={}
    )
    assert [c.cycle_start_ms for c in q.closed_cycles(conn, "gold")] == [0, 100]


def test_config_snapshots_and_each_activation(conn: sqlite3.Connection) -> None:
    assert record_config(conn, "ams", "h1", {"endpoints": ["a"]}, 1_000)
    assert record_config(conn, "ams", "h2", {"endpoints": ["a", "b"]}, 2_000)
    assert not record_config(conn, "ams", "h1", {"endpoints": ["a"]}, 3_000)  # came back after a reload
    assert q.config_activations(conn, "ams") == [(1_000, "h1"), (2_000, "h2"), (3_000, "h1")]
    assert q.config_snapshot(conn, "h2") == {"endpoints": ["a", "b"]}
    assert q.config_snapshot(conn, "nope") is None
