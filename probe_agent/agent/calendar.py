"""Calendar jobs (hourly rollups, retention pruning, housekeeping, cycle close) on APScheduler 3.x.

The only module that imports apscheduler. APScheduler computes fire times from the wall clock in a time zone, which
is what calendar jobs want ("05 past every hour", "03:30 local"); probes never run here (see ``scheduler.py``).

Every job is added with ``coalesce=True`` (runs missed while the loop was busy, the machine slept or the wall clock
stepped forward run once, not in a burst), ``max_instances=1`` (a slow run is never overlapped by the next one) and
``misfire_grace_time=None`` by default (a late calendar job still runs, however late: a rollup or a cycle close
must not be skipped silently). A job's exception is logged with its traceback; the job stays scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

logger = logging.getLogger(__name__)

CalendarJob = Callable[[], Awaitable[None]]


class CalendarJobs:
    """A named set of calendar jobs bound to the running asyncio loop.

    ``timezone`` is the zone cron-style jobs are read in (``add_hourly``, ``add_daily``); UTC unless given.
    ``misfire_grace_s`` is how late (seconds) a run may start and still run; ``None`` means always run.
    """

    def __init__(self, *, timezone: tzinfo = UTC, misfire_grace_s: int | None = None) -> None:
        if misfire_grace_s is not None and misfire_grace_s <= 0:
            raise ValueError("misfire_grace_s must be a positive number of seconds or None")
        self._timezone = timezone
        self._scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_s},
        )
        self._running_jobs: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._started = False

    def add_hourly(self, name: str, job: CalendarJob, *, minute: int = 5) -> None:
        """Run ``job`` every hour at ``minute`` past (0-59). A name already in use is replaced."""
        self._add(name, job, CronTrigger(minute=minute, timezone=self._timezone))

    def add_daily(self, name: str, job: CalendarJob, *, hour: int, minute: int = 0) -> None:
        """Run ``job`` every day at ``hour:minute`` local time in the scheduler's zone.

        On DST days APScheduler's cron rules apply: a time skipped by a spring-forward gap does not run that day;
        a time repeated in autumn runs once.
        """
        self._add(name, job, CronTrigger(hour=hour, minute=minute, timezone=self._timezone))

    def add_interval(self, name: str, job: CalendarJob, *, seconds: float) -> None:
        """Run ``job`` every ``seconds`` (wall clock), first one interval from now."""
        if not seconds > 0:
            raise ValueError(f"interval job {name!r}: seconds must be positive, got {seconds!r}")
        self._add(name, job, IntervalTrigger(seconds=seconds, timezone=self._timezone))

    def remove(self, name: str) -> None:
        """Remove a job by name; an unknown name is ignored. A run in progress finishes."""
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def next_run_times(self) -> dict[str, datetime | None]:
        """Each job's next fire time (aware, in the scheduler's zone); ``None`` when paused or not started."""
        return {job.id: getattr(job, "next_run_time", None) for job in self._scheduler.get_jobs()}

    def start(self) -> None:
        """Start firing jobs. Must be called from the running event loop (the scheduler binds to it)."""
        asyncio.get_running_loop()  # raises RuntimeError outside a loop, before APScheduler does something odd
        self._closing = False
        self._scheduler.start()
        self._started = True

    async def stop(self, deadline_s: float = 10.0) -> None:
        """Stop firing; wait up to ``deadline_s`` for runs in progress, then :meth:`shutdown` (which cancels the
        rest) and let the cancelled runs unwind. Safe to call when never started or already stopped."""
        if not self._started:
            return
        self._scheduler.pause()
        running = set(self._running_jobs)
        if running:
            await asyncio.wait(running, timeout=deadline_s)
        late = {task for task in self._running_jobs if not task.done()}
        for task in late:
            logger.warning("calendar job %s still running after %.1f s: cancelling it", task.get_name(), deadline_s)
        self.shutdown()
        await asyncio.gather(*late, return_exceptions=True)
        # AsyncIOScheduler.shutdown only schedules its work on the loop (call_soon_threadsafe): let it happen, so
        # its timer is gone before our caller closes the loop.
        for _ in range(100):
            if not self._scheduler.running:
                break
            await asyncio.sleep(0)

    def shutdown(self) -> None:
        """Stop at once: no more runs, runs in progress cancelled (they end quietly). Callable without awaiting
        (APScheduler finishes on the loop's next iteration); prefer :meth:`stop` to let running jobs finish.
        Safe to call when never started or already shut down."""
        if not self._started:
            return
        self._started = False
        self._closing = True
        for task in list(self._running_jobs):
            task.cancel()
        self._scheduler.shutdown(wait=False)

    def _add(self, name: str, job: CalendarJob, trigger: Any) -> None:
        self._scheduler.add_job(self._guarded(name, job), trigger=trigger, id=name, name=name, replace_existing=True)

    def _guarded(self, name: str, job: CalendarJob) -> Callable[[], Awaitable[None]]:
        async def run_guarded() -> None:
            task = asyncio.current_task()
            if task is not None:
                task.set_name(f"calendar:{name}")
                self._running_jobs.add(task)
            started = time.monotonic()
            try:
                await job()
            except asyncio.CancelledError:
                if self._closing:
                    # Our own shutdown cancelled it; ending quietly keeps APScheduler from logging it as a crash.
                    return
                raise
            except Exception:
                logger.exception("calendar job %s failed; it stays scheduled", name)
            else:
                logger.debug("calendar job %s done in %.3f s", name, time.monotonic() - started)
            finally:
                if task is not None:
                    self._running_jobs.discard(task)

        return run_guarded
