"""Wall-clock steps under the daemon as a subprocess: libfaketime (Debian's ``faketime`` package) preloaded into it,
its offset read from a timestamp file the test rewrites, the monotonic clocks left real. Never the machine's clock.

``FAKETIME_NO_CACHE`` makes every wall-clock read see the file's current offset; ``FAKETIME_DONT_FAKE_MONOTONIC``
keeps ``CLOCK_MONOTONIC`` and ``CLOCK_BOOTTIME`` real (the daemon's scheduling and labels run on them). The test
itself runs on the real clock, so it knows the truth. Skipped where libfaketime is not installed.

Settings: interval and re-check 1 s, timeout 500 ms, confirm 1, heartbeat 1 s; the target a TCP listener on
loopback in the test's event loop.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DaemonLauncher,
    Interval,
    StoreReader,
    TcpListener,
    agent_config,
    assert_tiled,
    listener,
    resolved_timeline,
    wait_until,
    wall_ms,
    write_config,
)

__all__ = ["listener"]  # the fixture, shared with tests/agent/test_clock_steps.py

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)

pytestmark = [
    pytest.mark.slow,
    # A probe late by more than the grace (500 ms) is no_data, which these tests count to the millisecond: a daemon
    # starved of CPU by the daemons of other tests beside it did that (tests/solo.py).
    pytest.mark.solo,
    pytest.mark.timeout(90),
    pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not installed (apt-get install faketime)"),
]


class SteppedClock:
    """The daemon's wall clock: real time plus the offset in a libfaketime timestamp file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(0)

    def set(self, offset_s: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+d}\n")
        tmp.replace(self.path)  # atomic: the daemon never reads a half-written offset

    def env(self) -> dict[str, str]:
        assert LIBFAKETIME is not None
        return {
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }


def config(tmp_path: Path, db: Path, port: int) -> Path:
    doc = agent_config(db, [{"id": "web", "tcp": f"127.0.0.1:{port}"}], defaults={"timeout": "500ms", "confirm": 1})
    return write_config(tmp_path / "c.yaml", doc)


def total(intervals: list[Interval], state: str) -> int:
    return sum(i.end_ms - i.start_ms for i in intervals if i.state == state)


@pytest.mark.fault(
    "clock stepped back (libfaketime) in an outage, kill -9, restart still behind",
    expected="one incident of the true length; the new run after the old",
)
async def test_a_step_back_inside_an_outage_then_kill_9_and_a_restart_still_behind(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, listener: TcpListener
) -> None:
    """A 6 s outage with the clock stepped back 120 s 2 s into it is ~6 s down, one incident; then kill -9 and a
    restart with the clock still 120 s behind everything stored: every result of the new run is stored, after the
    old run's. (Before: ~2 s down, and the new run stored nothing.)"""
    clock = SteppedClock(tmp_path / "faketime.rc")
    cfg = config(tmp_path, db, listener.port)
    first = await launcher.start(cfg, env=clock.env())
    await wait_until(lambda: len(store.results("web")) >= 2, timeout=20, what="two up results", daemon=first)
    await listener.down()
    off = time.monotonic()
    await asyncio.sleep(2)
    clock.set(-120)
    await asyncio.sleep(4)
    await listener.up()
    outage_ms = round((time.monotonic() - off) * 1000)
    stored = len(store.results("web"))
    await wait_until(lambda: len(store.results("web")) >= stored + 2, timeout=20, what="up again", daemon=first)
    first.signal(signal.SIGKILL)
    await first.wait(10)

    second = await launcher.start(cfg, env=clock.env())  # the wall clock still 120 s behind
    await wait_until(lambda: len(store.runs()) == 2, timeout=20, what="the second run", daemon=second)
    run2 = store.runs()[1].run_id
    await wait_until(lambda: len(store.results("web", run_id=run2)) >= 3, timeout=20, what="3 results", daemon=second)
    assert await second.stop() == 0

    runs = store.runs()
    assert runs[0].clean == 0 and runs[1].clean == 1
    first_results = store.results("web", run_id=runs[0].run_id)
    second_results = store.results("web", run_id=run2)
    assert runs[1].started_ms > runs[0].stopped_ms >= first_results[-1].ts_ms
    assert second_results[0].ts_ms > runs[0].stopped_ms
    for results in (first_results, second_results):
        gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(results)]
        assert min(gaps) >= 300, gaps  # ~1 s apart (a run's first probe may start late), never 1 ms
    timeline = resolved_timeline(store, "web")
    assert_tiled(timeline)
    down = [i for i in timeline if i.state == "down"]
    assert len({i.outage_start_ms for i in down}) == 1, down
    assert abs(total(timeline, "down") - outage_ms) <= 1_200, (total(timeline, "down"), outage_ms)
    # no_data only where the first run's last result stopped speaking (its crash) until the second run's first.
    assert total(timeline, "no_data") <= second_results[0].ts_ms - first_results[-1].ts_ms
    assert re.search(r"wall clock stepped back by ~?2m ", first.log())
    assert "behind the latest time stored for this agent" in second.log()


@pytest.mark.fault(
    "clock +1 h and back (libfaketime, daemon as a process)",
    expected="no no_data",
)
async def test_an_hour_forward_and_back_leaves_no_no_data(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, listener: TcpListener
) -> None:
    """+1 h for 3 s, then back: nothing is no_data and nothing is labelled in the future. (Before: an hour of
    no_data.)"""
    clock = SteppedClock(tmp_path / "faketime.rc")
    daemon = await launcher.start(config(tmp_path, db, listener.port), env=clock.env())
    await wait_until(lambda: len(store.results("web")) >= 2, timeout=20, what="two results", daemon=daemon)
    clock.set(3600)
    await asyncio.sleep(3)
    clock.set(0)
    stored = len(store.results("web"))
    await wait_until(lambda: len(store.results("web")) >= stored + 3, timeout=20, what="3 more results", daemon=daemon)
    assert await daemon.stop() == 0
    stopped = wall_ms()

    timeline = resolved_timeline(store, "web")
    assert_tiled(timeline)
    assert total(timeline, "no_data") == 0
    assert timeline[-1].end_ms <= stopped
    results = store.results("web")
    assert results[-1].ts_ms <= stopped
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(results)]
    assert max(gaps) <= 2_500, gaps
    assert re.search(r"wall clock stepped forward by ~?1h ", daemon.log())
