"""Calendar jobs on APScheduler 3: they fire in a real loop, survive exceptions, never overlap, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from probe_agent.agent.calendar import CalendarJobs


async def test_an_interval_job_fires_repeatedly_and_shuts_down_cleanly() -> None:
    jobs = CalendarJobs()
    fired: list[float] = []

    async def tick() -> None:
        fired.append(asyncio.get_running_loop().time())

    jobs.add_interval("tick", tick, seconds=0.1)
    jobs.start()
    await asyncio.sleep(0.55)
    await jobs.stop(deadline_s=1.0)
    count = len(fired)
    assert 3 <= count <= 6
    await asyncio.sleep(0.3)
    assert len(fired) == count  # nothing fires after shutdown
    await jobs.stop()  # a second stop is harmless
    jobs.shutdown()


async def test_a_failing_job_is_logged_and_keeps_its_schedule(caplog: pytest.LogCaptureFixture) -> None:
    jobs = CalendarJobs()
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("rollup bug")

    jobs.add_interval("broken", broken, seconds=0.1)
    with caplog.at_level(logging.ERROR, logger="probe_agent.agent.calendar"):
        jobs.start()
        await asyncio.sleep(0.45)
        await jobs.stop()
    assert calls >= 3
    failures = [r for r in caplog.records if r.name == "probe_agent.agent.calendar"]
    assert len(failures) == calls
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)


async def test_a_slow_job_never_overlaps_itself() -> None:
    jobs = CalendarJobs()
    running = 0
    max_running = 0
    runs = 0

    async def slow() -> None:
        nonlocal running, max_running, runs
        running += 1
        runs += 1
        max_running = max(max_running, running)
        try:
            await asyncio.sleep(0.25)  # 2.5 intervals
        finally:
            running -= 1

    jobs.add_interval("slow", slow, seconds=0.1)
    jobs.start()
    await asyncio.sleep(0.8)
    await jobs.stop(deadline_s=1.0)
    assert runs >= 2
    assert max_running == 1


async def test_stop_cancels_a_hung_job_after_the_deadline() -> None:
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

    jobs.add_interval("hung", hung, seconds=0.05)
    jobs.start()
    await asyncio.wait_for(started.wait(), timeout=2.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await jobs.stop(deadline_s=0.2)
    assert cancelled.is_set()
    assert 0.15 <= loop.time() - t0 < 1.0


async def test_shutdown_without_await_cancels_running_jobs_quietly(caplog: pytest.LogCaptureFixture) -> None:
    jobs = CalendarJobs()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def busy() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    jobs.add_interval("busy", busy, seconds=0.05)
    with caplog.at_level(logging.WARNING):
        jobs.start()
        await asyncio.wait_for(started.wait(), timeout=2.0)
        jobs.shutdown()
        await asyncio.sleep(0.2)
    assert cancelled.is_set()
    assert jobs.next_run_times() == {}
    # APScheduler did not see a crash: our own shutdown's cancellation ends the job quietly.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_cron_jobs_fire_at_their_wall_clock_times() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    jobs = CalendarJobs(timezone=berlin)

    async def nothing() -> None:
        return None

    jobs.add_hourly("rollup", nothing, minute=5)
    jobs.add_daily("retention", nothing, hour=3, minute=30)
    jobs.start()
    try:
        before = datetime.now(UTC)
        nxt = jobs.next_run_times()
        rollup, retention = nxt["rollup"], nxt["retention"]
        assert rollup is not None and retention is not None
        assert rollup.minute == 5 and rollup.second == 0
        assert timedelta(0) < rollup - before <= timedelta(hours=1)
        local = retention.astimezone(berlin)
        assert (local.hour, local.minute) == (3, 30)
        assert timedelta(0) < retention - before <= timedelta(days=1)
    finally:
        await jobs.stop()


async def test_replace_and_remove_by_name() -> None:
    jobs = CalendarJobs()
    seen: list[str] = []

    async def first() -> None:
        seen.append("first")

    async def second() -> None:
        seen.append("second")

    jobs.add_interval("job", first, seconds=0.1)
    jobs.add_interval("job", second, seconds=0.1)  # same name: replaces
    jobs.start()
    await asyncio.sleep(0.25)
    jobs.remove("job")
    jobs.remove("unknown")
    count = len(seen)
    await asyncio.sleep(0.25)
    await jobs.stop()
    assert seen and set(seen) == {"second"}
    assert len(seen) == count
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
