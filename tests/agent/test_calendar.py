"""Calendar jobs on APScheduler 3 on a fake wall clock: they fire when due, survive exceptions, never overlap, shut down
cleanly.

APScheduler reads due times from ``datetime.now`` (the wall clock), which ``time_machine`` holds still (``tick=False``)
and moves by exactly what each test says. ``due()`` moves it and asks the scheduler to look at once (its own
wake-up, which its timer on the event loop would also call): a job fires because the clock says it is due, never
because the test slept long enough, so the counts below are exact. The event loop and its monotonic clock run on
(time_machine leaves ``time.monotonic`` alone); only ``stop``'s deadline is measured on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from probe_agent.agent.calendar import CalendarJobs

START = datetime(2026, 10, 24, 12, 34, 0, tzinfo=UTC)  # a Saturday; Berlin leaves summer time the next night


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


async def settle() -> None:
    """Let the loop run what the scheduler queued: its wake-up, the job tasks it created, their completion."""
    for _ in range(20):
        await asyncio.sleep(0)


async def due(jobs: CalendarJobs, clock: time_machine.Coordinates, seconds: float) -> None:
    """Move the wall clock ``seconds`` on and let the scheduler fire what is due by then."""
    clock.shift(timedelta(seconds=seconds))
    jobs._scheduler.wakeup()  # what its timer calls; the timer itself waits on the real loop clock
    await settle()


async def test_an_interval_job_fires_once_per_interval_and_not_after_stop(clock: time_machine.Coordinates) -> None:
    jobs = CalendarJobs()
    fired: list[datetime] = []

    async def tick() -> None:
        fired.append(datetime.now(UTC))

    jobs.add_interval("tick", tick, seconds=10)
    jobs.start()
    await due(jobs, clock, 9.999)
    assert fired == []  # the first run is one interval after the start
    for _ in range(5):
        await due(jobs, clock, 10)
    assert fired == [START + timedelta(seconds=10 * k + 9.999) for k in range(1, 6)]
    await jobs.stop(deadline_s=1.0)
    clock.shift(timedelta(seconds=60))
    await settle()
    assert len(fired) == 5  # nothing fires after shutdown
    await jobs.stop()  # a second stop is harmless
    jobs.shutdown()


async def test_missed_runs_are_coalesced_into_one(clock: time_machine.Coordinates) -> None:
    """The loop was busy, the machine slept or the wall clock stepped forward over 10 runs: one run, not a burst."""
    jobs = CalendarJobs()
    fired = 0

    async def tick() -> None:
        nonlocal fired
        fired += 1

    jobs.add_interval("tick", tick, seconds=10)
    jobs.start()
    await due(jobs, clock, 105)
    assert fired == 1
    await due(jobs, clock, 10)
    assert fired == 2
    await jobs.stop()


async def test_a_failing_job_is_logged_and_keeps_its_schedule(
    clock: time_machine.Coordinates, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = CalendarJobs()
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("rollup bug")

    jobs.add_interval("broken", broken, seconds=10)
    with caplog.at_level(logging.ERROR, logger="probe_agent.agent.calendar"):
        jobs.start()
        for _ in range(3):
            await due(jobs, clock, 10)
        await jobs.stop()
    assert calls == 3
    failures = [r for r in caplog.records if r.name == "probe_agent.agent.calendar"]
    assert len(failures) == 3
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)
    assert all(r.getMessage() == "calendar job broken failed; it stays scheduled" for r in failures)


async def test_a_slow_job_never_overlaps_itself(clock: time_machine.Coordinates) -> None:
    jobs = CalendarJobs()
    release = asyncio.Event()
    running = 0
    max_running = 0
    runs = 0

    async def slow() -> None:
        nonlocal running, max_running, runs
        running += 1
        runs += 1
        max_running = max(max_running, running)
        try:
            await release.wait()
        finally:
            running -= 1

    jobs.add_interval("slow", slow, seconds=10)
    jobs.start()
    for _ in range(3):  # due three times while the first run is still going
        await due(jobs, clock, 10)
    assert (runs, running) == (1, 1)
    release.set()
    await settle()
    assert running == 0
    await due(jobs, clock, 10)  # once it finished, the next due time runs it again
    assert runs == 2 and max_running == 1
    await jobs.stop(deadline_s=1.0)


async def test_stop_cancels_a_hung_job_after_the_deadline(clock: time_machine.Coordinates) -> None:
    jobs = CalendarJobs()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hung() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    jobs.add_interval("hung", hung, seconds=10)
    jobs.start()
    await due(jobs, clock, 10)
    assert started.is_set()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await jobs.stop(deadline_s=0.2)
    assert cancelled.is_set()
    assert 0.15 <= loop.time() - t0 < 5.0  # it waited for the deadline (loop time), then cancelled


async def test_shutdown_without_await_cancels_running_jobs_quietly(
    clock: time_machine.Coordinates, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = CalendarJobs()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def busy() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    jobs.add_interval("busy", busy, seconds=10)
    with caplog.at_level(logging.WARNING):
        jobs.start()
        await due(jobs, clock, 10)
        assert started.is_set()
        jobs.shutdown()
        await settle()
    assert cancelled.is_set()
    assert jobs.next_run_times() == {}
    # APScheduler did not see a crash: our own shutdown's cancellation ends the job quietly.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_cron_jobs_fire_at_their_wall_clock_times_across_the_dst_change(clock: time_machine.Coordinates) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    jobs = CalendarJobs(timezone=berlin)
    fired: list[tuple[str, datetime]] = []

    def record(name: str) -> object:
        async def job() -> None:
            fired.append((name, datetime.now(UTC)))

        return job

    jobs.add_hourly("rollup", record("rollup"), minute=5)  # type: ignore[arg-type]
    jobs.add_daily("retention", record("retention"), hour=3, minute=30)  # type: ignore[arg-type]
    jobs.start()
    try:
        nxt = jobs.next_run_times()
        # 12:34 UTC is 14:34 in Berlin (CEST): the next :05 is 15:05 CEST = 13:05 UTC. 03:30 on Sunday Oct 25 comes
        # after the clocks went back from 03:00 CEST to 02:00 CET: 03:30 CET = 02:30 UTC (25 h after 01:30 UTC
        # Saturday, not 24).
        assert nxt["rollup"] == datetime(2026, 10, 24, 13, 5, tzinfo=UTC)
        assert nxt["retention"] == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
        await due(jobs, clock, (datetime(2026, 10, 24, 13, 5, tzinfo=UTC) - START).total_seconds())
        assert fired == [("rollup", datetime(2026, 10, 24, 13, 5, tzinfo=UTC))]
        await due(jobs, clock, timedelta(hours=13, minutes=25).total_seconds())  # to 02:30 UTC on Sunday
        assert [name for name, _ in fired] == ["rollup", "rollup", "retention"]  # the missed :05s coalesced
        assert fired[-1] == ("retention", datetime(2026, 10, 25, 2, 30, tzinfo=UTC))
    finally:
        await jobs.stop()


async def test_replace_and_remove_by_name(clock: time_machine.Coordinates) -> None:
    jobs = CalendarJobs()
    seen: list[str] = []

    async def first() -> None:
        seen.append("first")

    async def second() -> None:
        seen.append("second")

    jobs.add_interval("job", first, seconds=10)
    jobs.add_interval("job", second, seconds=10)  # same name: replaces
    jobs.start()
    await due(jobs, clock, 10)
    await due(jobs, clock, 10)
    jobs.remove("job")
    jobs.remove("unknown")
    await settle()
    await due(jobs, clock, 10)
    await jobs.stop()
    assert seen == ["second", "second"]
    assert jobs.next_run_times() == {}


def test_start_outside_a_loop_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        CalendarJobs().start()


@pytest.mark.parametrize("bad", [0, -1.0])
def test_an_interval_must_be_positive(bad: float) -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="positive"):
        CalendarJobs().add_interval("x", nothing, seconds=bad)


def test_misfire_grace_must_be_positive_or_none() -> None:
    with pytest.raises(ValueError, match="positive"):
        CalendarJobs(misfire_grace_s=0)
