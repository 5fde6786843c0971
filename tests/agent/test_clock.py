"""The label clock on fake clocks: hand-counted steps through the worker into a real SQLite file, and properties.

The wall clock and the elapsed (monotonic) clock are both the test's, so every label is known in advance. The
endpoint: interval 10 s, timeout 2 s (grace 2 s), re-check 5 s, confirm 3. The test plays the scheduler: the next
probe runs 10 s after the last on the grid, 5 s after it while suspect or down. Probes take no time.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.agent.clock import SETTLE_MS, TOLERANCE_MS, Label, LabelClock
from probe_agent.agent.controls import Controls
from probe_agent.agent.worker import EndpointWorker
from probe_agent.config import load_config
from probe_agent.config.schema import Endpoint
from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.store import records
from probe_agent.store.writer import StoreWriter
from tests.e2e.harness import Interval, StoreReader, assert_tiled

S = 1000
W0 = 1_796_601_600_000  # 2026-12-07T00:00:00Z: the wall clock when the elapsed clock reads 0


class Clocks:
    """The test's two clocks: elapsed seconds ``t``, and the wall clock ``W0 + t`` plus ``steps(t)`` (ms: how far
    the wall clock has been stepped by then)."""

    def __init__(self, steps: Callable[[float], int] = lambda t: 0) -> None:
        self.t = 0.0
        self.steps = steps

    def wall(self) -> int:
        return W0 + round(self.t * S) + self.steps(self.t)

    def elapsed(self) -> int:
        return round(self.t * 1e9)


def endpoint(tmp_path: Path) -> Endpoint:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams, database: {tmp_path / "pa.db"}}}
            defaults: {{interval: 10s, timeout: 2s, retry_interval: 5s, confirm: 3}}
            endpoints: [{{id: web, tcp: "127.0.0.1:9"}}]
            """
        )
    )
    return load_config(path).config.endpoints[0]


def run_worker(tmp_path: Path, clocks: Clocks, down: Callable[[float], bool], until: float, end: float) -> StoreReader:
    """Probe from t = 0 while t < ``until`` (the target down while ``down(t)``), then end the run at t = ``end``;
    returns the store."""
    ep = endpoint(tmp_path)
    clock = LabelClock(clocks.wall, clocks.elapsed)
    clock.start()

    async def prober(endpoint: Endpoint, **_: Any) -> ProbeResult:
        failed = down(clocks.t)
        return ProbeResult(
            ts_ms=clocks.wall(),  # what the real prober does: its own wall-clock reading
            agent="ams",
            endpoint=endpoint.id,
            outcome=Outcome.DOWN if failed else Outcome.UP,
            latency_ms=None if failed else 1.0,
            status_code=None,
            error_kind=ErrorKind.CONNECT_REFUSED if failed else None,
        )

    async def no_controls(ep: Endpoint) -> ProbeResult:
        raise AssertionError("no controls configured")

    writer = StoreWriter(tmp_path / "pa.db")
    writer.start()
    run_id = writer.run_sync(
        lambda c: records.start_run(
            c, agent="ams", pid=1, hostname="h", version="t", config_hash="x", now_ms=clock.now_ms()
        )
    )
    worker = EndpointWorker(
        ep,
        agent="ams",
        fold=TimelineFold("ams", ep.id, FoldParams.of(ep)),
        controls=Controls([], no_controls),
        sink=writer,
        run_id=run_id,
        prober=prober,
        clock=clock,
    )

    async def play() -> None:
        while clocks.t < until:
            delay = await worker.probe_once()
            clocks.t += delay if delay is not None else 10
        clocks.t = end
        worker.close(clock.now_ms())

    asyncio.run(play())
    writer.flush()
    writer.close()
    return StoreReader(tmp_path / "pa.db")


def total(intervals: list[Interval], state: str) -> int:
    return sum(i.end_ms - i.start_ms for i in intervals if i.state == state)


