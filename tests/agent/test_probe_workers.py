"""``agent.workers`` > 1 with real processes: the daemon in this test's process (``Daemon.run`` on its loop, real
``run_probe`` in the probe processes it spawns), a real loopback HTTP target in this loop, a real SQLite file.

Nothing here waits for a time window: each test waits (bounded) for what must happen, then checks what was stored.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.daemon import Daemon
from probe_agent.agent.impaired import Reason
from probe_agent.agent.probe_workers import ProbeWorkers
from probe_agent.agent.scheduler import ProbeScheduler
from probe_agent.agent.shards import shard_of
from probe_agent.config import load_config
from probe_agent.notify.event import Event
from tests.agent.daemon_harness import SilentNotifier
from tests.e2e.harness import (
    DaemonLauncher,
    RecordingTarget,
    StoreReader,
    agent_config,
    closed_port,
    resolved_timeline,
    wait_until,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NAMES = [f"e{i}" for i in range(8)]


def worker_children(parent: int) -> dict[int, str]:
    """The live probe processes whose parent is ``parent``: pid -> command line."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z" and "worker_process" in cmdline:
            out[int(entry)] = cmdline
    return out


def two_workers(parent: int) -> dict[int, str] | None:
    children = worker_children(parent)
    return children if len(children) == 2 else None


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie waits for a reaper that may never come)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
async def target() -> AsyncIterator[RecordingTarget]:
    t = RecordingTarget()
    await t.start()
    yield t
    await t.stop()


def config_doc(tmp_path: Path, target: RecordingTarget, names: list[str], workers: int = 2) -> dict[str, Any]:
    return agent_config(
        tmp_path / "probe-agent.db",
        [{"id": n, "http": target.url(n)} for n in names],
        agent={"workers": workers},
        defaults={"interval": "1s"},
    )


@asynccontextmanager
async def daemon_running(tmp_path: Path, doc: dict[str, Any]) -> AsyncIterator[tuple[Daemon, asyncio.Task[None]]]:
    """The daemon with its real prober (so it can spawn probe processes), until the block ends: then stopped as
    SIGTERM would, and waited for."""
    config = write_config(tmp_path / "probe-agent.yaml", doc)
    daemon = Daemon(load_config(config), handle_signals=False, notifier=SilentNotifier(), verbosity=0)
    task = asyncio.create_task(daemon.run())
    try:
        await until(task, lambda: "READY=1" in daemon.notifier.sent, "READY=1")  # type: ignore[attr-defined]
        yield daemon, task
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 60)


