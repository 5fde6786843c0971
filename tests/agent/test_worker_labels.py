"""A probe process's results labelled in the daemon (``LabelClock.read_at``), and what crosses the socket
(``worker_wire``): fake clocks, no processes."""

from __future__ import annotations

import asyncio
import logging
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.agent import worker_wire as wire
from probe_agent.agent.clock import LabelClock
from probe_agent.fold import FoldParams, Phase, TimelineFold
from probe_agent.model import ErrorKind, Outcome, ProbeResult

MS = 1_000_000  # ns
T0 = 1_800_000_000_000  # the wall clock at the anchor, epoch ms


class Clocks:
    def __init__(self) -> None:
        self.wall = T0
        self.ns = 5_000 * MS  # the system-wide monotonic clock, any origin

    def advance(self, ms: int) -> None:
        self.wall += ms
        self.ns += ms * MS


def test_a_mark_is_labelled_where_it_was_taken_not_when_it_arrived() -> None:
    c = Clocks()
    clock = LabelClock(lambda: c.wall, lambda: c.ns)
    clock.start()
    mark = c.ns + 250 * MS  # a worker's probe starts 250 ms after the anchor ...
    c.advance(1_000)  # ... and its result reaches the daemon 750 ms after that
    label = clock.read_at(mark)
    assert label.ts_ms == T0 + 250 and label.note == ""


def test_a_step_is_detected_once_for_every_workers_marks_and_flagged() -> None:
    c = Clocks()
    clock = LabelClock(lambda: c.wall, lambda: c.ns)
    clock.start()
    c.advance(1_000)
    c.wall -= 3_600_000  # the wall clock steps back an hour
    labels = []
    for i in range(20):  # results of several workers, each read on arrival
        c.advance(10)
        labels.append(clock.read_at(c.ns - 5 * MS))
        assert labels[-1].ts_ms == T0 + 1_000 + 10 * (i + 1) - 5  # still on the monotonic clock: no downtime made
    assert clock.steps == 1
    assert all("behind this ts" in label.note for label in labels)


def test_a_mark_is_never_labelled_after_now_nor_before_the_anchor() -> None:
    c = Clocks()
    clock = LabelClock(lambda: c.wall, lambda: c.ns)
    clock.start()
    c.advance(100)
    assert clock.read_at(c.ns + 50 * MS).ts_ms == T0 + 100
    assert clock.read_at(c.ns - 10_000 * MS).ts_ms == T0


def test_a_result_crosses_the_socket_whole() -> None:
    raw = ProbeResult(
        T0,
        "a1",
        "web",
        Outcome.DOWN,
        latency_ms=None,
        error_kind=ErrorKind.CONNECT_TIMEOUT,
        detail="timed out",
        phases=MappingProxyType({"dns": 1.5, "connect": 2.0}),  # as probes make it: read-only
    )
    sent = wire.Results((wire.Finished(7, "web", 3, raw, 12.5, 42 * MS),))

    async def roundtrip() -> wire.Message | None:
        reader = asyncio.StreamReader()
        reader.feed_data(wire.frame(sent))
        reader.feed_eof()
        first = await wire.read_message(reader)
        assert await wire.read_message(reader) is None  # the end of the stream
        return first

    got = asyncio.run(roundtrip())
    assert got == sent
    assert isinstance(got, wire.Results)
    with pytest.raises(TypeError):  # still read-only on arrival
        got.finished[0].raw.phases["dns"] = 0.0  # type: ignore[index]


def test_a_stream_cut_mid_message_is_its_end(caplog: pytest.LogCaptureFixture) -> None:
    async def cut() -> wire.Message | None:
        reader = asyncio.StreamReader()
        reader.feed_data(wire.frame(wire.Stop(1.0))[:-3])
        reader.feed_eof()
        return await wire.read_message(reader)

    caplog.set_level(logging.WARNING)
    assert asyncio.run(cut()) is None


_RECHECKING = {Phase.SUSPECT, Phase.DOWN}


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(Outcome)), st.integers(min_value=1, max_value=30_000)), min_size=1, max_size=60
    ),
    st.integers(min_value=1, max_value=5),
)
def test_a_result_that_is_not_down_never_sends_a_grid_endpoint_to_re_checks(
    steps: list[tuple[Outcome, int]], confirm: int
) -> None:
    """``answer_needed``'s premise, against the fold itself: from a phase that is neither suspect nor down, no
    result but a down one leads into suspect or down; so a worker need not wait for the answer to such a result."""
    fold = TimelineFold("a1", "web", FoldParams(interval_ms=10_000, grace_ms=2_000, confirm=confirm))
    ts = T0
    for outcome, gap in steps:
        ts += gap
        before = fold.phase
        kind = ErrorKind.CONNECT_REFUSED if outcome is Outcome.DOWN else None
        raw = ProbeResult(ts, "a1", "web", outcome, error_kind=kind, recheck=before in _RECHECKING)
        fold.feed(raw)
        if not wire.answer_needed(raw):
            assert before not in _RECHECKING and fold.phase not in _RECHECKING
