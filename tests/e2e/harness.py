"""The end-to-end harness: the daemon as a real subprocess, its SQLite file read from outside, loopback targets.

Times are wall-clock epoch milliseconds (the daemon and the test share the machine's clock). Every wait polls with
a deadline and fails with the daemon's stderr, so a hung or crashed daemon shows why.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from aiohttp import web

T = TypeVar("T")

# Variables a parent (a CI runner under systemd, a terminal) may have set that would leak into the daemon.
_SCRUBBED_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "PROBE_AGENT_CONFIG")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def agent_config(
    db: Path,
    endpoints: Sequence[Mapping[str, Any]],
    *,
    agent_id: str = "t1",
    controls: Sequence[Mapping[str, Any]] = (),
    agent: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A config document: 1 s heartbeat, 1 s interval and re-check, 800 ms timeout, confirm 3 unless overridden.

    ``per_host_limit`` is raised because every loopback target shares the host 127.0.0.1. ``workers: 1``: these
    tests show what one process does, timed to the millisecond beside other tests' daemons; the probe processes
    (``agent.workers`` > 1) have their own tests (tests/agent/test_probe_workers.py).
    """
    doc: dict[str, Any] = {
        "agent": {
            "id": agent_id,
            "database": str(db),
            "heartbeat": "1s",
            "per_host_limit": 64,
            "workers": 1,
            **(agent or {}),
        },
        "defaults": {"interval": "1s", "timeout": "800ms", "retry_interval": "1s", "confirm": 3, **(defaults or {})},
        "endpoints": [dict(ep) for ep in endpoints],
    }
    if controls:
        doc["controls"] = [dict(c) for c in controls]
    return doc


def write_config(path: Path, doc: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    return path


def closed_port() -> int:
    """A loopback TCP port with nothing listening (bound, then closed; nothing here binds it again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the daemon process ----------------------------------------------------------------------------------------


@dataclass
class DaemonProcess:
    """One ``probe-agent run`` subprocess; stderr goes to a file (read with ``log()``)."""

    proc: asyncio.subprocess.Process
    stderr_path: Path
    started_ms: int
    exited_ms: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def signal(self, sig: signal.Signals) -> int:
        """Send ``sig``; returns the wall time it was sent at."""
        sent = wall_ms()
        self.proc.send_signal(sig)
        return sent

    async def wait(self, timeout: float) -> int:
        """The exit code; fails the test (and kills the process) if it does not exit within ``timeout`` s."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.kill()
            await self.proc.wait()
            raise AssertionError(f"daemon {self.pid} did not exit within {timeout}s; stderr:\n{self.log()}") from None
        if self.exited_ms is None:
            self.exited_ms = wall_ms()
        return code

    async def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: the exit code."""
        self.signal(signal.SIGTERM)
        return await self.wait(timeout)

    def kill(self) -> None:
        if self.alive:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:  # exited between the check and the kill
                pass


@dataclass
class DaemonLauncher:
    """Starts daemons for one test and kills whatever is still alive at teardown."""

    workdir: Path
    started: list[DaemonProcess] = field(default_factory=list)

    async def start(self, config: Path, env: Mapping[str, str] | None = None) -> DaemonProcess:
        n = len(self.started) + 1
        stderr_path = self.workdir / f"daemon-{n}.stderr"
        child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        child_env.update(env or {})
        with stderr_path.open("wb") as stderr:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "probe_agent.cli",
                "run",
                "-c",
                str(config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.workdir,
                env=child_env,
            )
        daemon = DaemonProcess(proc, stderr_path, wall_ms())
        self.started.append(daemon)
        return daemon

    async def cleanup(self) -> None:
        for daemon in self.started:
            daemon.kill()
            await daemon.proc.wait()


async def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    daemon: DaemonProcess | None = None,
    every: float = 0.1,
) -> T:
    """Poll ``check`` (on the event loop, so in-process targets keep serving) until it returns a truthy value.

    Fails with ``what`` and the daemon's stderr when ``timeout`` seconds pass or the daemon exits first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if daemon is not None and not daemon.alive:
            raise AssertionError(f"daemon exited ({daemon.proc.returncode}) while waiting for {what}:\n{daemon.log()}")
        if time.monotonic() > deadline:
            log = daemon.log() if daemon is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log}")
        await asyncio.sleep(every)


