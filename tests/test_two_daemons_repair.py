"""Two daemons of one agent id wrote at once (``tests/two_daemons.py``): reports warn instead of crashing,
``db check`` finds it, ``db repair`` re-folds it from the raw results.

Hand count, in seconds after t0 (2 hours ago, on the minute), for ams/api (interval 60 s, grace 10 s, confirm 1):

Stored by the two daemons: up [0,125), no_data [125,150) (B's start), up [150,270) (B), down [245,305) (A, outage
from 245), down [270,330) (B, outage from 270), up [305,390) (A's stop), up [330,380) (B's stop). Four of them
start before an earlier one ends: the overlaps run from 245 to 380 (135 s covered twice).

Read before the repair (worst state wins where they overlap): up [0,125), no_data [125,150), up [150,245), down
[245,330), up [330,390). Over the SLA's cycle [0,400): up 125 + 95 + 60 = 280 s, down 85 s, no_data 25 + 10 = 35 s.

Re-folded from the raw results (0, 60, 120 of run 1, which ended at 125; 150, 185, 210, 245 down, 270 down, 330,
365 of run 2, which ended at 380; A's result at 305 was rejected with its submission and is not stored): up [0,125),
no_data [125,150), up [150,245), down [245,330) (one outage from 245), up [330,380). Over [0,400): up 125 + 95 + 50
= 270 s, down 85 s, no_data 25 + 20 = 45 s.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from probe_agent.agent.runlock import RunLock
from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.fold import fold
from probe_agent.model import iso
from probe_agent.reports.timelines import open_spans
from probe_agent.store import queries, records
from probe_agent.store.schema import open_db
from tests.two_daemons import AGENT, ENDPOINT, PARAMS, S, two_daemons

T0 = (time.time_ns() // 1_000_000 - 2 * 3_600_000) // 60_000 * 60_000


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: {AGENT}, database: {tmp_path / "pa.db"}, timezone: UTC, heartbeat: 5s}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 5s, confirm: 1}}
            endpoints:
              - {{id: {ENDPOINT}, tcp: "127.0.0.1:9"}}
            slas:
              - id: gold
                endpoints: [{ENDPOINT}]
                target: 99.9%
                cycle: {{from: "{iso(T0)}", to: "{iso(T0 + 400 * S)}"}}
            """
        )
    )
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "pa.db"


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(db)
    yield c
    c.close()


