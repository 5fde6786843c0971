"""What the in-process daemon writes besides probe results, and when it stops writing: the hourly cycle close
(through the single writer), rollups and retention (the calendar jobs' bodies, run by hand: when they run is
tests/agent/test_calendar.py's business), a run closed under it (exit 76), its database deleted (exit 75).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from probe_agent.agent.daemon import DatabaseLost, RunClosed
from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.model import DAY_MS, HOUR_MS, ErrorKind, Outcome, ProbeResult, iso
from probe_agent.reports.closing import close_cycle, due_cycles
from probe_agent.store import records
from probe_agent.store.queries import floor_hour
from probe_agent.store.schema import open_db
from tests.agent.daemon_harness import in_process
from tests.e2e.harness import agent_config, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


# -- the hourly cycle close goes through the writer -------------------------------------------------------------------


CLOSED_COLUMNS = "sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, credit"


def _settings(doc: dict[str, Any]) -> None:
    doc["slas"] = [
        {
            "id": "gold",
            "endpoints": ["web"],
            "target": "99%",
            "cycle": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
            "close_after": "1h",
        }
    ]


async def test_the_daemon_closes_a_due_cycle_through_its_writer_while_results_are_written(tmp_path: Path) -> None:
    """A cycle the daemon closes (its hourly job, run here by hand) while probes keep being written: one row, the
    one ``probe-agent cycle close`` stores (``reports.closing.close_cycle`` on one connection) from the same data
    at the same moment. The twin is a copy of the daemon's database with the row taken out again."""
    db = tmp_path / "pa.db"
    t0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
    doc = agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}], defaults={"interval": "60s"})
    _settings(doc)
    cfg = write_config(tmp_path / "probe-agent.yaml", doc)
    day = [{"ts": iso(t0 + m * 60_000), "agent": "t1", "endpoint": "web", "outcome": "up"} for m in range(24 * 60)]
    (tmp_path / "nov.jsonl").write_text("".join(json.dumps(r) + "\n" for r in day))
    done = CliRunner().invoke(main, ["import", str(tmp_path / "nov.jsonl"), "-c", str(cfg)])
    assert done.exit_code == 0, done.output

    doc["endpoints"].append({"id": "busy", "tcp": "127.0.0.1:9", "interval": "1s"})
    async with in_process(tmp_path, doc) as run:
        await run.until(lambda: len(run.results("busy")) >= 2, "results being written")
        housekeeping, writer = run.daemon.housekeeping, run.daemon.writer
        assert housekeeping is not None and writer is not None
        written = writer.stats.rows_written
        await housekeeping.close_cycles()
        await housekeeping.close_cycles()  # nothing left to close: a no-op
        await run.until(lambda: writer.stats.rows_written > written, "results written after the close")
    rows = run.store.rows(f"SELECT {CLOSED_COLUMNS} FROM closed_cycles")
    assert len(rows) == 1 and rows[0][:3] == ("gold", t0, t0 + 86_400_000)
    closed_ms = rows[0][3]

    twin = tmp_path / "twin.db"
    source, target = sqlite3.connect(db), sqlite3.connect(twin)
    source.backup(target)
    source.close()
    target.executescript("DROP TRIGGER closed_cycles_no_delete; DELETE FROM closed_cycles;")
    target.close()
    config = load_config(cfg).config
    conn = open_db(twin)
    try:
        ((sla, period),) = due_cycles(conn, config, closed_ms)
        close_cycle(conn, config, sla, period, closed_ms)
        assert conn.execute(f"SELECT {CLOSED_COLUMNS} FROM closed_cycles").fetchall() == rows
    finally:
        conn.close()


# -- the other calendar jobs, and the two reasons to stop without writing ------------------------------------------


