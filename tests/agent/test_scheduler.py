"""The monotonic probe scheduler: cadence, phases, re-checks, overlap, limits, reloads, stop, and clock steps.

Most tests drive the scheduler with a fake clock whose ``sleep`` only returns when the test advances time, so due
times can be compared exactly. A few run on the real clock for about two seconds, including the wall-clock steps.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from probe_agent.agent.scheduler import ProbeJob, ProbeScheduler, ScheduledEndpoint, Sleep, phase_offset

# Captured at import: the scheduler under test reads only this. time-machine (3.x) patches time.time and
# datetime.now but not time.monotonic; test_wall_clock_steps checks that seam instead of trusting it.
MONOTONIC = time.monotonic


class FakeClock:
    """A monotonic clock that moves only when the test says so; ``sleep`` wakes at the fake time it asked for."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sequence += 1
        heapq.heappush(self._waiters, (self.now + max(delay, 0.0), self._sequence, future))
        await future

    @staticmethod
    async def settle() -> None:
        """Let every runnable task run until it blocks again (a few dozen loop iterations are plenty here)."""
        for _ in range(60):
            await asyncio.sleep(0)

    async def run_until(self, t_end: float) -> None:
        """Advance to ``t_end``, waking each sleeper at its own time, in order."""
        await self.settle()
        while True:
            while self._waiters and self._waiters[0][2].done():
                heapq.heappop(self._waiters)  # cancelled sleeps
            if not self._waiters or self._waiters[0][0] > t_end:
                break
            due, _, future = heapq.heappop(self._waiters)
            self.now = max(self.now, due)
            future.set_result(None)
            await self.settle()
        self.now = max(self.now, t_end)
        await self.settle()


@dataclass
class ProbeLog:
    starts: list[float] = field(default_factory=list)
    finishes: list[float] = field(default_factory=list)
    running: int = 0
    max_running: int = 0


