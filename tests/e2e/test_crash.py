"""Crashes and refusals: kill -9 while writing, the restart after it, and a second daemon on the same agent id.

What may be lost at kill -9 (``LOSS_WINDOW_MS``): a result is committed by the writer thread at most 250 ms
(its flush interval) after the probe finished, with ``synchronous=FULL``; the issue allows the last second. A
request the target served earlier than that (plus the probe's own remaining time, ``PROBE_SLACK_MS``: reading a
2-byte loopback response) must have its result on disk.
"""

from __future__ import annotations

import asyncio
import bisect
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DaemonLauncher,
    RecordingTarget,
    StoreReader,
    agent_config,
    assert_tiled,
    covering,
    wait_until,
    wall_ms,
    write_config,
)

ENDPOINTS = 160  # at the 1 s minimum interval: ~160 results a second
INTERVAL = "1s"
TIMEOUT_MS = 200
LOSS_WINDOW_MS = 1000
PROBE_SLACK_MS = 100
HEARTBEAT_MS = 1000
STALE_AFTER_MS = 3 * HEARTBEAT_MS  # the daemon treats a run whose heartbeat is older as dead


@pytest.mark.fault(
    "kill -9 at ~160 results/s", expected="at most the last second lost, integrity ok, the gap is no_data"
)
@pytest.mark.solo  # its loss window is the daemon's, not that of daemons beside it (tests/solo.py)
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_kill_9_loses_at_most_the_last_second_and_the_restart_marks_the_gap_no_data(
    tmp_path: Path,
    db: Path,
    store: StoreReader,
    launcher: DaemonLauncher,
    recorder: RecordingTarget,
    observe: Callable[[str], None],
) -> None:
    names = [f"e{n:02d}" for n in range(ENDPOINTS)]
    cfg = write_config(
        tmp_path / "c.yaml",
        agent_config(
            db,
            [{"id": n, "http": recorder.url(n)} for n in names],
            defaults={"interval": INTERVAL, "timeout": f"{TIMEOUT_MS}ms", "retry_interval": INTERVAL},
        ),
    )
    first = await launcher.start(cfg)
    await wait_until(
        lambda: len({r.endpoint for r in store.results()}) == ENDPOINTS, timeout=20, what="all probing", daemon=first
    )
    await asyncio.sleep(3.3)  # steady writing: ~160 results a second; the kill lands at no particular phase

    kill_ms = first.signal(signal.SIGKILL)
    assert await first.wait(5) == -signal.SIGKILL
    await asyncio.sleep(0.3)  # let requests already on the wire land in the log before reading it
    served = [(name, at) for name, at in recorder.requests if at < kill_ms]

    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()

    stored: dict[str, list[int]] = {n: [] for n in names}
    for r in store.results():
        stored[r.endpoint].append(r.ts_ms)
    unmatched = [(name, at) for name, at in served if not _has_result(stored[name], at)]
    ages = sorted(kill_ms - at for _, at in unmatched)
    observe(
        f"{len(served)} requests served, {len(unmatched)} without a stored result, the oldest {max(ages, default=0)} ms"
    )
    assert not [age for age in ages if age > LOSS_WINDOW_MS + PROBE_SLACK_MS], "older results were lost"
    assert len(served) - len(unmatched) > ENDPOINTS * 3, "the daemon was writing steadily before the kill"

    # The restart: the daemon refuses while the dead run's heartbeat looks fresh, so wait until it is stale.
    dead = store.runs()[0]
    assert dead.stopped_ms is None and dead.clean is None
    await asyncio.sleep(max(dead.heartbeat_ms + STALE_AFTER_MS + 300 - wall_ms(), 0) / 1000)
    second = await launcher.start(cfg)
    await wait_until(
        lambda: len({r.endpoint for r in store.results() if r.run_id == 2}) == ENDPOINTS,
        timeout=20,
        what="run 2 probing everything",
        daemon=second,
    )
    await asyncio.sleep(1.0)
    assert await second.stop() == 0

    killed, restarted = store.runs()
    last_result_ms = max(r.ts_ms for r in store.results() if r.run_id == killed.run_id)
    assert killed.clean == 0 and restarted.clean == 1
    # A crashed run ends at its last sign of life: the last heartbeat, or a result stored after it.
    assert killed.stopped_ms == max(killed.heartbeat_ms, last_result_ms)
    assert killed.stopped_ms <= kill_ms
    for name in names:
        timeline = store.intervals(name)
        assert_tiled(timeline)
        first_of_run2 = store.results(name, run_id=restarted.run_id)[0].ts_ms
        gap = covering(timeline, killed.stopped_ms, first_of_run2)
        assert {i.state for i in gap} == {"no_data"}, f"{name}: the time the agent was dead must be no_data"
        assert all(
            i.end_ms <= killed.stopped_ms for i in timeline if i.start_ms < killed.stopped_ms and i.state != "no_data"
        )


