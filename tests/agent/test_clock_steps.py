"""Wall-clock steps under the real daemon, in-process: the ``wall_ms`` seam is the machine's clock plus an offset
the test changes, so the clock steps while the event loop and the monotonic clock run on (never the machine's own
clock). The target is a real TCP listener on loopback that the test closes and reopens; the database a real file.

Settings: interval and re-check 1 s, timeout 500 ms (grace 500 ms), confirm 1, heartbeat 1 s. Time is measured
against the real wall clock (the test's), which the steps do not touch, so the truth is known:

- a 6 s outage with the clock stepped back 120 s 2 s into it is 6 s of down time, give or take one probe interval
  at each end; it was 2 s (the results after the step were relabelled 1 ms apart);
- a restart with the clock 5 minutes behind the previous run stores every result (none were: the fold refused
  each), labelled after the previous run, 1 s apart;
- a +1 h step that comes back after 3 s leaves no no_data and nothing labelled in the future (it left an hour of
  no_data).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.daemon import Daemon
from probe_agent.config import load_config
from probe_agent.config.schema import Endpoint
from probe_agent.model import ProbeResult
from probe_agent.probes import run_probe
from tests.e2e.harness import (
    Interval,
    StoreReader,
    TcpListener,
    agent_config,
    assert_tiled,
    listener,
    resolved_timeline,
    write_config,
)

__all__ = ["listener"]  # the fixture, shared with tests/e2e/test_clock_faketime.py

S = 1000
AGENT = "t1"


def real_ms() -> int:
    return time.time_ns() // 1_000_000


class SteppedWall:
    """The daemon's wall clock: the real one plus ``offset_ms``, which the test steps."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def __call__(self) -> int:
        return real_ms() + self.offset_ms


def config_file(tmp_path: Path, port: int) -> Path:
    doc = agent_config(
        tmp_path / "pa.db",
        [{"id": "web", "tcp": f"127.0.0.1:{port}"}],
        agent_id=AGENT,
        defaults={"timeout": "500ms", "confirm": 1},
    )
    return write_config(tmp_path / "probe-agent.yaml", doc)


class Running:
    """One in-process daemon run on the wall clock ``wall``; ``stop()`` stops it cleanly. Its probes are the real
    ones, reading the same stepped wall clock (on a machine, both read the one system clock)."""

    def __init__(self, config: Path, wall: Callable[[], int]) -> None:
        async def prober(ep: Endpoint, **kwargs: Any) -> ProbeResult:
            return await run_probe(ep, wall_clock_ms=wall, **kwargs)

        self.daemon = Daemon(load_config(config), handle_signals=False, prober=prober, wall_ms=wall, verbosity=0)
        self.task = asyncio.create_task(self.daemon.run())

    def probes(self) -> int:
        return sum(w.probes for w in self.daemon.workers.values())

    async def until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.task.done():
                self.task.result()
                raise AssertionError(f"daemon stopped while waiting for {what}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.daemon.request_stop()
        await asyncio.wait_for(self.task, 30)


def total(intervals: list[Interval], state: str) -> int:
    return sum(i.end_ms - i.start_ms for i in intervals if i.state == state)


@pytest.mark.slow
@pytest.mark.fault(
    "the daemon's clock stepped back inside an outage (in-process)",
    expected="the outage keeps its length",
)
async def test_an_outage_with_the_clock_stepped_back_inside_it_keeps_its_length(
    tmp_path: Path, listener: TcpListener
) -> None:
    wall = SteppedWall()
    run = Running(config_file(tmp_path, listener.port), wall)
    await run.until(lambda: run.probes() >= 2, 15, "two up results")
    await listener.down()
    off = time.monotonic()
    await asyncio.sleep(2)
    wall.offset_ms = -120 * S  # NTP steps the clock back 2 minutes, 2 s into the outage
    await asyncio.sleep(4)
    await listener.up()
    outage_ms = round((time.monotonic() - off) * S)  # the truth: ~6,000 ms
    ups_after = run.probes() + 2
    await run.until(lambda: run.probes() >= ups_after, 15, "results after the recovery")
    await run.stop()

    store = StoreReader(tmp_path / "pa.db")
    timeline = resolved_timeline(store, "web")
    assert_tiled(timeline)
    down = [i for i in timeline if i.state == "down"]
    assert len({i.outage_start_ms for i in down}) == 1, down  # one incident
    # A change is seen at the next probe: the measured outage is off by at most one interval (1 s) at each end.
    assert abs(total(timeline, "down") - outage_ms) <= 1_200, (total(timeline, "down"), outage_ms)
    assert total(timeline, "no_data") == 0
    results = store.results("web")
    assert len(results) == run.probes()  # every result stored
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(results)]
    assert min(gaps) >= 300, gaps  # ~1 s apart (a run's first probe may start late), never 1 ms
    assert run.daemon.clock.steps == 1
    notes = store.rows(
        "SELECT count(*) FROM results WHERE detail LIKE '%(wall clock 2m behind this ts%' "
        "OR detail LIKE '%(wall clock ~2m behind this ts%'"
    )
    assert notes[0][0] >= 4  # the results labelled while the wall clock was behind say so


