"""A daemon whose run was closed under it stops at its next heartbeat, writing nothing more, and exits 76.

Another host that judged the daemon dead (its heartbeat older than three heartbeats: a paused VM, a stalled NFS)
closes the run with ``records.close_stale_runs``, as its own start-up does. The daemon used to ignore that its
heartbeat no longer took (``records.heartbeat`` returned False) and kept writing, then closed its intervals and
"stopped cleanly" over the other daemon's data: overlapping intervals for good.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from probe_agent.store import records
from tests.e2e.harness import DaemonLauncher, RecordingTarget, StoreReader, agent_config, wait_until, write_config

HEARTBEAT_MS = 1000


@pytest.mark.fault(
    "a daemon's run closed under it by another host",
    expected="it writes nothing more and exits 76",
)
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_daemon_whose_run_was_closed_under_it_stops_writing_and_exits_76(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget
) -> None:
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "a", "http": recorder.url("a")}]))
    daemon = await launcher.start(cfg)
    await wait_until(lambda: len(store.results("a")) >= 2, timeout=15, what="probing", daemon=daemon)

    # What another host's start-up does to a run it judges dead: close it at its last sign of life.
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        assert records.close_stale_runs(conn, "t1") == [1]
        ((stopped_ms, clean, heartbeat_ms),) = conn.execute(
            "SELECT stopped_ms, clean, heartbeat_ms FROM runs WHERE run_id = 1"
        ).fetchall()
    finally:
        conn.close()
    assert clean == 0

    assert await daemon.wait(15) == 76
    log = daemon.log()
    assert "run 1 was closed by another process" in log, log
    assert "stopping without writing anything more (exit 76)" in log
    assert "stopped cleanly" not in log and "Traceback" not in log

    # Nothing written over the closed run: no stop_run (its end and heartbeat are what the closer set), and the
    # shutdown did not close the fold's open span (the snapshot is as the last stored result left it).
    (run,) = store.runs()
    assert (run.stopped_ms, run.clean, run.heartbeat_ms) == (stopped_ms, 0, heartbeat_ms)
    snapshot = store.fold_states()["a"]
    assert snapshot["last"]["open"] is True, snapshot
    last_ts = max(r.ts_ms for r in store.results("a"))
    assert snapshot["last"]["ts"] == last_ts
    assert all(iv.end_ms <= last_ts for iv in store.intervals("a"))
    # At most what was committed before the next heartbeat saw the run closed: results of about one heartbeat.
    late = [r for r in store.results("a") if r.ts_ms > stopped_ms]
    assert len(late) <= 4, late


@pytest.mark.slow
@pytest.mark.timeout(30)
async def test_the_restart_after_it_starts_a_new_run(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget
) -> None:
    """Exit 76 is a failure for systemd (Restart=on-failure): the restart is an ordinary start, a new run whose
    first no_data gap covers the time the closed run's daemon was cut off."""
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "a", "http": recorder.url("a")}]))
    first = await launcher.start(cfg)
    await wait_until(lambda: store.results("a"), timeout=15, what="probing", daemon=first)
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        records.close_stale_runs(conn, "t1")
    finally:
        conn.close()
    assert await first.wait(15) == 76
    second = await launcher.start(cfg)
    await wait_until(lambda: store.results("a", run_id=2), timeout=15, what="the new run probing", daemon=second)
    assert second.signal(signal.SIGTERM)
    assert await second.wait(15) == 0
    assert [(r.run_id, r.clean) for r in store.runs()] == [(1, 0), (2, 1)]