def stored(conn: sqlite3.Connection) -> list[tuple[int, int, str, int | None]]:
    """The pair's stored intervals as (start s, end s, state, outage start s), by start."""
    rows = conn.execute(
        "SELECT start_ms, end_ms, state, outage_start_ms FROM intervals WHERE agent = ? AND endpoint = ? "
        "ORDER BY start_ms, end_ms",
        (AGENT, ENDPOINT),
    )
    return [((a - T0) // S, (b - T0) // S, st, None if o is None else (o - T0) // S) for a, b, st, o in rows]


BAD = [
    (0, 125, "up", None),
    (125, 150, "no_data", None),
    (150, 270, "up", None),
    (245, 305, "down", 245),
    (270, 330, "down", 270),
    (305, 390, "up", None),
    (330, 380, "up", None),
]
REPAIRED = [
    (0, 125, "up", None),
    (125, 150, "no_data", None),
    (150, 245, "up", None),
    (245, 330, "down", 245),
    (330, 380, "up", None),
]


def report(cfg: Path) -> dict[str, Any]:
    code, out = cli("report", "-c", str(cfg), "--sla", "gold", "--format", "json")
    assert code == 0, out
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_the_bad_state_is_what_two_daemons_left(cfg: Path, db: Path, conn: sqlite3.Connection) -> None:
    two_daemons(db, conn, T0)
    assert stored(conn) == BAD
    assert conn.execute("SELECT count(*) FROM write_rejects").fetchone() == (1,)
    assert [(r.ts_ms - T0) // S for r in queries.pair_results(conn, AGENT, ENDPOINT)] == [
        0, 60, 120, 150, 185, 210, 245, 270, 330, 365,
    ]  # fmt: skip


@pytest.mark.fault(
    "overlapping intervals left by two daemons",
    expected="reports answer, exit 0, and warn",
)
def test_reports_warn_and_count_the_worst_state_where_intervals_overlap(
    cfg: Path, db: Path, conn: sqlite3.Connection
) -> None:
    two_daemons(db, conn, T0)
    doc = report(cfg)
    assert (doc["seconds"]["up"], doc["seconds"]["down"], doc["seconds"]["no_data"]) == (280, 85, 35)
    assert doc["availability_exact"] == "56/73"  # 280 / 365
    (warning,) = [w for w in doc["warnings"] if "overlapping intervals" in w]
    assert f"{AGENT}/{ENDPOINT}" in warning and "run `probe-agent db repair`" in warning
    assert f"from {iso(T0 + 245 * S)} to {iso(T0 + 380 * S)} (135 s in all" in warning

    code, out = cli("report", "-c", str(cfg), "--sla", "gold")
    assert code == 0 and "overlapping intervals" in out, out

    code, out = cli("status", "-c", str(cfg), "--format", "json")
    assert code == 0, out
    status = json.loads(out)
    assert [w for w in status["warnings"] if "overlapping intervals" in w and "db repair" in w]
    (row,) = status["endpoints"]
    assert row["last_24h"]["availability_percent"] == pytest.approx(280 / 365 * 100, abs=1e-6)
    code, out = cli("status", "-c", str(cfg))
    assert code == 0 and "Warnings:" in out and "db repair" in out, out

    code, out = cli("incidents", "-c", str(cfg), "--endpoint", ENDPOINT, "--format", "json")
    assert code == 0, out
    incidents = json.loads(out)
    assert [w for w in incidents["warnings"] if "db repair" in w]
    assert sum(i["down_s"] for i in incidents["incidents"]) == 85

    # An immutable record is not made from a timeline known to be inconsistent.
    code, out = cli("cycle", "close", "-c", str(cfg), "--sla", "gold")
    assert code == 2 and "overlapping intervals" in out and "db repair" in out, out


@pytest.mark.fault(
    "overlapping intervals, db check",
    expected="found, exit 1",
)
def test_db_check_finds_the_overlaps(cfg: Path, db: Path, conn: sqlite3.Connection) -> None:
    two_daemons(db, conn, T0)
    code, out = cli("db", "check", "-c", str(cfg), "--format", "json")
    assert code == 1, out
    doc = json.loads(out)
    assert doc["ok"] is False and doc["integrity"] == ["ok"]
    assert doc["timeline"] == [
        {
            "agent": AGENT,
            "endpoint": ENDPOINT,
            "kind": "overlapping_intervals",
            "from": iso(T0 + 245 * S),
            "to": iso(T0 + 380 * S),
            "detail": "4 stored interval(s) start before an earlier one ends",
        }
    ]
    code, out = cli("db", "check", "-c", str(cfg))
    assert code == 1 and "NOT OK" in out and "db repair" in out and "overlapping_intervals" in out, out


@pytest.mark.fault(
    "overlapping intervals, db repair",
    expected="re-folded from raw results; db check clean after",
)
def test_db_repair_refolds_from_the_raw_results(cfg: Path, db: Path, conn: sqlite3.Connection) -> None:
    two_daemons(db, conn, T0)
    code, out = cli("db", "repair", "-c", str(cfg), "--dry-run")
    assert code == 0, out
    assert "would re-fold from 10 raw results" in out and "7 stored interval(s) -> 5" in out, out
    assert "nothing was written" in out
    assert stored(conn) == BAD

    code, out = cli("db", "repair", "-c", str(cfg))
    assert code == 0, out
    assert "re-folded from 10 raw results" in out and "db check finds them consistent now" in out
    assert stored(conn) == REPAIRED
    assert cli("db", "check", "-c", str(cfg))[0] == 0

    # The repaired timeline is a fresh fold of the raw results with the agent's runs, open spans included.
    config = load_config(cfg).config
    now = time.time_ns() // 1_000_000
    runs = queries.runs_for(conn, AGENT, now_ms=now, stale_after_ms=15 * S)
    fresh = fold(AGENT, ENDPOINT, PARAMS, queries.pair_results(conn, AGENT, ENDPOINT), runs)
    as_read = (
        queries.intervals_overlapping(conn, T0, now, [ENDPOINT])
        + open_spans(conn, config, [ENDPOINT], now)[(AGENT, ENDPOINT)]
    )
    assert as_read == fresh

    doc = report(cfg)
    assert (doc["seconds"]["up"], doc["seconds"]["down"], doc["seconds"]["no_data"]) == (270, 85, 45)
    assert doc["availability_exact"] == "54/71"  # 270 / 355
    assert not [w for w in doc["warnings"] if "overlapping" in w]
    assert cli("cycle", "close", "-c", str(cfg), "--sla", "gold")[0] == 0
    code, out = cli("db", "repair", "-c", str(cfg))
    assert code == 0 and "nothing to repair" in out


def test_a_fold_state_behind_its_intervals_is_found_and_repaired(cfg: Path, db: Path, conn: sqlite3.Connection) -> None:
    """B killed after one more result at 390: its snapshot, written last, holds its up span from 330 open, while
    A's stop stored up to 385. Re-folded: run 2 (never stopped, heartbeat stale) ends at its last result, 390."""
    two_daemons(db, conn, T0, b_killed=True)
    code, out = cli("db", "check", "-c", str(cfg), "--format", "json")
    assert code == 1
    kinds = {(p["kind"], p["from"], p["to"]) for p in json.loads(out)["timeline"]}
    assert ("fold_state_behind", iso(T0 + 330 * S), iso(T0 + 385 * S)) in kinds
    assert cli("report", "-c", str(cfg), "--sla", "gold")[0] == 0

    code, out = cli("db", "repair", "-c", str(cfg))
    assert code == 0, out
    assert cli("db", "check", "-c", str(cfg))[0] == 0
    # Up to 330 as before; then up from 330 to run 2's end at 390, where its last result speaks for no time.
    assert stored(conn) == [*REPAIRED[:4], (330, 390, "up", None)]


def test_pruned_raw_results_keep_the_intervals_before_the_earliest_one(
    cfg: Path, db: Path, conn: sqlite3.Connection
) -> None:
    """Raw results before 200 s pruned: the first left is B's at 210. Kept: up [0,125), no_data [125,150) and B's
    up [150,270) cut at 210; re-folded afresh from 210: up [210,245), down [245,330), up [330,380)."""
    two_daemons(db, conn, T0)
    with conn:
        conn.execute("DELETE FROM results WHERE ts_ms < ?", (T0 + 200 * S,))
    code, out = cli("db", "repair", "-c", str(cfg))
    assert code == 0, out
    assert "re-folded from 5 raw results" in out and "(3 kept from before the first raw result)" in out, out
    assert stored(conn) == [
        (0, 125, "up", None),
        (125, 150, "no_data", None),
        (150, 210, "up", None),
        (210, 245, "up", None),
        (245, 330, "down", 245),
        (330, 380, "up", None),
    ]
    assert cli("db", "check", "-c", str(cfg))[0] == 0
    doc = report(cfg)
    assert (doc["seconds"]["up"], doc["seconds"]["down"], doc["seconds"]["no_data"]) == (270, 85, 45)


def test_db_repair_refuses_while_a_daemon_of_the_agent_runs(
    cfg: Path, db: Path, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    two_daemons(db, conn, T0)
    lock = RunLock(db, AGENT)  # what a daemon on this host holds for its whole life
    lock.acquire()
    try:
        code, out = cli("db", "repair", "-c", str(cfg))
        assert code == 2 and "nothing was written" in out and "holds" in out and "stop it first" in out, out
        code, out = cli("db", "repair", "-c", str(cfg), "--dry-run")
        assert code == 2 and "would refuse" in out, out
    finally:
        lock.release()
    assert stored(conn) == BAD

    # A daemon on another host: no lock here, but its heartbeat is fresh.
    now = time.time_ns() // 1_000_000
    records.start_run(conn, AGENT, 4242, "elsewhere", "test", None, now)
    code, out = cli("db", "repair", "-c", str(cfg))
    assert code == 2 and "pid 4242 on elsewhere" in out and "nothing was written" in out, out
    assert stored(conn) == BAD


def test_an_unreadable_fold_state_is_found_and_replaced_by_the_refold(
    cfg: Path, db: Path, conn: sqlite3.Connection
) -> None:
    two_daemons(db, conn, T0)
    assert cli("db", "repair", "-c", str(cfg))[0] == 0
    with conn:
        conn.execute("UPDATE fold_state SET snapshot = '{\"v\": 99}'")
    code, out = cli("db", "check", "-c", str(cfg), "--format", "json")
    assert code == 1
    ((kind, detail),) = [(p["kind"], p["detail"]) for p in json.loads(out)["timeline"]]
    assert kind == "fold_state_unreadable" and "version 99" in detail
    assert cli("db", "repair", "-c", str(cfg))[0] == 0
    assert cli("db", "check", "-c", str(cfg))[0] == 0
    assert stored(conn) == REPAIRED