async def test_the_calendar_jobs_roll_up_complete_hours_and_prune_what_retention_lets_go(tmp_path: Path) -> None:
    """Rollups: hours that are complete and at most 48 h old (older ones are rolled up by the pruning). Retention
    (1 day here, no SLA holding results back): whole hours before the cut-off, rolled up first."""
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "127.0.0.1:9"}], agent={"retention": "1d"})
    async with in_process(tmp_path, doc) as run:
        writer, housekeeping = run.daemon.writer, run.daemon.housekeeping
        assert writer is not None and housekeeping is not None
        now = run.daemon.wall_ms()
        hour, ancient = floor_hour(now) - 3 * HOUR_MS, floor_hour(now) - 3 * DAY_MS
        await run.until(lambda: len(run.results("web")) >= 1, "a live result")

        def up(ts: int) -> ProbeResult:
            return ProbeResult(ts, "t1", "past", Outcome.UP, latency_ms=5.0)

        failure = ProbeResult(hour + 90_001, "t1", "past", Outcome.DOWN, error_kind=ErrorKind.CONNECT_REFUSED)
        three_hours_ago = [up(hour + k * 60_000) for k in range(60)]
        writer.submit(results=[*(up(ancient + k * 60_000) for k in range(10)), *three_hours_ago, failure])
        await asyncio.to_thread(writer.flush)
        rollups = "SELECT hour_ms, n_up, n_down FROM rollups WHERE endpoint = 'past' ORDER BY hour_ms"

        await housekeeping.rollups()
        assert run.store.rows(rollups) == [(hour, 60, 1)]  # the hour 3 days ago is left to the pruning
        # Quiet hours of the last 48 are marked too (empty), and every UTC day whose 24 hours are marked is built.
        assert run.store.rows("SELECT count(*) FROM rollup_marks WHERE hour_ms = ?", (hour - DAY_MS,)) == [(1,)]
        complete_days = (
            f"SELECT hour_ms - hour_ms % {DAY_MS} AS day FROM rollup_marks GROUP BY day HAVING count(*) = 24"
        )
        assert run.store.rows(f"SELECT day_ms FROM rollup_day_marks WHERE day_ms NOT IN ({complete_days})") == []
        assert (
            run.store.rows(f"SELECT day FROM ({complete_days}) WHERE day NOT IN (SELECT day_ms FROM rollup_day_marks)")
            == []
        )
        await housekeeping.retention()
        assert run.store.rows(rollups) == [(ancient, 10, 0), (hour, 60, 1)]  # rolled up, then pruned
        assert run.store.rows("SELECT min(ts_ms), count(*) FROM results WHERE endpoint = 'past'") == [(hour, 61)]
        assert len(run.results("web")) >= 1  # the live results are young: kept


async def test_a_run_closed_under_the_daemon_stops_it_at_the_next_heartbeat_writing_nothing_more(
    tmp_path: Path,
) -> None:
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "127.0.0.1:9"}])
    with pytest.raises(RunClosed) as stopped:
        async with in_process(tmp_path, doc) as run:
            await run.until(lambda: len(run.results("web")) >= 2, "two results")
            conn = sqlite3.connect(tmp_path / "pa.db", isolation_level=None, timeout=5)
            try:  # what another host's start-up does to a run it judged dead
                assert records.close_stale_runs(conn, "t1") == [1]
            finally:
                conn.close()
            closed = run.store.runs()[0]
            await asyncio.wait_for(asyncio.shield(run.task), 15)
    assert stopped.value.exit_code == 76
    assert "run 1 was closed by another process" in str(stopped.value)
    assert run.store.runs() == [closed]  # no stop_run over what the closer wrote
    assert run.store.fold_states()["web"]["last"]["open"] is True  # nor were the fold's spans closed
    assert len([r for r in run.results("web") if r.ts_ms > closed.stopped_ms]) <= 4  # about a heartbeat's worth
    assert "STOPPING=1" in run.notifier.sent


async def test_a_database_deleted_under_the_daemon_stops_it_with_exit_75(tmp_path: Path) -> None:
    db = tmp_path / "pa.db"
    doc = agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}])
    with pytest.raises(DatabaseLost) as stopped:
        async with in_process(tmp_path, doc) as run:
            await run.until(lambda: len(run.results("web")) >= 2, "two results")
            db.unlink()
            await asyncio.wait_for(asyncio.shield(run.task), 15)
    assert stopped.value.exit_code == 75
    assert not db.exists()  # nothing recreated it
