"""Reports taken after ``kill -9`` and before any restart: a dead run's last result stops speaking at the run's end.

One endpoint probed every 60 s (timeout 10 s, so a result speaks for at most 70 s), heartbeat 5 s (a run is dead
once its heartbeat is older than 3 x 5 s = 15 s). The run starts at T0 = 2026-11-02T00:00:00Z and stores three
`up` results, at T0, T0 + 60 s and T0 + 120 s; then the process is killed. Everything is hand-counted in ms:

- Heartbeat last at T0 + 125 s: the run ended at its last sign of life, T0 + 125 s. A report at T0 + 600 s over
  [T0, T0 + 600 s) counts up 125,000 ms and no_data 475,000 ms (the last result would otherwise speak until its
  bound, T0 + 190 s: up 190,000, no_data 410,000).
- Heartbeat last at T0 + 115 s, but the result at T0 + 120 s was stored after it: the run ends at T0 + 120 s (the
  later sign of life) and that result speaks for no time: up 120,000 ms, no_data 480,000 ms.
- Heartbeat at T0 + 125 s and the report at T0 + 135 s: 10 s is not stale, the run may be alive: up to now,
  135,000 ms up, no no_data.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe_agent.config import load_config
from probe_agent.config.document import Config
from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import Outcome, ProbeResult, StateInterval
from probe_agent.reports.build import build_report
from probe_agent.reports.closing import close_cycle
from probe_agent.reports.timelines import open_spans, params_for
from probe_agent.sla.periods import explicit_period
from probe_agent.store import queries, records
from probe_agent.store.rows import (
    INSERT_INTERVAL,
    INSERT_RESULT,
    UPSERT_FOLD_STATE,
    compact_json,
    interval_row,
    result_row,
)
from probe_agent.store.schema import open_db, transaction

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
S = 1000
PARAMS = FoldParams(interval_ms=60 * S, grace_ms=10 * S, confirm=3)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams, database: {tmp_path / "pa.db"}, timezone: UTC, heartbeat: 5s}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 5s, confirm: 3}}
            endpoints:
              - {{id: api, tcp: "127.0.0.1:9"}}
            slas:
              - id: gold
                endpoints: [api]
                target: 99.9%
                cycle: {{from: "2026-11-02T00:00:00Z", to: "2026-11-02T00:05:00Z"}}
            """
        )
    )
    return load_config(path).config


@pytest.fixture
def conn(config: Config) -> Iterator[sqlite3.Connection]:
    c = open_db(config.agent.database)
    yield c
    c.close()


def crashed_run(conn: sqlite3.Connection, last_heartbeat_ms: int) -> None:
    """What the daemon leaves behind when killed: a run without a stop, its results, and the fold snapshot stored
    with each result (every result here extends one open up span, so no interval was closed yet)."""
    run_id = records.start_run(conn, "ams", 4_000_000, "elsewhere", "test", None, T0)
    fold = TimelineFold("ams", "api", PARAMS)
    for ts in (T0, T0 + 60 * S, T0 + 120 * S):
        result = ProbeResult(ts_ms=ts, agent="ams", endpoint="api", outcome=Outcome.UP, latency_ms=3.0)
        closed = fold.feed(result)
        with transaction(conn):
            conn.execute(INSERT_RESULT, result_row(result, run_id))
            conn.executemany(INSERT_INTERVAL, [interval_row(i) for i in closed])
            conn.execute(UPSERT_FOLD_STATE, ("ams", "api", compact_json(fold.snapshot()), ts))
    assert records.heartbeat(conn, run_id, last_heartbeat_ms)


def restart(conn: sqlite3.Connection, config: Config) -> None:
    """What the next start-up does (daemon._prepare_store and _add_worker): close the dead run at its last sign of
    life and end the fold's open span there."""
    records.close_stale_runs(conn, "ams")
    end = queries.runs_for(conn, "ams")[-1].end_ms
    assert end is not None
    fold = TimelineFold("ams", "api", PARAMS, queries.fold_state_of(conn, "ams", "api"))
    closed = fold.end_run(end)
    records.import_batch(conn, intervals=closed, fold_states={("ams", "api"): fold.snapshot()}, now_ms=end)