@pytest.mark.fault(
    "wall clock stepped back 120 s inside a 40 s outage (fake clocks)",
    expected="40 s down, nothing squeezed or refused",
)
def test_a_40_s_outage_with_the_clock_stepped_back_120_s_inside_it_is_40_s_down(tmp_path: Path) -> None:
    # Up at 0, 10, 20; down from 30 (suspect 30, 35, confirmed at 40) to 70; the wall clock steps back 120 s at 52.
    # Re-checks at 45 ... 65 are down, 70 is up: down [30 s, 70 s) = 40,000 ms; then up at 80, 90; the run ends
    # at 95: up 30,000 + 25,000 = 55,000 ms. Before, the results after the step were labelled 1 ms after the one
    # at 50 (55 -> 50.001 s, ..., 70 -> 50.004 s): 20,004 ms down.
    clocks = Clocks(lambda t: -120 * S if t >= 52 else 0)
    store = run_worker(tmp_path, clocks, lambda t: 30 <= t < 70, until=95, end=95)
    timeline = store.intervals("web")
    assert_tiled(timeline)
    assert [(i.start_ms - W0, i.end_ms - W0, i.state) for i in timeline] == [
        (0, 30_000, "up"),
        (30_000, 70_000, "down"),
        (70_000, 95_000, "up"),
    ]
    assert timeline[1].outage_start_ms == W0 + 30_000
    results = store.results("web")
    assert [r.ts_ms - W0 for r in results] == [t * S for t in (0, 10, 20, 30, 35, 40, 45, 50, 55, 60, 65, 70, 80, 90)]
    flagged = store.rows("SELECT ts_ms - ?, detail FROM results WHERE detail != '' ORDER BY ts_ms", (W0,))
    assert [ts for ts, _ in flagged] == [t * S for t in (55, 60, 65, 70, 80, 90)]
    assert flagged[0][1] == "wall clock 2m behind this ts, which is on the monotonic clock"


@pytest.mark.fault(
    "wall clock stepped forward 1 h and held",
    expected="followed after 5 min; at most the step as no_data, never down",
)
def test_a_forward_step_that_holds_is_followed_and_costs_the_step_as_no_data(tmp_path: Path) -> None:
    # Up every 10 s. At 100 s the wall clock steps forward 1 h and stays. Results at 100 ... 390 stay on the
    # monotonic clock (flagged); the read at 400 is 300 s after the step was first seen: the labels follow it,
    # 400 s -> 4,000 s. The result at 390 speaks until 390 + 10 + 2 = 402 s: no_data [402 s, 4,000 s) =
    # 3,598,000 ms, less than the step. The run ends at 405 s of elapsed time = label 4,005 s: up 402,000 + 5,000.
    clocks = Clocks(lambda t: 3600 * S if t >= 100 else 0)
    store = run_worker(tmp_path, clocks, lambda t: False, until=405, end=405)
    timeline = store.intervals("web")
    assert_tiled(timeline)
    assert [(i.start_ms - W0, i.end_ms - W0, i.state) for i in timeline] == [
        (0, 402_000, "up"),
        (402_000, 4_000_000, "no_data"),
        (4_000_000, 4_005_000, "up"),
    ]
    assert total(timeline, "no_data") == 3_598_000 < 3600 * S
    details = dict(store.rows("SELECT ts_ms - ?, detail FROM results", (W0,)))
    assert details[390_000] == "wall clock 1h ahead of this ts, which is on the monotonic clock"
    assert details[4_000_000].startswith("wall clock stepped forward 1h; labels followed it")


@pytest.mark.fault(
    "wall clock +1 h and back within a minute",
    expected="no label changes, no no_data",
)
def test_an_hour_forward_and_back_within_the_settle_time_changes_no_label(tmp_path: Path) -> None:
    # +1 h at 100 s, back at 160 s: every result stays 10 s after the one before; nothing is no_data.
    clocks = Clocks(lambda t: 3600 * S if 100 <= t < 160 else 0)
    store = run_worker(tmp_path, clocks, lambda t: False, until=300, end=300)
    timeline = store.intervals("web")
    assert [(i.start_ms - W0, i.end_ms - W0, i.state) for i in timeline] == [(0, 300_000, "up")]
    flagged = [ts for (ts,) in store.rows("SELECT ts_ms - ? FROM results WHERE detail != ''", (W0,))]
    assert flagged == [t * S for t in range(100, 160, 10)]