@pytest.mark.slow
@pytest.mark.fault(
    "a restart with the clock 5 minutes behind the last run",
    expected="every result stored, after the previous run",
)
async def test_a_restart_with_the_clock_five_minutes_behind_stores_every_result(
    tmp_path: Path, listener: TcpListener
) -> None:
    config = config_file(tmp_path, listener.port)
    first = Running(config, SteppedWall())
    await first.until(lambda: first.probes() >= 3, 15, "three results")
    await first.stop()
    second = Running(config, SteppedWall(-300 * S))
    await second.until(lambda: second.probes() >= 4, 15, "four results after the restart")
    await second.stop()

    store = StoreReader(tmp_path / "pa.db")
    runs = store.runs()
    assert len(runs) == 2 and runs[0].stopped_ms is not None
    results = store.results("web", run_id=runs[1].run_id)
    assert len(results) == second.probes() >= 4  # every result of the second run stored (0 were)
    assert results[0].ts_ms > runs[0].stopped_ms  # after the previous run, not 5 minutes before it
    assert runs[1].started_ms > runs[0].stopped_ms
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(results)]
    assert min(gaps) >= 300, gaps
    timeline = resolved_timeline(store, "web")
    assert_tiled(timeline)
    assert timeline[-1].end_ms == runs[1].stopped_ms
    assert total(timeline, "down") == 0
    # The second run's labels run ahead of its wall clock by the 5 minutes (less the restart's own duration).
    assert 299 * S - 2 * S <= runs[1].stopped_ms - (real_ms() - 300 * S) <= 301 * S


@pytest.mark.slow
@pytest.mark.fault(
    "the daemon's clock +1 h for 3 s, then back (in-process)",
    expected="no future no_data",
)
async def test_a_step_of_an_hour_forward_and_back_leaves_no_future_no_data(
    tmp_path: Path, listener: TcpListener
) -> None:
    wall = SteppedWall()
    run = Running(config_file(tmp_path, listener.port), wall)
    await run.until(lambda: run.probes() >= 2, 15, "two results")
    wall.offset_ms = 3600 * S
    await asyncio.sleep(3)
    wall.offset_ms = 0
    after = run.probes() + 3
    await run.until(lambda: run.probes() >= after, 15, "results after the step back")
    await run.stop()
    stopped = real_ms()

    store = StoreReader(tmp_path / "pa.db")
    timeline = resolved_timeline(store, "web")
    assert_tiled(timeline)
    assert total(timeline, "no_data") == 0  # it was an hour
    assert timeline[-1].end_ms <= stopped  # nothing labelled in the future
    results = store.results("web")
    assert len(results) == run.probes()
    assert results[-1].ts_ms <= stopped
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(results)]
    assert max(gaps) <= 2_500, gaps
