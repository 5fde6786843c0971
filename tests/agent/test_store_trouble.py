"""Store trouble (issue 9, part 5): the daemon in-process, through its seams (notifier, prober), on a real SQLite
file whose store stops taking commits for a span shorter than the watchdog would allow.

Disk full is ``PRAGMA max_page_count`` on the writer's own connection: set to the file's page count, every commit
that needs a new page fails with SQLite's real "database or disk is full". Space returns when another connection
deletes a filler table made beforehand: its pages go to the free list, which the writer's next retry reuses.

Time: the fake prober stamps the k-th dispatch of an endpoint (probed or paused) ``T0 + k * 1000`` ms, exactly
the endpoint's 1 s grid, so the timeline is hand-countable whatever the machine's load does to real time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.daemon import Daemon
from probe_agent.agent.runlock import holder
from probe_agent.agent.sdnotify import Notifier
from probe_agent.agent.storehealth import read_note
from probe_agent.config import load_config
from probe_agent.config.schema import Endpoint
from probe_agent.model import Outcome, ProbeResult
from probe_agent.store import open_db, queries
from tests.e2e.harness import StoreReader, agent_config, wait_until, wall_ms, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

WATCHDOG_S = 2.0  # WATCHDOG_USEC=2 s: the daemon pings every 1 s, and must never go 2 s without one
FILLER_PAGES = 120  # freed when "space returns": room for every result of the test (one page each, see DETAIL)
DETAIL = "x" * 3000  # most of a 4 KiB page: every stored result needs a new page, so a full file fails at once


class RecordingNotifier(Notifier):
    """sd_notify as systemd would see it: every line, with the monotonic time it was sent."""

    def __init__(self) -> None:
        super().__init__(address="@recording")
        self.watchdog_interval_s = WATCHDOG_S
        self.sent: list[tuple[float, str]] = []

    def notify(self, *lines: str) -> bool:
        now = time.monotonic()
        self.sent.extend((now, line) for line in lines)
        return True

    def count(self, line: str) -> int:
        return sum(1 for _, sent in self.sent if sent == line)

    def last_status(self) -> str:
        return [sent for _, sent in self.sent if sent.startswith("STATUS=")][-1]


@dataclass
class GridProber:
    """Always up; the k-th dispatch of an endpoint is stamped ``t0 + k * 1000`` (k = probes + paused so far)."""

    t0: int
    daemon: Daemon | None = None
    stamped: list[int] = field(default_factory=list)

    async def __call__(self, ep: Endpoint, *, agent: str, resolvers: Any = (), recheck: bool = False) -> ProbeResult:
        assert self.daemon is not None
        worker = self.daemon.workers[ep.id]
        ts = self.t0 + 1000 * (worker.probes + worker.paused_probes)
        self.stamped.append(ts)
        return ProbeResult(ts, agent, ep.id, Outcome.UP, latency_ms=1.0, detail=DETAIL)


@dataclass
class Running:
    daemon: Daemon
    prober: GridProber
    notifier: RecordingNotifier
    store: StoreReader
    db: Path
    config: Path


def _prepare(db: Path) -> None:
    """Create the store and a filler table whose pages stand for the disk space a clean-up frees later."""
    conn = open_db(db)
    try:
        conn.execute("CREATE TABLE filler (b BLOB)")
        conn.executemany("INSERT INTO filler VALUES (zeroblob(4000))", [()] * FILLER_PAGES)
    finally:
        conn.close()


@pytest.fixture
async def running(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    queue_limit = getattr(request, "param", 100_000)
    db = tmp_path / "store.db"
    _prepare(db)
    doc = agent_config(
        db,
        [{"id": "a", "tcp": "127.0.0.1:9"}],
        agent={"queue_limit": queue_limit},
        defaults={"timeout": "500ms"},  # grace = timeout: a result speaks for 1.5 s at most
    )
    cfg = write_config(tmp_path / "c.yaml", doc)
    prober = GridProber(t0=wall_ms())
    notifier = RecordingNotifier()
    daemon = Daemon(load_config(cfg), handle_signals=False, notifier=notifier, prober=prober)
    prober.daemon = daemon
    task = asyncio.create_task(daemon.run())
    store = StoreReader(db)
    try:
        await wait_until(lambda: notifier.count("READY=1") and len(store.results("a")) >= 2, timeout=20, what="start")
        yield Running(daemon, prober, notifier, store, db, cfg)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)


async def _disk_full(daemon: Daemon) -> None:
    assert daemon.writer is not None
    pages = await daemon.writer.run(lambda c: int(c.execute("PRAGMA page_count").fetchone()[0]))
    await daemon.writer.run(lambda c: c.execute(f"PRAGMA max_page_count = {pages}").fetchall())
    await wait_until(lambda: daemon.writer is not None and daemon.writer.stats.failing, timeout=10, what="failing")


async def _space_returns(run: Running) -> None:
    conn = sqlite3.connect(run.db, timeout=10, isolation_level=None)
    try:
        conn.execute("DELETE FROM filler")
    finally:
        conn.close()
    writer = run.daemon.writer
    assert writer is not None
    await wait_until(lambda: not writer.stats.failing and writer.waiting_results == 0, timeout=15, what="drained")
    await writer.run(lambda c: c.execute("PRAGMA max_page_count = 1073741823").fetchall())
    trouble = "STATUS=STORE TROUBLE"
    await wait_until(lambda: not run.notifier.last_status().startswith(trouble), timeout=10, what="trouble over")


async def _status(config: Path) -> dict[str, Any]:
    """``probe-agent status --format json`` as another process would run it."""
    doc: dict[str, Any] = json.loads(await _status_text(config, "json"))
    return doc


async def _status_text(config: Path, fmt: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "probe_agent.cli",
        "status",
        "-c",
        str(config),
        "--format",
        fmt,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _intervals(store: StoreReader) -> list[tuple[int, int, str]]:
    return [(i.start_ms, i.end_ms, i.state) for i in store.intervals("a")]


@pytest.mark.fault(
    "disk full (PRAGMA max_page_count) while probing",
    expected="watchdog keeps pinging, store trouble reported, no result lost",
)
async def test_a_full_disk_keeps_the_watchdog_reports_store_trouble_and_loses_no_result(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    run, writer = running, running.daemon.writer
    assert writer is not None
    caplog.set_level(logging.INFO, logger="probe_agent")
    await _disk_full(run.daemon)
    pings_at_onset = run.notifier.count("WATCHDOG=1")
    stored_at_onset = len(run.store.results("a"))
    waiting_at_onset = writer.waiting_results
    # 4 more results (4 s on the 1 s grid) wait in memory: twice the watchdog's 2 s.
    await wait_until(lambda: writer.waiting_results >= waiting_at_onset + 4, timeout=20, what="4 more waiting")

    assert run.notifier.count("WATCHDOG=1") - pings_at_onset >= 3, "the watchdog went silent with the store"
    status_line = run.notifier.last_status()
    assert status_line.startswith("STATUS=STORE TROUBLE since "), status_line
    assert "database or disk is full" in status_line
    doc = await _status(run.config)
    assert doc["daemon"]["running"] is True
    store = doc["daemon"]["store"]
    assert store["ok"] is False and "database or disk is full" in store["problem"]
    assert store["results_waiting"] >= 3 and store["probing_paused"] is False
    assert len(run.store.results("a")) == stored_at_onset, "nothing was committed meanwhile"

    waiting = writer.waiting_results
    await _space_returns(run)
    assert len(run.store.results("a")) >= stored_at_onset + waiting
    run.daemon.request_stop()
    await wait_until(lambda: run.store.runs() and run.store.runs()[-1].stopped_ms, timeout=30, what="clean stop")

    # Every result the prober gave was stored, in order (the daemon labels them on its own clock: ts is the label
    # clock's, one a second).
    stored = [r.ts_ms for r in run.store.results("a")]
    assert len(stored) == len(run.prober.stamped) and stored == sorted(set(stored))
    assert all(w.paused_probes == 0 for w in run.daemon.workers.values())
    # The queue never filled, so no time was lost: one up interval from the first result until the last result's
    # interval + grace (1 s + 0.5 s) or the stop, whichever came first.
    stop = run.store.runs()[-1].stopped_ms
    assert stop is not None
    assert _intervals(run.store)[0] == (stored[0], min(stop, stored[-1] + 1500), "up")
    # The episode is logged once when it starts and once when it ends, at error level, not once per beat.
    trouble = [r for r in caplog.records if r.getMessage().startswith("store trouble")]
    assert [r.levelno for r in trouble] == [logging.ERROR, logging.ERROR]
    assert trouble[0].getMessage().startswith("store trouble: commits are failing: database or disk is full")
    assert trouble[1].getMessage().startswith("store trouble over after ")
    retries = [r for r in caplog.records if r.getMessage().startswith("store commit failed")]
    assert [r.levelno for r in retries if r.levelno >= logging.INFO] == [logging.WARNING], "one line per streak"


@pytest.mark.fault(
    "disk full until the result queue fills (queue_limit 3)",
    expected="probing pauses; the paused time is no_data; nothing lost",
)
@pytest.mark.parametrize("running", [3], indirect=True)
async def test_a_full_queue_pauses_probing_and_the_paused_time_is_no_data(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    run, writer = running, running.daemon.writer
    assert writer is not None
    caplog.set_level(logging.INFO, logger="probe_agent")
    worker = run.daemon.workers["a"]
    await _disk_full(run.daemon)
    # queue_limit 3: three results wait, then the next slots are skipped; wait for three of those.
    await wait_until(lambda: worker.paused_probes >= 3, timeout=20, what="3 paused probes")
    assert writer.waiting_results == 3, "never more than queue_limit results in memory"
    assert "probing PAUSED (queue full at 3)" in run.notifier.last_status()
    doc = await _status(run.config)
    assert doc["daemon"]["store"]["probing_paused"] is True and doc["daemon"]["store"]["results_waiting"] == 3
    await _space_returns(run)
    resumed = worker.probes
    await wait_until(lambda: worker.probes >= resumed + 2, timeout=10, what="probing again")
    run.daemon.request_stop()
    await wait_until(lambda: run.store.runs() and run.store.runs()[-1].stopped_ms, timeout=30, what="clean stop")

    # Hand count: every probed result was stored (the three that waited in memory too), labelled on the daemon's
    # clock about a second apart; the widest gap holds the run of P paused slots.
    stored = [r.ts_ms for r in run.store.results("a")]
    assert len(stored) == len(run.prober.stamped), "every probed result stored, none lost"
    gaps = [b - a for a, b in pairwise(stored)]
    widest = max(range(len(gaps)), key=gaps.__getitem__)
    p = worker.paused_probes
    assert p >= 3 and gaps[widest] >= 1000 * p  # P skipped slots of 1 s lie inside it
    # The result before the pause speaks for interval + grace = 1.5 s; the next one comes after the pause: in
    # between, no_data, then up again.
    last_before, first_after = stored[widest], stored[widest + 1]
    stop = run.store.runs()[-1].stopped_ms
    assert stop is not None
    assert _intervals(run.store) == [
        (stored[0], last_before + 1500, "up"),
        (last_before + 1500, first_after, "no_data"),
        (first_after, min(stop, stored[-1] + 1500), "up"),
    ]
    full = [r.getMessage() for r in caplog.records if r.getMessage().startswith("store queue")]
    assert len(full) == 2 and full[0].startswith("store queue full (3 results")
    assert (
        full[1]
        == f"store queue below its limit again: probing resumed after {p} skipped probe(s), whose time is no_data"
    )


HOLD_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.fault(
    "the store locked by another process under a live daemon",
    expected="status shows it running with store trouble, not crashed",
)
async def test_status_shows_a_daemon_blocked_by_another_process_lock_as_running_with_store_trouble(
    running: Running,
) -> None:
    run = running
    locker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_WRITE_LOCK,
        str(run.db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert locker.stdout is not None and await asyncio.wait_for(locker.stdout.readline(), 30) == b"held\n"
        stale_after = 3 * 1000  # 3 heartbeats of 1 s: from then on the stored heartbeat says "dead"

        def stale_and_noted() -> bool:
            conn = open_db(run.db, readonly=True)
            try:
                alive = queries.running_daemon(conn, "t1", stale_after_ms=stale_after, now_ms=wall_ms())
            finally:
                conn.close()
            held = holder(run.db, "t1")
            note = read_note(held.note) if held is not None else None
            return alive is None and note is not None and note["store"] == "trouble"

        await wait_until(stale_and_noted, timeout=30, what="a stale heartbeat and the trouble noted")
        doc = await _status(run.config)
        daemon = doc["daemon"]
        assert daemon["running"] is True and daemon["clean_stop"] is None and daemon["stopped"] is None
        assert daemon["pid"] == os.getpid()
        assert daemon["store"]["ok"] is False
        assert "database is locked" in daemon["store"]["problem"] or "no commit for" in daemon["store"]["problem"]
        assert doc["endpoints"][0]["state"] == "up", "a live daemon's endpoints keep their state, not no_data"
        head = (await _status_text(run.config, "table")).splitlines()[:2]
        assert head[0].startswith(f"agent t1: running (pid {os.getpid()}, run 1, last heartbeat "), head
        assert head[1].startswith("STORE TROUBLE since "), head
    finally:
        assert locker.stdin is not None
        locker.stdin.close()
        await locker.wait()
    writer = run.daemon.writer
    assert writer is not None
    await wait_until(lambda: writer.waiting_results == 0 and not writer.stats.failing, timeout=20, what="drained")