async def until(task: asyncio.Task[None], check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    def done_or_check() -> Any:
        if task.done():
            task.result()
            raise AssertionError(f"the daemon stopped while waiting for {what}")
        return check()

    return await wait_until(done_or_check, timeout=timeout, what=what, every=0.05)


def pool_of(daemon: Daemon) -> ProbeWorkers:
    assert isinstance(daemon.scheduler, ProbeWorkers)
    return daemon.scheduler


async def test_every_endpoint_is_probed_and_each_result_stored_once(tmp_path: Path, target: RecordingTarget) -> None:
    store = StoreReader(tmp_path / "probe-agent.db")
    async with daemon_running(tmp_path, config_doc(tmp_path, target, NAMES)) as (daemon, task):
        pool = pool_of(daemon)
        # READY may come while the probe processes are still being started: wait for both (bounded), then check.
        await until(task, lambda: len(worker_children(os.getpid())) == 2, "both probe processes running")
        children = worker_children(os.getpid())
        assert len(children) == 2, children
        assert all("--agent t1" in cmd for cmd in children.values())  # what ps shows
        await until(task, lambda: all(len(store.results(n)) >= 3 for n in NAMES), "3 results of every endpoint")
        assert all(n > 0 for n in pool.results_by_worker)  # both workers probe
        assert pool.healthy(max_lag_s=30.0)
        stats = pool.stats()
        assert stats["endpoints"] == len(NAMES) and stats["dispatched"] > 0  # (sent each second: a little behind)
        assert set(stats) == set(ProbeScheduler().stats())  # the API's and the metrics' keys, summed over workers
        # The heartbeat judged the probe processes on time: the watchdog pinged, no schedule_lagging episode.
        assert "WATCHDOG=1" in daemon.notifier.sent  # type: ignore[attr-defined]
        assert daemon.impaired.last_check_ms is not None and not daemon.impaired.open
    # Stopped cleanly: probes in flight finished and were stored; every request the target answered is one result.
    assert worker_children(os.getpid()) == {}
    served: dict[str, int] = {}
    for name, _ in target.requests:
        served[name] = served.get(name, 0) + 1
    rows = store.rows("SELECT endpoint, ts_ms, COUNT(*) FROM results GROUP BY endpoint, ts_ms HAVING COUNT(*) > 1")
    assert rows == []
    for name in NAMES:
        results = store.results(name)
        assert len(results) == served[name], name
        assert {r.outcome for r in results} == {"up"}


async def test_workers_1_runs_no_child_process(tmp_path: Path, target: RecordingTarget) -> None:
    store = StoreReader(tmp_path / "probe-agent.db")
    async with daemon_running(tmp_path, config_doc(tmp_path, target, NAMES[:2], workers=1)) as (daemon, task):
        assert isinstance(daemon.scheduler, ProbeScheduler)
        await until(task, lambda: all(len(store.results(n)) >= 2 for n in NAMES[:2]), "2 results of each")
        assert worker_children(os.getpid()) == {}


async def test_a_killed_worker_is_restarted_and_its_gap_is_no_data(
    tmp_path: Path, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    store = StoreReader(tmp_path / "probe-agent.db")
    events: list[Event] = []
    caplog.set_level(logging.INFO, logger="probe_agent")
    async with daemon_running(tmp_path, config_doc(tmp_path, target, NAMES)) as (daemon, task):
        pool = pool_of(daemon)
        enqueue = daemon.impaired.enqueue

        def seen(event: Event) -> None:
            events.append(event)
            enqueue(event)

        daemon.impaired.enqueue = seen
        await until(task, lambda: all(len(store.results(n)) >= 2 for n in NAMES), "2 results of every endpoint")
        victim = 1
        mine = [n for n in NAMES if shard_of(n, 2) == victim - 1]
        assert mine, "the test's endpoints should fall on both workers"
        before = {n: len(store.results(n)) for n in mine}
        pid = pool.pids()[victim]
        os.kill(pid, signal.SIGKILL)
        await until(task, lambda: pool.pids().get(victim) not in (None, pid), "the worker restarted")
        await until(
            task, lambda: all(len(store.results(n)) >= before[n] + 2 for n in mine), "results again after restart"
        )
        await until(
            task,
            lambda: (
                any(e.details.get("reason") == str(Reason.PROBE_WORKER_DOWN) for e in events)
                and Reason.PROBE_WORKER_DOWN not in daemon.impaired.open
            ),
            "the probe_worker_down episode opened and resolved",
        )
    assert f"probe worker {victim}/2 was killed by SIGKILL (pid {pid})" in caplog.text
    for name in mine:
        results = store.results(name)
        timeline = resolved_timeline(store, name)
        assert {i.state for i in timeline} <= {"up", "no_data"}, timeline  # never down: nobody measured
        # The results either side of the kill are more than interval + grace (the 800 ms timeout) apart: no_data.
        gaps = [(a.ts_ms, b.ts_ms) for a, b in itertools.pairwise(results) if b.ts_ms - a.ts_ms > 1_800]
        assert gaps, [r.ts_ms for r in results]
        first, last = gaps[0]
        nodata = [i for i in timeline if i.state == "no_data" and first < i.start_ms and i.end_ms <= last]
        assert nodata, timeline
    for name in NAMES:  # and still: each result once
        ts = [r.ts_ms for r in store.results(name)]
        assert len(ts) == len(set(ts))


class Lines(logging.Handler):
    """Log lines of one logger (a reload replaces the root's handlers, caplog's too)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_reload_adds_removes_and_moves_endpoints_to_their_workers(
    tmp_path: Path, target: RecordingTarget
) -> None:
    said = Lines()
    logging.getLogger("probe_agent.agent").addHandler(said)
    try:
        store = StoreReader(tmp_path / "probe-agent.db")
        first = NAMES[:4]
        async with daemon_running(tmp_path, config_doc(tmp_path, target, first)) as (daemon, task):
            pool = pool_of(daemon)
            await until(task, lambda: all(len(store.results(n)) >= 1 for n in first), "a result of each")
            then = [*NAMES[1:4], "new-1", "new-2", "new-3"]
            doc = config_doc(tmp_path, target, then)
            doc["endpoints"][0]["interval"] = "2s"  # e1 changed: rescheduled in its worker
            doc["agent"]["workers"] = 3  # takes a restart: said, and the 2 processes keep probing
            write_config(tmp_path / "probe-agent.yaml", doc)
            assert await daemon.reload()
            assert "agent.workers changed to 3: that takes a restart; still probing with 2 process(es)" in said.lines
            assert len(pool.pids()) == 2
            removed_at = daemon.wall_ms()
            for name in then:
                assert pool.shard(name) == shard_of(name, 2)
                assert name in pool.workers
            assert "e0" not in pool.workers
            await until(task, lambda: all(len(store.results(n)) >= 2 for n in then), "2 results of each, after")
            e0_after = [r for r in store.results("e0") if r.ts_ms >= removed_at]
            assert e0_after == []
    finally:
        logging.getLogger("probe_agent.agent").removeHandler(said)
    assert worker_children(os.getpid()) == {}


@pytest.mark.parametrize("control_up", [True, False])
async def test_the_controls_verdict_of_the_daemon_applies_to_every_workers_failures(
    tmp_path: Path, target: RecordingTarget, control_up: bool
) -> None:
    """Targets on both workers fail. The controls are probed by the daemon (the workers have none), at most one
    round per failure whatever worker it came from, and their verdict decides every worker's results: a control
    that answers leaves them down, one that fails too makes them unknown (the agent's own network)."""
    store = StoreReader(tmp_path / "probe-agent.db")
    names = NAMES[:6]
    port = closed_port()
    control = target.url("control") if control_up else f"http://127.0.0.1:{port}/control"
    doc = agent_config(
        tmp_path / "probe-agent.db",
        [{"id": n, "tcp": f"127.0.0.1:{port}"} for n in names],
        controls=[{"id": "control", "http": control}],
        agent={"workers": 2},
        defaults={"interval": "1s", "confirm": 1},
    )
    assert {shard_of(n, 2) for n in names} == {0, 1}
    async with daemon_running(tmp_path, doc) as (_daemon, task):
        await until(task, lambda: all(len(store.results(n)) >= 3 for n in names), "3 results of every endpoint")
    failures = [r for n in names for r in store.results(n)]
    if control_up:
        assert {(r.outcome, r.error_kind) for r in failures} == {("down", "connect_refused")}
        control_probes = sum(1 for name, _ in target.requests if name == "control")
        assert 1 <= control_probes <= len(failures)
    else:
        assert {(r.outcome, r.error_kind) for r in failures} == {("unknown", "controls_failed")}
    assert target.requests == [] or {name for name, _ in target.requests} == {"control"}


# -- the daemon as a process: signals --------------------------------------------------------------------------


async def test_sigterm_leaves_no_probe_process(tmp_path: Path, target: RecordingTarget) -> None:
    launcher = DaemonLauncher(tmp_path)
    store = StoreReader(tmp_path / "probe-agent.db")
    try:
        daemon = await launcher.start(write_config(tmp_path / "c.yaml", config_doc(tmp_path, target, NAMES[:4])))
        children = await wait_until(lambda: two_workers(daemon.pid), timeout=60, what="2 probe processes")
        await wait_until(lambda: all(store.results(n) for n in NAMES[:4]), timeout=60, what="results")
        # The probe processes hold nothing of the daemon's: not the database, not the run lock (only their socket).
        for pid in children:
            held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            assert not [path for path in held if "probe-agent.db" in path], held  # (stderr is the log: inherited)
        assert await daemon.stop(30) == 0, daemon.log()
        assert not [pid for pid in children if alive(pid)]
    finally:
        await launcher.cleanup()


async def test_kill_9_of_the_daemon_leaves_no_probe_process(tmp_path: Path, target: RecordingTarget) -> None:
    launcher = DaemonLauncher(tmp_path)
    try:
        daemon = await launcher.start(write_config(tmp_path / "c.yaml", config_doc(tmp_path, target, NAMES[:4])))
        children = await wait_until(lambda: two_workers(daemon.pid), timeout=60, what="2 probe processes")
        daemon.kill()
        await daemon.proc.wait()
        await wait_until(lambda: not [pid for pid in children if alive(pid)], timeout=30, what="no orphan left")
    finally:
        await launcher.cleanup()