# -- the clock alone --------------------------------------------------------------------------------------------


def test_start_up_behind_the_stored_time_labels_after_it(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks()
    clock = LabelClock(clocks.wall, clocks.elapsed)
    floor = W0 + 300 * S  # the previous run ended 5 minutes ahead of this wall clock
    with caplog.at_level(logging.WARNING):
        assert clock.start(floor) == floor + 1
    assert "5m behind the latest time stored" in caplog.text
    clocks.t = 10
    label = clock.read()
    assert label.ts_ms == floor + 1 + 10 * S
    assert label.note == "wall clock ~5m behind this ts, which is on the monotonic clock"
    assert clock.steps == 1


def test_start_up_after_the_stored_time_uses_the_wall_clock() -> None:
    clocks = Clocks()
    clock = LabelClock(clocks.wall, clocks.elapsed)
    assert clock.start(W0 - 1) == W0
    clocks.t = 1.5
    assert (clock.read().ts_ms, clock.read().note, clock.steps) == (W0 + 1500, "", 0)


def test_a_step_is_logged_once_and_its_end_too(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks(lambda t: -120 * S if 1 <= t < 6 else 0)
    clock = LabelClock(clocks.wall, clocks.elapsed)
    clock.start()
    with caplog.at_level(logging.WARNING):
        for t in range(1, 6):
            clocks.t = t
            assert clock.read() == Label(W0 + t * S, "wall clock 2m behind this ts, which is on the monotonic clock")
        clocks.t = 6
        assert clock.read() == Label(W0 + 6 * S, "")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("wall clock stepped back by 2m ")
    assert messages[1].startswith("wall clock agrees with the labels again")


def test_a_drift_within_the_tolerance_is_no_step() -> None:
    clocks = Clocks(lambda t: TOLERANCE_MS if t >= 5 else 0)
    clock = LabelClock(clocks.wall, clocks.elapsed)
    clock.start()
    clocks.t = 5
    assert (clock.read().ts_ms, clock.read().note, clock.steps) == (W0 + 5 * S, "", 0)


# A plan: per read, the elapsed time advanced (ms) and the wall clock's step since the last read (ms, often 0).
plans = st.lists(
    st.tuples(
        st.integers(1, 400_000),
        st.one_of(st.just(0), st.just(0), st.integers(-(10**7), 10**7)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(plans)
def test_labels_advance_by_the_elapsed_time_and_jump_only_to_follow_a_held_forward_step(
    plan: list[tuple[int, int]],
) -> None:
    """Whatever the wall clock does: labels strictly increase; between two reads they advance by exactly the elapsed
    time, except when they follow a forward step the wall clock held for the settle time, and then they land on the
    wall clock; all those jumps together are at most the forward steps' total; a label without a note is within the
    tolerance of the wall clock."""
    elapsed_ms, wall = 0, W0
    clock = LabelClock(lambda: wall, lambda: elapsed_ms * 1_000_000)
    previous = clock.start()
    jumped = forward = 0
    ahead_since: tuple[int, int] | None = None  # (offset, elapsed ms) of the forward disagreement in progress
    for advance, step in plan:
        elapsed_ms += advance
        wall += advance + step
        forward += max(step, 0)
        label = clock.read()
        offset = wall - (previous + advance)
        if offset > TOLERANCE_MS:
            if ahead_since is None or abs(offset - ahead_since[0]) > TOLERANCE_MS:
                ahead_since = (offset, elapsed_ms)
        else:
            ahead_since = None
        assert label.ts_ms > previous
        if label.ts_ms != previous + advance:
            assert ahead_since is not None and elapsed_ms - ahead_since[1] >= SETTLE_MS
            assert label.ts_ms == wall
            assert "labels followed it" in label.note
            jumped += label.ts_ms - (previous + advance)
            ahead_since = None
        elif not label.note:
            assert abs(wall - label.ts_ms) <= TOLERANCE_MS
        previous = label.ts_ms
    assert jumped <= forward