class Recorder:
    """Builds probes that record, independently of the scheduler, when they ran and how many ran at once."""

    def __init__(self, clock: Callable[[], float], sleep: Sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.probes: dict[str, ProbeLog] = {}
        self.running = 0
        self.max_running = 0
        self.host_running: Counter[str] = Counter()
        self.host_max: Counter[str] = Counter()

    def job(
        self,
        key: str,
        *,
        host: str | None = None,
        duration: float = 0.0,
        result: Callable[[int], float | None] = lambda n: None,
        raise_on: frozenset[int] = frozenset(),
    ) -> ProbeJob:
        log = self.probes.setdefault(key, ProbeLog())

        async def run() -> float | None:
            n = len(log.starts)
            log.starts.append(self.clock())
            log.running += 1
            log.max_running = max(log.max_running, log.running)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            if host is not None:
                self.host_running[host] += 1
                self.host_max[host] = max(self.host_max[host], self.host_running[host])
            try:
                if duration:
                    await self.sleep(duration)
                if n in raise_on:
                    raise ValueError(f"probe bug number {n}")
                return result(n)
            finally:
                log.running -= 1
                self.running -= 1
                if host is not None:
                    self.host_running[host] -= 1
                log.finishes.append(self.clock())

        return run

    def endpoint(self, key: str, interval_s: float, *, host: str | None = None, **job: Any) -> ScheduledEndpoint:
        return ScheduledEndpoint(key=key, interval_s=interval_s, host=host, run=self.job(key, host=host, **job))


def grid(key: str, interval_s: float, t_from: float, t_to: float) -> list[float]:
    """Slots of ``key``'s grid in ``[t_from, t_to]``, computed from the documented formula."""
    phase = phase_offset(key, interval_s)
    k = math.ceil((t_from - phase) / interval_s)
    slots = []
    while phase + k * interval_s <= t_to:
        slots.append(phase + k * interval_s)
        k += 1
    return slots


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


def make(fake: FakeClock, **kwargs: int) -> tuple[ProbeScheduler, Recorder]:
    return ProbeScheduler(clock=fake, sleep=fake.sleep, **kwargs), Recorder(fake, fake.sleep)


async def shut(scheduler: ProbeScheduler, loop_task: asyncio.Task[None], fake: FakeClock) -> None:
    stopper = asyncio.create_task(scheduler.stop(0.0))
    await fake.run_until(fake.now)
    await stopper
    await fake.settle()
    assert loop_task.done()
    await loop_task


# -- phases ----------------------------------------------------------------------------------------------------


@given(st.text(max_size=40), st.floats(min_value=1e-3, max_value=1e6))
def test_phase_is_in_the_interval_and_keeps_its_fraction(key: str, interval_s: float) -> None:
    phase = phase_offset(key, interval_s)
    assert 0.0 <= phase < interval_s
    # The fraction of the interval depends on the key alone, so a changed interval keeps the relative position.
    assert phase_offset(key, 2 * interval_s) == pytest.approx(2 * phase, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_phase_rejects_a_bad_interval(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        phase_offset("x", bad)


def test_phase_is_stable_across_processes() -> None:
    keys = ["api", "db:5432", "https://example.test/health", "ünïcode"]
    code = (
        "from probe_agent.agent.scheduler import phase_offset\n"
        f"print(repr([phase_offset(k, 60.0) for k in {keys!r}]))\n"
    )
    seen = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        seen.add(out.stdout.strip())
    assert seen == {repr([phase_offset(k, 60.0) for k in keys])}


def test_phases_of_1000_keys_spread_over_the_interval() -> None:
    per_second = Counter(int(phase_offset(f"endpoint-{i}", 60.0)) for i in range(1000))
    # Uniform would be 16.7 a second; a herd would put hundreds in one second.
    assert len(per_second) == 60
    assert max(per_second.values()) <= 34


async def test_start_up_with_1000_endpoints_has_no_crowd(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    for i in range(1000):
        scheduler.add(rec.endpoint(f"endpoint-{i}", 60.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_060.0 - 1e-6)
    starts = [log.starts for log in rec.probes.values()]
    assert all(len(s) == 1 for s in starts)  # each ran once in its first interval [1000, 1060), none twice
    per_second = Counter(int(s[0] - 1_000.0) for s in starts)
    assert max(per_second.values()) <= 34
    await shut(scheduler, loop_task, fake)


# -- cadence ---------------------------------------------------------------------------------------------------


async def test_probes_start_exactly_on_their_grids(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    specs = {"a": 10.0, "b": 7.5, "c": 30.0}
    for key, interval in specs.items():
        scheduler.add(rec.endpoint(key, interval, duration=0.25))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_100.0)
    for key, interval in specs.items():
        assert rec.probes[key].starts == pytest.approx(grid(key, interval, 1_000.0, 1_100.0), abs=1e-9)
    stats = scheduler.snapshot()
    assert stats.lateness.max_ms == 0.0
    assert stats.skipped_slots == 0
    assert stats.dispatched == sum(len(log.starts) for log in rec.probes.values())
    await shut(scheduler, loop_task, fake)


async def test_a_returned_delay_counts_from_the_finish(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    # Down for three probes (re-check after 3 s), then up again: back to the grid.
    scheduler.add(rec.endpoint("flaky", 10.0, duration=0.5, result=lambda n: 3.0 if n < 3 else None))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_040.0)
    first = grid("flaky", 10.0, 1_000.0, 1_010.0)[0]
    s = rec.probes["flaky"].starts
    assert s[:4] == pytest.approx([first, first + 3.5, first + 7.0, first + 10.5])
    # The fourth probe (n=3) returned None: the next grid slot strictly after its finish.
    after = grid("flaky", 10.0, first + 11.0, 1_040.0)
    assert s[4:] == pytest.approx(after)
    await shut(scheduler, loop_task, fake)


async def test_an_overrunning_probe_never_overlaps_and_missed_slots_are_coalesced(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("slow", 10.0, duration=25.0))  # 2.5 intervals
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_095.0)
    first = grid("slow", 10.0, 1_000.0, 1_010.0)[0]
    log = rec.probes["slow"]
    assert log.max_running == 1
    # Finishes at +25, next slot strictly after is +30: slots +10 and +20 skipped, not run back to back.
    expected = [first + 30.0 * k for k in range(4) if first + 30.0 * k <= 1_095.0]
    assert log.starts == pytest.approx(expected)
    assert scheduler.snapshot().skipped_slots == 2 * len(log.finishes)
    await shut(scheduler, loop_task, fake)


async def test_a_slot_at_the_exact_finish_is_skipped(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("exact", 10.0, duration=10.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_045.0)
    first = grid("exact", 10.0, 1_000.0, 1_010.0)[0]
    assert rec.probes["exact"].starts[:2] == pytest.approx([first, first + 20.0])
    await shut(scheduler, loop_task, fake)


# -- limits ----------------------------------------------------------------------------------------------------


async def test_the_global_limit_is_never_exceeded(fake: FakeClock) -> None:
    scheduler, rec = make(fake, max_concurrency=5)
    for i in range(40):
        scheduler.add(rec.endpoint(f"e{i}", 10.0, duration=4.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_060.0)
    assert rec.max_running == 5  # reached, never exceeded
    stats = scheduler.snapshot()
    assert stats.max_in_flight == 5
    assert stats.queue_wait.max_ms is not None and stats.queue_wait.max_ms > 0
    assert stats.lateness.max_ms == 0.0  # lateness is the loop's; waiting for a slot is counted apart
    await shut(scheduler, loop_task, fake)


async def test_the_per_host_limit_is_never_exceeded(fake: FakeClock) -> None:
    scheduler, rec = make(fake, per_host_limit=2)
    for i in range(10):
        scheduler.add(rec.endpoint(f"a{i}", 10.0, host="a.test", duration=6.0))
        scheduler.add(rec.endpoint(f"b{i}", 10.0, host="b.test", duration=6.0))
    for i in range(10):
        scheduler.add(rec.endpoint(f"free{i}", 10.0, duration=9.0))  # host None: only the global limit
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_060.0)
    assert rec.host_max == Counter({"a.test": 2, "b.test": 2})
    assert rec.max_running > 4  # the unlimited ones ran alongside
    await shut(scheduler, loop_task, fake)


# -- reloads ---------------------------------------------------------------------------------------------------


async def test_remove_lets_the_running_probe_finish_and_stops_further_runs(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("gone", 10.0, duration=4.0))
    loop_task = asyncio.create_task(scheduler.run())
    first = grid("gone", 10.0, 1_000.0, 1_010.0)[0]
    await fake.run_until(first + 1.0)
    assert rec.probes["gone"].running == 1
    scheduler.remove("gone")
    scheduler.remove("never-added")  # ignored
    await fake.run_until(1_100.0)
    assert rec.probes["gone"].starts == [first]
    assert rec.probes["gone"].finishes == [first + 4.0]
    assert "gone" not in scheduler
    await shut(scheduler, loop_task, fake)


async def test_a_removed_endpoint_waiting_for_a_slot_does_not_run(fake: FakeClock) -> None:
    scheduler, rec = make(fake, max_concurrency=1)
    scheduler.add(rec.endpoint("hog", 100.0, duration=50.0))
    scheduler.add(rec.endpoint("queued", 100.0))
    loop_task = asyncio.create_task(scheduler.run())
    hog_at, queued_at = grid("hog", 100.0, 1_000.0, 1_100.0)[0], grid("queued", 100.0, 1_000.0, 1_100.0)[0]
    # Make sure "queued" comes due while "hog" holds the only slot.
    assert hog_at < queued_at < hog_at + 50.0
    await fake.run_until(queued_at + 1.0)
    assert scheduler.snapshot().waiting == 1
    scheduler.remove("queued")
    await fake.run_until(1_200.0)
    assert "queued" not in rec.probes or rec.probes["queued"].starts == []
    assert scheduler.snapshot().waiting == 0
    await shut(scheduler, loop_task, fake)


async def test_remove_and_add_again_while_running_never_overlaps(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    ep = rec.endpoint("again", 10.0, duration=15.0)
    scheduler.add(ep)
    loop_task = asyncio.create_task(scheduler.run())
    first = grid("again", 10.0, 1_000.0, 1_010.0)[0]
    await fake.run_until(first + 1.0)
    scheduler.remove("again")
    scheduler.add(ep)
    await fake.run_until(first + 60.0)
    log = rec.probes["again"]
    assert log.max_running == 1
    assert log.starts[1] == pytest.approx(first + 20.0)  # +10 was due while the old probe still ran
    await shut(scheduler, loop_task, fake)


async def test_replace_with_the_same_interval_keeps_the_schedule(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("same", 10.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_025.0)
    replacement = rec.endpoint("same", 10.0)  # e.g. a new timeout; same key, same interval
    scheduler.replace(replacement)
    await fake.run_until(1_060.0)
    assert rec.probes["same"].starts == pytest.approx(grid("same", 10.0, 1_000.0, 1_060.0))
    assert len(scheduler) == 1
    await shut(scheduler, loop_task, fake)


async def test_replace_with_a_new_interval_moves_to_the_new_grid(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("moved", 10.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_030.5)
    scheduler.replace(rec.endpoint("moved", 4.0))
    scheduler.replace(rec.endpoint("new", 5.0))  # an unknown key is added
    await fake.run_until(1_060.0)
    assert rec.probes["moved"].starts == pytest.approx(
        grid("moved", 10.0, 1_000.0, 1_030.5) + grid("moved", 4.0, 1_030.5, 1_060.0)
    )
    assert rec.probes["new"].starts == pytest.approx(grid("new", 5.0, 1_030.5, 1_060.0))
    await shut(scheduler, loop_task, fake)


async def test_adding_a_known_key_is_an_error(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("k", 10.0))
    with pytest.raises(ValueError, match="replace"):
        scheduler.add(rec.endpoint("k", 10.0))


def test_an_endpoint_needs_a_positive_interval() -> None:
    async def probe() -> float | None:
        return None

    with pytest.raises(ValueError, match="positive"):
        ScheduledEndpoint(key="k", interval_s=0.0, host=None, run=probe)


# -- the loop keeps going ----------------------------------------------------------------------------------------


async def test_a_probe_exception_is_logged_and_the_endpoint_stays_scheduled(
    fake: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("buggy", 10.0, raise_on=frozenset({0, 1})))
    scheduler.add(rec.endpoint("fine", 10.0))
    loop_task = asyncio.create_task(scheduler.run())
    with caplog.at_level(logging.ERROR, logger="probe_agent.agent.scheduler"):
        await fake.run_until(1_050.0)
    assert rec.probes["buggy"].starts == pytest.approx(grid("buggy", 10.0, 1_000.0, 1_050.0))
    assert rec.probes["fine"].starts == pytest.approx(grid("fine", 10.0, 1_000.0, 1_050.0))
    errors = [r for r in caplog.records if "buggy" in r.getMessage()]
    assert len(errors) == 2 and all(r.exc_info and r.exc_info[0] is ValueError for r in errors)
    assert scheduler.snapshot().probe_errors == 2
    await shut(scheduler, loop_task, fake)


@pytest.mark.parametrize("bad", [-1.0, math.nan, "3"])
async def test_a_bad_delay_is_logged_and_the_grid_used(fake: FakeClock, bad: object) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("odd", 10.0, result=lambda n: bad if n == 0 else None))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_030.0)
    assert rec.probes["odd"].starts == pytest.approx(grid("odd", 10.0, 1_000.0, 1_030.0))
    assert scheduler.snapshot().probe_errors == 1
    await shut(scheduler, loop_task, fake)


async def test_the_loop_ticks_while_idle_and_wakes_for_an_earlier_due_time(fake: FakeClock) -> None:
    scheduler = ProbeScheduler(clock=fake, sleep=fake.sleep, heartbeat_s=2.0)
    rec = Recorder(fake, fake.sleep)
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_007.0)
    assert scheduler.last_tick == 1_006.0  # heartbeats at 1000, 1002, 1004, 1006
    lazy = ProbeScheduler(clock=fake, sleep=fake.sleep, heartbeat_s=1e6)
    lazy_task = asyncio.create_task(lazy.run())
    await fake.run_until(1_008.0)
    lazy.add(rec.endpoint("late-comer", 10.0))  # the loop sleeps "forever": add() must wake it
    await fake.run_until(1_030.0)
    assert rec.probes["late-comer"].starts == pytest.approx(grid("late-comer", 10.0, 1_008.0, 1_030.0))
    await shut(scheduler, loop_task, fake)
    await shut(lazy, lazy_task, fake)


# -- stopping --------------------------------------------------------------------------------------------------


async def test_stop_waits_for_the_deadline_then_cancels_a_hung_probe(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    cancelled = asyncio.Event()

    async def hung() -> float | None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    scheduler.add(ScheduledEndpoint(key="hung", interval_s=10.0, host=None, run=hung))
    scheduler.add(rec.endpoint("quick", 10.0, duration=2.0))
    loop_task = asyncio.create_task(scheduler.run())
    t_stop = max(grid("hung", 10.0, 1_000.0, 1_010.0)[0], grid("quick", 10.0, 1_000.0, 1_010.0)[0]) + 0.5
    await fake.run_until(t_stop)
    stopper = asyncio.create_task(scheduler.stop(5.0))
    await fake.run_until(t_stop + 4.9)
    assert loop_task.done() and not stopper.done() and not cancelled.is_set()
    assert len(rec.probes["quick"].finishes) == 1  # finished within the deadline, not cancelled
    await fake.run_until(t_stop + 5.0)
    assert stopper.done() and cancelled.is_set()
    await stopper
    await loop_task
    assert scheduler.snapshot().in_flight == 0


async def test_cancelling_run_cancels_the_probes_in_flight(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("long", 10.0, duration=100.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_011.0)
    assert rec.probes["long"].running == 1
    loop_task.cancel()
    await fake.settle()
    assert loop_task.cancelled()
    assert rec.probes["long"].running == 0
    await fake.run_until(1_300.0)
    assert len(rec.probes["long"].starts) == 1


# -- overload ----------------------------------------------------------------------------------------------------


def keys_by_phase(n: int, interval_s: float) -> list[str]:
    """``n`` keys in the order their first slots come (phases ascending), so a test can cast them in roles."""
    return sorted((f"k{i}" for i in range(n)), key=lambda k: phase_offset(k, interval_s))


async def test_overload_sheds_grid_slots_and_bounds_the_waiting(
    fake: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = ProbeScheduler(
        clock=fake, sleep=fake.sleep, max_concurrency=2, max_waiting=3, stats_log_interval_s=15.0
    )
    gate = asyncio.Event()
    starts: list[tuple[float, str]] = []
    running: Counter[str] = Counter()

    def blocked(key: str) -> ProbeJob:
        async def run() -> float | None:
            starts.append((fake.now, key))
            running[key] += 1
            assert running[key] == 1  # never two probes of one endpoint at once
            try:
                await gate.wait()
            finally:
                running[key] -= 1
            return None

        return run

    keys = keys_by_phase(30, 10.0)
    for key in keys:
        scheduler.add(ScheduledEndpoint(key=key, interval_s=10.0, host=None, run=blocked(key)))
    loop_task = asyncio.create_task(scheduler.run())
    peak = 0
    with caplog.at_level(logging.INFO, logger="probe_agent.agent.scheduler"):
        for step in range(301):  # 30 s in 0.1 s steps, watching the queue all along
            await fake.run_until(min(1_000.0 + 0.1 * step, 1_030.0 - 1e-6))
            peak = max(peak, scheduler.snapshot().waiting)
            assert scheduler.healthy(max_lag_s=2.0)  # overloaded, but the loop keeps time
    stats = scheduler.snapshot()
    assert peak == stats.waiting_peak == stats.waiting == 3  # the bound was reached and never passed
    assert [k for _, k in starts] == keys[:2] and stats.in_flight == 2
    # The 28 others came due three times each in [1000, 1030). Each of those 84 slots was shed, or is one that a
    # probe still waiting has been due for (a waiting probe that newcomers displaced was shed, slots and all).
    waiting_for = sum(len(grid(w.entry.ep.key, 10.0, w.due, 1_030.0 - 1e-6)) for w in scheduler._grid_queue)
    assert stats.shed_slots == stats.skipped_slots and stats.shed_slots + waiting_for == 28 * 3
    assert stats.lateness.max_ms == 0.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("scheduler overloaded")  # the report at 1015
    # Capacity comes back: the queue drains, then every endpoint runs on its grid again.
    waiting_keys = [w.entry.ep.key for w in scheduler._grid_queue]
    gate.set()
    await fake.run_until(1_030.0)
    assert [k for _, k in starts[2:5]] == waiting_keys  # in arrival order
    # With no probe started while blocked, the measured ceiling was 0: the thinning fell to its floor, and it
    # climbs back within ~10 idle seconds; from then on every endpoint runs on its grid again.
    await fake.run_until(1_070.0)
    shed_before = scheduler.snapshot().shed_slots
    await fake.run_until(1_090.0)
    later = Counter(k for t, k in starts if t > 1_070.0)
    assert later == Counter({k: len(grid(k, 10.0, 1_070.0, 1_090.0)) for k in keys})  # nothing shed any more
    assert scheduler.snapshot().shed_slots == shed_before and scheduler.snapshot().waiting == 0
    await shut(scheduler, loop_task, fake)


@pytest.mark.parametrize("demand", [2, 3])
async def test_overload_keeps_the_ceiling_and_spreads_the_shed_slots_evenly(fake: FakeClock, demand: int) -> None:
    """Ten slots, probes of 1 s, 100 x ``demand`` endpoints at 10 s: the demand is ``demand`` times the ceiling of
    10 probes/s. Hand count over 60 intervals after a warm-up of 5: the ceiling runs 6,000 probes, so each endpoint
    runs 60 / ``demand`` times. Even spreading: none below two thirds of that or above it by more than 3, 95 %
    within 3 of it; 90 % of the runs come at most ``demand`` slots after the previous one, none more than twice
    that (a bounded queue alone ran the endpoints in quiet phases every slot and the rest
    one slot in five)."""
    scheduler = ProbeScheduler(clock=fake, sleep=fake.sleep, max_concurrency=10, max_waiting=20)
    starts: dict[str, list[float]] = {}

    def job(key: str) -> ProbeJob:
        async def run() -> float | None:
            starts.setdefault(key, []).append(fake.now)
            await fake.sleep(1.0)
            return None

        return run

    keys = [f"k{i}" for i in range(100 * demand)]
    for key in keys:
        scheduler.add(ScheduledEndpoint(key=key, interval_s=10.0, host=None, run=job(key)))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_050.0)  # warm-up: the thinning finds its fraction
    before = {k: len(starts.get(k, [])) for k in keys}
    await fake.run_until(1_650.0)
    runs = {k: len(starts.get(k, [])) - before[k] for k in keys}
    assert sum(runs.values()) >= 0.97 * 6_000  # the ceiling is kept
    share = 60 // demand
    ordered = sorted(runs.values())
    assert ordered[0] >= 2 * share // 3 and ordered[-1] <= share + 3, str(ordered)  # nobody starved or favoured
    assert ordered[len(ordered) // 20] >= share - 3, ordered  # and 95 % within 3 runs of the fair share
    shed_in_a_row = sorted(
        round((b - a) / 10.0) - 1 for k in keys for a, b in zip(starts[k], starts[k][1:], strict=False) if a > 1_050.0
    )
    assert shed_in_a_row[-1] <= 2 * demand and shed_in_a_row[9 * len(shed_in_a_row) // 10] <= demand, str(
        Counter(shed_in_a_row)
    )
    stats = scheduler.snapshot()
    assert stats.waiting <= 20 and stats.shed_slots == stats.skipped_slots > 0
    await shut(scheduler, loop_task, fake)


async def test_a_grid_probe_waiting_past_its_grace_is_shed(fake: FakeClock) -> None:
    """One slot held for 25 s; a grid probe with a grace of 2 s comes due meanwhile: when the slot frees it has
    waited past its grace, so it is shed (its slots counted) and runs at its next slot instead of late."""
    scheduler = ProbeScheduler(clock=fake, sleep=fake.sleep, max_concurrency=1, max_waiting=5)
    hog_key, late_key = keys_by_phase(2, 10.0)
    starts: list[tuple[float, str]] = []

    def job(key: str, hold_s: float) -> ProbeJob:
        async def run() -> float | None:
            starts.append((fake.now, key))
            await fake.sleep(hold_s)
            return None

        return run

    scheduler.add(ScheduledEndpoint(key=hog_key, interval_s=100.0, host=None, run=job(hog_key, 25.0)))
    scheduler.add(ScheduledEndpoint(key=late_key, interval_s=10.0, host=None, run=job(late_key, 0.0), grace_s=2.0))
    loop_task = asyncio.create_task(scheduler.run())
    hog_start = grid(hog_key, 100.0, 1_000.0, 1_100.0)[0]
    freed = hog_start + 25.0
    first_after = grid(late_key, 10.0, freed, freed + 10.0)[0]
    await fake.run_until(first_after + 0.5)
    late_starts = [t for t, k in starts if k == late_key]
    # Before the hog started, the late endpoint ran on its grid; its first slot after the hog started waited
    # until ``freed`` (past its grace): shed with every slot it waited across; next run at its first slot after.
    expected = [t for t in grid(late_key, 10.0, 1_000.0, first_after) if t < hog_start or t > freed]
    assert late_starts == expected
    stats = scheduler.snapshot()
    assert stats.shed_slots == stats.skipped_slots == len(grid(late_key, 10.0, hog_start, freed))
    await shut(scheduler, loop_task, fake)


async def recheck_scenario(fake: FakeClock, max_waiting: int) -> tuple[ProbeScheduler, list[str], asyncio.Event]:
    """One slot held by ``hog`` (blocked on the returned gate) while grid probes ``g1``..``g3`` come due, then a
    re-check of ``r`` comes due just after ``g3``. Returns at that moment, with the start order so far."""
    scheduler = ProbeScheduler(clock=fake, sleep=fake.sleep, max_concurrency=1, max_waiting=max_waiting)
    gate = asyncio.Event()
    order: list[str] = []
    r_key, hog_key, *g_keys = keys_by_phase(40, 10.0)[:5]
    slot = {key: grid(key, 10.0, 1_000.0, 1_010.0)[0] for key in (r_key, hog_key, *g_keys)}
    assert slot[g_keys[-1]] + 1.0 < slot[hog_key] + 10.0  # all of this happens within the hog's interval
    names = {r_key: "r", hog_key: "hog", **{k: f"g{i + 1}" for i, k in enumerate(g_keys)}}

    def job(key: str) -> ProbeJob:
        async def run() -> float | None:
            order.append(names[key])
            if key == hog_key:
                await gate.wait()
            if key == r_key and order.count("r") == 1:
                return slot[g_keys[-1]] + 0.01 - slot[r_key]  # "suspect": re-check just after g3 is due
            return None

        return run

    for key in names:
        scheduler.add(ScheduledEndpoint(key=key, interval_s=10.0, host=None, run=job(key)))
    return scheduler, order, gate


async def test_a_recheck_displaces_a_waiting_grid_probe_and_runs_first(fake: FakeClock) -> None:
    scheduler, order, gate = await recheck_scenario(fake, max_waiting=2)
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_005.0)
    # g1 and g2 queued behind the hog; g3 found the queue full (shed); then r's re-check took g2's place.
    stats = scheduler.snapshot()
    assert order == ["r", "hog"]
    assert (stats.waiting, stats.waiting_rechecks, stats.waiting_peak) == (2, 1, 2)
    assert stats.shed_slots == stats.skipped_slots == 2
    gate.set()
    await fake.run_until(1_005.5)
    assert order == ["r", "hog", "r", "g1"]  # the re-check first, then the grid probe that waited longest
    assert scheduler.snapshot().waiting == 0
    await shut(scheduler, loop_task, fake)


async def test_a_recheck_queues_even_when_the_queue_is_all_rechecks(fake: FakeClock) -> None:
    scheduler, order, gate = await recheck_scenario(fake, max_waiting=0)
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_005.0)
    stats = scheduler.snapshot()
    # No waiting allowed: g1..g3 were shed, but the re-check is never shed, so it waits past the bound.
    assert (stats.waiting, stats.waiting_rechecks, stats.shed_slots) == (1, 1, 3)
    gate.set()
    await fake.run_until(1_005.5)
    assert order == ["r", "hog", "r"]
    await shut(scheduler, loop_task, fake)


def test_max_waiting_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="max_waiting"):
        ProbeScheduler(max_waiting=-1)


async def test_stop_drops_the_waiting_probes(fake: FakeClock) -> None:
    scheduler, order, _ = await recheck_scenario(fake, max_waiting=2)
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_005.0)
    assert scheduler.snapshot().waiting == 2
    await shut(scheduler, loop_task, fake)  # cancels the hog; the waiting ones never start
    assert order == ["r", "hog"] and scheduler.snapshot().waiting == 0


# -- the real clock ---------------------------------------------------------------------------------------------


def cadence_problems(log: ProbeLog, t0: float, t_end: float, interval_s: float) -> list[str]:
    """What is wrong with a real-clock run of ``interval_s`` from ``t0`` to ``t_end``: a stall or a burst.

    Tolerances allow for a busy shared machine: each gap (including to the first start and after the last one)
    must be within [0.75, 1.5] intervals.
    """
    problems = []
    expected = (t_end - t0) / interval_s
    if not expected - 2 <= len(log.starts) <= expected + 1:
        problems.append(f"{len(log.starts)} starts, expected about {expected:.0f}")
    for a, b in zip(log.starts, log.starts[1:], strict=False):
        if not 0.75 * interval_s <= b - a <= 1.5 * interval_s:
            problems.append(f"gap of {b - a:.3f} s at {a - t0:.3f} s")
    # A stall at either end shows up as a long wait before the first start or after the last one.
    if not log.starts or log.starts[0] - t0 > 1.5 * interval_s or t_end - log.starts[-1] > 1.5 * interval_s:
        problems.append(f"stalled at an end of the run: starts at {[round(x - t0, 3) for x in log.starts]}")
    return problems


async def run_real(
    scheduler: ProbeScheduler, seconds: float, during: Callable[[float], None] | None = None
) -> tuple[float, float]:
    """Run the scheduler for ``seconds`` on the real clock; returns the (start, end) on MONOTONIC."""
    loop_task = asyncio.create_task(scheduler.run())
    t0 = MONOTONIC()
    while (elapsed := MONOTONIC() - t0) < seconds:
        await asyncio.sleep(0.05)
        if during is not None:
            during(elapsed)
    t_end = MONOTONIC()
    await scheduler.stop(1.0)
    await loop_task
    return t0, t_end


@pytest.mark.slow
@pytest.mark.solo  # gaps judged to 0.1 s on the real clock: other workers' CPU would skew them (tests/solo.py)
async def test_real_clock_cadence() -> None:
    scheduler = ProbeScheduler(clock=MONOTONIC)
    rec = Recorder(MONOTONIC, asyncio.sleep)
    for i in range(5):
        scheduler.add(rec.endpoint(f"r{i}", 0.2, duration=0.01))
    t0, t_end = await run_real(scheduler, 2.0)
    for log in rec.probes.values():
        assert cadence_problems(log, t0, t_end, 0.2) == []
    assert scheduler.snapshot().lateness.p99_ms is not None


def wall_steps(traveller: time_machine.Traveller, log: list[tuple[float, float]]) -> Callable[[float], None]:
    """Steps the wall clock +1 h at 0.6 s and -1 h (to an hour before real time) at 1.2 s."""
    done: set[str] = set()

    def step(elapsed: float) -> None:
        if elapsed >= 0.6 and "fwd" not in done:
            done.add("fwd")
            log.append((time.time(), MONOTONIC()))
            traveller.shift(3600)
            log.append((time.time(), MONOTONIC()))
        if elapsed >= 1.2 and "back" not in done:
            done.add("back")
            traveller.shift(-7200)
            log.append((time.time(), MONOTONIC()))

    return step


@pytest.mark.slow
@pytest.mark.solo  # gaps judged to 0.1 s on the real clock: other workers' CPU would skew them (tests/solo.py)
async def test_wall_clock_steps_neither_stall_nor_burst_probes() -> None:
    scheduler = ProbeScheduler(clock=MONOTONIC)
    rec = Recorder(MONOTONIC, asyncio.sleep)
    for i in range(5):
        scheduler.add(rec.endpoint(f"w{i}", 0.2))
    seen: list[tuple[float, float]] = []
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        t0, t_end = await run_real(scheduler, 2.0, during=wall_steps(traveller, seen))
    # The seam is honest: the wall clock did jump both ways while the scheduler's clock did not.
    (wall0, mono0), (wall1, mono1), (wall2, mono2) = seen
    assert wall1 - wall0 == pytest.approx(3600, abs=1) and mono1 - mono0 < 0.5
    assert wall2 - wall1 < -3590 and 0 <= mono2 - mono1 < 1.5
    for log in rec.probes.values():
        assert cadence_problems(log, t0, t_end, 0.2) == []


@pytest.mark.slow
async def test_the_clock_step_check_catches_a_wall_clock_scheduler() -> None:
    """The same run with the wall clock injected stalls: the assertions above would fail for it."""
    scheduler = ProbeScheduler(clock=time.time)
    rec = Recorder(MONOTONIC, asyncio.sleep)
    scheduler.add(rec.endpoint("wall", 0.2))
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        t0, t_end = await run_real(scheduler, 2.0, during=wall_steps(traveller, []))
    assert cadence_problems(rec.probes["wall"], t0, t_end, 0.2) != []


async def test_a_stop_before_run_makes_run_return_at_once(fake: FakeClock) -> None:
    scheduler, rec = make(fake)
    scheduler.add(rec.endpoint("never", 10.0))
    await scheduler.stop(1.0)
    await asyncio.wait_for(scheduler.run(), timeout=1.0)
    assert rec.probes["never"].starts == []


async def test_stats_are_logged_periodically(fake: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    scheduler = ProbeScheduler(clock=fake, sleep=fake.sleep, stats_log_interval_s=30.0)
    rec = Recorder(fake, fake.sleep)
    scheduler.add(rec.endpoint("logged", 10.0))
    loop_task = asyncio.create_task(scheduler.run())
    with caplog.at_level(logging.INFO, logger="probe_agent.agent.scheduler"):
        await fake.run_until(1_095.0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("scheduler:")]
    assert len(lines) == 3  # at 1030, 1060, 1090
    assert "lateness p50 0.0 ms, p99 0.0 ms" in lines[-1]
    assert scheduler.stats()["lateness_p99_ms"] == 0.0
    await shut(scheduler, loop_task, fake)


async def test_flat_stats_and_health(fake: FakeClock) -> None:
    scheduler, rec = make(fake, max_concurrency=3)
    empty = scheduler.stats()
    assert empty["lateness_samples"] == 0 and empty["lateness_p50_ms"] == 0.0
    assert set(empty) == {
        "endpoints", "dispatched", "in_flight", "waiting", "max_in_flight", "skipped_slots", "probe_errors",
        *(f"{n}_{part}" for n in ("lateness", "queue_wait") for part in ("samples", "p50_ms", "p99_ms", "max_ms")),
        "max_waiting", "waiting_rechecks", "waiting_peak", "shed_slots",
        *(f"start_lateness_{part}" for part in ("samples", "p50_ms", "p99_ms", "max_ms")),
    }  # fmt: skip
    assert empty["max_waiting"] == 6  # the default: 2 x max_concurrency
    assert not scheduler.healthy(max_lag_s=5.0)  # not running yet
    scheduler.add(rec.endpoint("h", 10.0))
    loop_task = asyncio.create_task(scheduler.run())
    await fake.run_until(1_020.5)
    assert scheduler.healthy(max_lag_s=5.0)
    assert (
        scheduler.stats()["dispatched"] == len(grid("h", 10.0, 1_000.0, 1_020.5))
        and scheduler.stats()["endpoints"] == 1
    )
    fake.now += 10.0  # time passes but the loop does not get to run: a stalled loop
    assert not scheduler.healthy(max_lag_s=5.0)
    await shut(scheduler, loop_task, fake)
    assert not scheduler.healthy(max_lag_s=1e9)  # stopped