def seconds_of(conn: sqlite3.Connection, config: Config, now_ms: int) -> dict[str, float]:
    report = build_report(conn, config, config.sla("gold"), explicit_period(T0, now_ms), now_ms)
    return dict(report.doc["seconds"])


@pytest.mark.parametrize(
    ("last_heartbeat_s", "up_s", "no_data_s"),
    [(125, 125, 475), (115, 120, 480)],
    ids=["ends-at-last-heartbeat", "ends-at-a-result-stored-after-it"],
)
def test_a_dead_runs_last_result_stops_at_the_runs_end_before_any_restart(
    conn: sqlite3.Connection, config: Config, last_heartbeat_s: int, up_s: int, no_data_s: int
) -> None:
    crashed_run(conn, T0 + last_heartbeat_s * S)
    now = T0 + 600 * S
    before_restart = seconds_of(conn, config, now)
    assert (before_restart["up"], before_restart["down"], before_restart["no_data"]) == (up_s, 0, no_data_s)
    # The restart cuts the same way: the figures (and the inputs) do not move when the dead run is closed.
    report_before = build_report(conn, config, config.sla("gold"), explicit_period(T0, now), now)
    restart(conn, config)
    assert seconds_of(conn, config, now) == before_restart
    report_after = build_report(conn, config, config.sla("gold"), explicit_period(T0, now), now)
    assert report_after.inputs_hash == report_before.inputs_hash


def test_a_run_with_a_fresh_heartbeat_still_speaks_until_now(conn: sqlite3.Connection, config: Config) -> None:
    crashed_run(conn, T0 + 125 * S)
    fresh = seconds_of(conn, config, T0 + 135 * S)  # heartbeat 10 s old: not stale (15 s), maybe alive
    assert (fresh["up"], fresh["no_data"]) == (135, 0)


def test_cycle_close_before_the_restart_stores_the_runs_end(conn: sqlite3.Connection, config: Config) -> None:
    crashed_run(conn, T0 + 125 * S)
    sla = config.sla("gold")
    cycle = explicit_period(T0, T0 + 300 * S)  # the SLA's 5-minute cycle, closed at T0 + 600 s
    doc = close_cycle(conn, config, sla, cycle, T0 + 600 * S)
    # Up from T0 to the run's end (125 s), no_data for the rest of the cycle (175 s), not up until T0 + 190 s.
    assert (doc["seconds"]["up"], doc["seconds"]["no_data"]) == (125, 175)
    assert doc["availability_exact"] == "1"
    assert doc["coverage_percent"] == pytest.approx(125 / 300 * 100, abs=1e-6)


def test_an_endpoint_no_longer_configured_resumes_with_the_configs_defaults(
    tmp_path: Path, conn: sqlite3.Connection
) -> None:
    """Once "api" is gone from the config, its stored snapshot resumes with params from the config's ``defaults``
    (here interval 30 s, timeout 4 s as the grace, confirm 2), no longer a fixed 60 s / 10 s / 3. Hand-counted, that
    changes no figure: reading only cuts the stored open span, which ends at the bound the daemon stored
    (T0 + 120 s + 60 s + 10 s = T0 + 190 s, not T0 + 120 s + 34 s), or at the dead run's end (T0 + 125 s)."""
    crashed_run(conn, T0 + 125 * S)
    path = tmp_path / "later.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams, database: {tmp_path / "pa.db"}, timezone: UTC, heartbeat: 5s}}
            defaults: {{interval: 30s, timeout: 4s, confirm: 2}}
            endpoints:
              - {{id: web, tcp: "127.0.0.1:9"}}
            """
        )
    )
    later = load_config(path).config
    assert params_for(later, "api") == FoldParams(interval_ms=30 * S, grace_ms=4 * S, confirm=2)
    up = [(T0, T0 + 125 * S, "up")]  # the run is dead at T0 + 600 s: cut at its last heartbeat
    assert spans(open_spans(conn, later, ["api"], T0 + 600 * S)) == up
    alive = [(T0, T0 + 190 * S, "up")]  # at T0 + 135 s the run may be alive: the stored bound
    assert spans(open_spans(conn, later, ["api"], T0 + 135 * S)) == alive


def spans(by_pair: dict[tuple[str, str], list[StateInterval]]) -> list[tuple[int, int, str]]:
    return [(iv.start_ms, iv.end_ms, iv.state.value) for iv in by_pair[("ams", "api")]]