def _has_result(ts_list: list[int], served_at: int) -> bool:
    """A result whose probe started at most one timeout before the request arrived (ts is the probe's start)."""
    index = bisect.bisect_right(ts_list, served_at)
    return index > 0 and served_at - ts_list[index - 1] <= TIMEOUT_MS


@pytest.mark.slow
@pytest.mark.fault("a second daemon on the same agent id", expected="refused, exit 1, the first undisturbed")
@pytest.mark.timeout(45)
async def test_second_daemon_with_the_same_agent_id_refuses_to_start(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget
) -> None:
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "a", "http": recorder.url("a")}]))
    first = await launcher.start(cfg)
    await wait_until(lambda: store.results("a"), timeout=15, what="first daemon probing", daemon=first)

    second = await launcher.start(cfg)
    assert await second.wait(15) == 1
    assert "another probe-agent with agent id 't1' is running on this database" in second.log()
    assert "Traceback" not in second.log()

    # The refused start left no trace, and the first daemon is undisturbed.
    before = len(store.results("a"))
    await wait_until(lambda: len(store.results("a")) >= before + 2, timeout=5, what="more results", daemon=first)
    assert [(r.run_id, r.stopped_ms) for r in store.runs()] == [(1, None)]
    assert await first.stop() == 0
    assert [(r.run_id, r.clean) for r in store.runs()] == [(1, 1)]


@pytest.mark.fault(
    "a daemon paused (SIGSTOP) past three heartbeats, then a second one",
    expected="the second is refused by the OS lock; no overlapping intervals",
)
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_paused_daemon_keeps_its_lock_so_a_second_one_is_refused(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget
) -> None:
    """SIGSTOP for longer than three heartbeats made the first daemon look dead: a second one started, both wrote,
    and the intervals overlapped for good. The OS lock is still held by the paused process."""
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "a", "http": recorder.url("a")}]))
    first = await launcher.start(cfg)
    await wait_until(lambda: store.results("a"), timeout=15, what="first daemon probing", daemon=first)
    first.signal(signal.SIGSTOP)
    try:
        (heartbeat_ms,) = store.rows("SELECT heartbeat_ms FROM runs WHERE run_id = 1")[0]
        await asyncio.sleep(3.5)  # heartbeat 1 s: past three heartbeats, the run's heartbeat is stale
        second = await launcher.start(cfg)
        assert await second.wait(15) == 1
        log = second.log()
        assert f"another probe-agent with agent id 't1' is running on this database (pid {first.pid}" in log, log
        assert "Traceback" not in log
    finally:
        first.signal(signal.SIGCONT)
    assert [(r.run_id, r.stopped_ms) for r in store.runs()] == [(1, None)], "the paused run was not closed"
    before = len(store.results("a"))
    await wait_until(lambda: len(store.results("a")) > before, timeout=10, what="probing resumed", daemon=first)
    assert await first.stop() == 0
    assert [(r.run_id, r.clean) for r in store.runs()] == [(1, 1)]
    assert heartbeat_ms < store.runs()[0].stopped_ms
    assert_tiled(store.intervals("a"))


@pytest.mark.fault(
    "the database deleted or replaced while the daemon runs", expected="critical log, no more writes, exit 75"
)
@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["rm", "mv"])
async def test_a_database_deleted_or_replaced_under_the_daemon_stops_it_with_exit_75(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget, how: str
) -> None:
    """It once wrote 30 s into an unlinked file and stopped "cleanly" with no database left."""
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "a", "http": recorder.url("a")}]))
    daemon = await launcher.start(cfg)
    await wait_until(lambda: store.results("a"), timeout=15, what="probing", daemon=daemon)
    if how == "rm":
        db.unlink()
    else:  # a backup restored by rename: another file now at the path
        backup = tmp_path / "backup.db"
        with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
        backup.replace(db)
    assert await daemon.wait(15) == 75
    log = daemon.log()
    assert ("was deleted" if how == "rm" else "was replaced by another file") in log
    assert "stopping without writing anything more (exit 75)" in log and "stopped cleanly" not in log
    assert "Traceback" not in log