# -- reading the store -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    endpoint: str
    start_ms: int
    end_ms: int
    state: str
    cause: str | None
    outage_start_ms: int | None


@dataclass(frozen=True)
class Result:
    endpoint: str
    ts_ms: int
    outcome: str
    error_kind: str | None
    latency_ms: float | None
    recheck: bool
    run_id: int | None


@dataclass(frozen=True)
class Run:
    run_id: int
    started_ms: int
    heartbeat_ms: int
    stopped_ms: int | None
    clean: int | None


class StoreReader:
    """Reads the daemon's database through a fresh read-only connection per call (WAL: never blocks the writer).

    Before the daemon created the file, every read returns nothing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the daemon has not migrated the new file yet
                return []
            raise
        finally:
            conn.close()

    def results(self, endpoint: str | None = None, *, run_id: int | None = None) -> list[Result]:
        rows = self.rows(
            "SELECT endpoint, ts_ms, outcome, error_kind, latency_ms, recheck, run_id FROM results "
            "WHERE (?1 IS NULL OR endpoint = ?1) AND (?2 IS NULL OR run_id = ?2) ORDER BY endpoint, ts_ms",
            (endpoint, run_id),
        )
        return [Result(e, ts, o, k, lat, bool(r), run) for e, ts, o, k, lat, r, run in rows]

    def intervals(self, endpoint: str | None = None) -> list[Interval]:
        rows = self.rows(
            "SELECT endpoint, start_ms, end_ms, state, cause, outage_start_ms FROM intervals "
            "WHERE ?1 IS NULL OR endpoint = ?1 ORDER BY endpoint, start_ms",
            (endpoint,),
        )
        return [Interval(*row) for row in rows]

    def runs(self) -> list[Run]:
        rows = self.rows("SELECT run_id, started_ms, heartbeat_ms, stopped_ms, clean FROM runs ORDER BY run_id")
        return [Run(*row) for row in rows]

    def fold_states(self) -> dict[str, dict[str, Any]]:
        return {ep: json.loads(snap) for ep, snap in self.rows("SELECT endpoint, snapshot FROM fold_state")}


def resolved_timeline(store: StoreReader, endpoint: str) -> list[Interval]:
    """The stored intervals plus the resolved span still growing in the fold snapshot (``cur``).

    What follows it in the snapshot (a suspect run's spans) is unresolved: it may still turn out up or down, so a
    clean stop does not write it (nor, then, ``cur``: the spans are written in order).
    """
    timeline = store.intervals(endpoint)
    cur = store.fold_states().get(endpoint, {}).get("cur")
    if cur is not None:
        start, end, state, cause, outage_start = cur
        timeline.append(Interval(endpoint, start, end, state, cause, outage_start))
    return timeline


def assert_tiled(intervals: Sequence[Interval]) -> None:
    """One endpoint's stored intervals follow each other without a gap or an overlap."""
    for before, after in itertools.pairwise(intervals):
        assert before.end_ms == after.start_ms, f"hole or overlap between {before} and {after}"


def covering(intervals: Sequence[Interval], start_ms: int, end_ms: int) -> list[Interval]:
    """The intervals overlapping ``[start_ms, end_ms)``; asserts they cover all of it."""
    inside = [i for i in intervals if i.start_ms < end_ms and i.end_ms > start_ms]
    assert inside, f"nothing stored covers [{start_ms}, {end_ms})"
    assert inside[0].start_ms <= start_ms and inside[-1].end_ms >= end_ms, f"[{start_ms}, {end_ms}) not covered"
    assert_tiled(inside)
    return inside


# -- a loopback target that records every request --------------------------------------------------------------


@dataclass
class RecordingTarget:
    """``GET /r/{name}`` answers 200 and records ``(name, wall ms when the request arrived)``."""

    requests: list[tuple[str, int]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/r/{name}"

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append((request.match_info["name"], wall_ms()))
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/r/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# -- a TCP target that the test takes down and brings back ---------------------------------------------------


class TcpListener:
    """A TCP listener on 127.0.0.1 that accepts and closes; ``down()`` stops listening (connect_refused), ``up()``
    listens again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None

    async def up(self) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        self.server = None


@pytest.fixture
async def listener() -> AsyncIterator[TcpListener]:
    target = TcpListener()
    await target.up()
    try:
        yield target
    finally:
        if target.server is not None:
            await target.down()
