"""The probe scheduler: a heap of due times on the monotonic clock, one asyncio task per running probe.

Why not APScheduler for probes: it computes fire times from the wall clock, so a wall-clock step would stall or
burst every endpoint at once. Here the only clock read is the injected monotonic ``clock``; the wall clock is never
consulted (calendar jobs live in ``calendar.py``).

Rules, in the scheduler's own time line (seconds of the injected clock):
- Each endpoint has a grid: slots at ``phase + k * interval_s`` for integer ``k``, anchored at 0 of the clock, so
  the grid is the same for every scheduler in the process and across reloads. ``phase`` comes from a stable hash of
  the endpoint key (:func:`phase_offset`), which spreads endpoints over the interval: no thundering herd at start-up.
- A new endpoint first runs at the first slot at or after the moment it is added (so up to one interval later).
- A probe that returns ``None`` is next run at the first slot strictly after it *finished*; slots passed while it ran
  (or while the loop itself was late) are coalesced: counted in ``skipped_slots``, never run back-to-back.
- A probe that returns a delay ``d`` (seconds) is next run at ``finish + d`` (re-checks while suspect or down).
- One endpoint never has two probes at once: the next run is only scheduled when the previous one has finished.
- Concurrency: at most ``per_host_limit`` probes per host (endpoints with ``host=None`` are exempt) and at most
  ``max_concurrency`` in all. The loop takes both slots when it dispatches; a due probe whose slots are taken
  waits in a queue (a record, not a task) and starts when a probe finishing frees them; that wait is measured
  apart from lateness. Waiting re-checks start before waiting grid probes; within each, first come first served
  (a probe whose host is full lets later ones for other hosts pass).
- Overload: at most ``max_waiting`` probes wait at once. Past the ceiling, waiting without a bound only made
  every probe late and the process slower (the queue grew without end), so a grid probe that comes due while the
  queue is full is shed: not dispatched, coalesced like an overrun slot (counted in ``skipped_slots`` and in
  ``shed_slots``), the endpoint moves to its next grid slot. Throughput stays at the ceiling, start lateness
  stays near ``max_waiting`` / ceiling, and the shed slots show the overload (the stats log warns; the daemon
  opens an ``agent_impaired`` episode, ``schedule_lagging``). The time of a shed slot is ``no_data`` by the fold's
  own rule: no result speaks for it.
- Shedding is spread evenly: a grid probe finding the queue full takes the place of the waiting grid probe whose
  endpoint's last probe started most recently, counted in each one's own intervals (the newest among equals), if
  its own started longer ago; else it is shed itself. So the endpoints that have waited longest get the slots, none
  starves, and at 2x the ceiling every endpoint runs about every other slot.
- A grid probe still waiting ``grace_s`` (the endpoint's grace) after its due time is shed when it would start:
  the previous result's coverage has already lapsed, and a start that late would only make the next slot late too.
- Re-checks confirm (or clear) an outage, so they are never shed: a re-check due while the queue is full takes
  the place of the newest waiting grid probe (which is shed as above); when every waiting probe is a re-check, it
  queues anyway. That is the only way past ``max_waiting``, and it is bounded: one pending probe per endpoint.
- Lateness = dispatch time - due time; queue wait = start - dispatch; start lateness = start - due (the figure to
  watch under load: the delay a probe sees). Each is kept for the last ``stats_window`` probes and logged every
  ``stats_log_interval_s`` (``scheduler_stats.py``).
- An exception from a probe is a bug: logged with its traceback; the endpoint goes back to its grid.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from probe_agent.agent.grid import Entry, ProbeJob, ScheduledEndpoint, phase_offset
from probe_agent.agent.scheduler_stats import Percentiles, SchedulerStats
from probe_agent.agent.thinning import Thinning

# Re-exported: the grid's types are part of the scheduler's interface (and ``SchedulerStats`` of its snapshot).
__all__ = ["Clock", "ProbeJob", "ProbeScheduler", "ScheduledEndpoint", "SchedulerStats", "Sleep", "phase_offset"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Waiter:
    """One dispatched probe that has not started: what it needs to start, and when it was dispatched."""

    __slots__ = ("dispatched_at", "due", "entry", "on_grid")

    def __init__(self, entry: Entry, due: float, on_grid: bool, dispatched_at: float) -> None:
        self.entry = entry
        self.due = due
        self.on_grid = on_grid
        self.dispatched_at = dispatched_at


class ProbeScheduler:
    """Runs each endpoint's probe on its grid; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        max_concurrency: int = 100,
        per_host_limit: int = 4,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        heartbeat_s: float = 1.0,
        stats_log_interval_s: float = 60.0,
        stats_window: int = 10_000,
        max_waiting: int | None = None,
    ) -> None:
        """``heartbeat_s`` bounds how long the loop sleeps when nothing is due, so ``last_tick`` stays fresh for
        the daemon's watchdog. ``clock`` must be monotonic; ``sleep`` must sleep on that same clock.
        ``max_waiting`` bounds the probes waiting for a concurrency slot (default ``2 * max_concurrency``; 0 means
        a grid probe either starts at once or is shed)."""
        if max_concurrency < 1 or per_host_limit < 1:
            raise ValueError("concurrency limits must be at least 1")
        if max_waiting is None:
            max_waiting = 2 * max_concurrency
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be at least 0, got {max_waiting!r}")
        self._clock = clock
        self._sleep = sleep
        self._heartbeat_s = heartbeat_s
        self._stats_log_interval_s = stats_log_interval_s
        self._per_host_limit = per_host_limit
        self._max_concurrency = max_concurrency
        self._max_waiting = max_waiting
        # Slots are counted by the loop itself, not semaphores: a probe is only made a task once it holds them.
        self._slots_taken = 0
        self._host_slots_taken: dict[str, int] = {}  # hosts with no probe started are absent
        self._recheck_queue: deque[_Waiter] = deque()
        self._grid_queue: deque[_Waiter] = deque()
        self._entries: dict[str, Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []  # (due, sequence, key, generation)
        self._sequence = 0
        self._tasks: set[asyncio.Task[float | None]] = set()
        # Keyed by endpoint key, not entry: a key removed and added again while its probe runs must still wait.
        # The value is the probe's task once started, its queue record while it waits.
        self._running_keys: dict[str, asyncio.Task[float | None] | _Waiter] = {}
        self._sleeper: asyncio.Future[None] | None = None
        self._sleeping_until = math.inf
        self._running = False
        self._stopping = False
        self._last_tick = clock()
        self._lateness_s: deque[float] = deque(maxlen=stats_window)
        self._queue_wait_s: deque[float] = deque(maxlen=stats_window)
        self._start_lateness_s: deque[float] = deque(maxlen=stats_window)
        self._thinning = Thinning()
        self._dispatched = 0
        self._in_flight = 0
        self._waiting_peak = 0
        self._max_in_flight = 0
        self._skipped_slots = 0
        self._shed_slots = 0
        self._shed_slots_logged = 0
        self._probe_errors = 0

    # -- endpoints -------------------------------------------------------------------------------------------

    def add(self, ep: ScheduledEndpoint) -> None:
        """Schedule a new endpoint at the first slot of its grid at or after now. A known key is a ValueError."""
        if ep.key in self._entries:
            raise ValueError(f"endpoint {ep.key!r} is already scheduled; use replace()")
        entry = Entry(ep)
        self._entries[ep.key] = entry
        self._thinning.demand_per_s += 1.0 / ep.interval_s
        self._push(entry, entry.slot_after(self._clock(), strictly=False), on_grid=True)

    def remove(self, key: str) -> None:
        """Stop scheduling ``key``. A probe already running finishes; one still waiting for a slot does not run.
        An unknown key is ignored."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.generation += 1
            self._thinning.demand_per_s = max(self._thinning.demand_per_s - 1.0 / entry.ep.interval_s, 0.0)
        waiter = self._running_keys.get(key)
        if isinstance(waiter, _Waiter):
            (self._grid_queue if waiter.on_grid else self._recheck_queue).remove(waiter)
            del self._running_keys[key]

    def replace(self, ep: ScheduledEndpoint) -> None:
        """Reload one endpoint (adds it if unknown). With the same interval its schedule is kept as is; with a new
        interval it moves to the new grid (same phase fraction) from now on. A pending re-check keeps its time,
        and a running probe is never interrupted: the new settings apply from its next run."""
        entry = self._entries.get(ep.key)
        if entry is None:
            self.add(ep)
            return
        old_interval = entry.ep.interval_s
        entry.ep = ep
        self._thinning.demand_per_s += 1.0 / ep.interval_s - 1.0 / old_interval
        if ep.interval_s == old_interval:
            return
        entry.phase = phase_offset(ep.key, ep.interval_s)
        if ep.key not in self._running_keys and entry.on_grid:
            self._push(entry, entry.slot_after(self._clock(), strictly=False), on_grid=True)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    # -- the loop --------------------------------------------------------------------------------------------

    @property
    def last_tick(self) -> float:
        """Clock time at which the loop last ran (at most ``heartbeat_s`` ago while it keeps time)."""
        return self._last_tick

    async def run(self) -> None:
        """Dispatch due probes until :meth:`stop`. Cancelling it cancels the probes in flight too.

        A stopped scheduler stays stopped (``run()`` returns at once, also when ``stop()`` came first, e.g. a
        signal during start-up): build a new one to start again.
        """
        if self._running:
            raise RuntimeError("the scheduler is already running")
        self._running = True
        next_log = self._clock() + self._stats_log_interval_s
        try:
            while not self._stopping:
                now = self._clock()
                self._last_tick = now
                self._thinning.adjust(now)
                self._dispatch_due(now)
                if now >= next_log:
                    self._log_stats()
                    next_log = now + self._stats_log_interval_s
                wake_at = min(now + self._heartbeat_s, next_log)
                if self._heap:
                    wake_at = min(wake_at, self._heap[0][0])
                await self._sleep_until(wake_at, now)
        except asyncio.CancelledError:
            self._stopping = True
            self._drop_waiting()
            for task in list(self._tasks):
                task.cancel()
            raise
        finally:
            self._running = False

    async def stop(self, deadline_s: float) -> None:
        """Stop dispatching; wait up to ``deadline_s`` (on the scheduler's clock) for probes in flight, then cancel
        the rest and wait for them to unwind. ``run()`` returns promptly."""
        self._stopping = True
        self._drop_waiting()
        self._wake()
        tasks = set(self._tasks)
        if not tasks:
            return
        all_done: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
        timer: asyncio.Future[Any] = asyncio.ensure_future(self._sleep(max(deadline_s, 0.0)))
        try:
            await asyncio.wait({all_done, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not all_done.done():
            unfinished = [task for task in tasks if not task.done()]
            logger.warning("stop: cancelling %d probe(s) still running after %.1f s", len(unfinished), deadline_s)
            for task in unfinished:
                task.cancel()
        await all_done

    async def _sleep_until(self, wake_at: float, now: float) -> None:
        """Sleep until ``wake_at`` unless :meth:`_wake` cuts it short (an earlier due time was pushed)."""
        self._sleeping_until = wake_at
        self._sleeper = asyncio.ensure_future(self._sleep(max(wake_at - now, 0.0)))
        try:
            await self._sleeper
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # Our own wake-up cancels only the sleeper; a cancellation of run() itself must propagate.
            if current is not None and current.cancelling():
                raise
        finally:
            self._sleeper = None
            self._sleeping_until = math.inf

    def _wake(self) -> None:
        if self._sleeper is not None and not self._sleeper.done():
            self._sleeper.cancel()

    def _push(self, entry: Entry, due: float, *, on_grid: bool) -> None:
        entry.generation += 1
        entry.on_grid = on_grid
        self._sequence += 1
        heapq.heappush(self._heap, (due, self._sequence, entry.ep.key, entry.generation))
        if due < self._sleeping_until:
            self._wake()

    def _dispatch_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, _, key, generation = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue  # removed or rescheduled since this item was pushed
            if key in self._running_keys:
                # Only after remove() + add() while the old probe still runs: never two at once, so coalesce.
                self._skipped_slots += 1
                self._push(entry, entry.slot_after(now, strictly=True), on_grid=True)
                continue
            if entry.on_grid and self._thinning.keep < 1.0:
                run, entry.credit = self._thinning.admit(entry.credit)
                if not run:
                    if self._slots_taken < self._max_concurrency and not self._grid_queue:
                        self._thinning.note_idle()  # thinned with a slot free: the thinning may ease
                    self._shed(entry, due, now, overflow=False)
                    continue
            waiter = _Waiter(entry, due, entry.on_grid, now)
            if self._slots_free(entry.ep.host):
                self._start(waiter)
            elif not self._enqueue(waiter, now):
                self._shed(entry, due, now)
                continue
            self._lateness_s.append(max(now - due, 0.0))
            self._dispatched += 1

    def _drop_waiting(self) -> None:
        """Forget every waiting probe (on stop: they have not started, so there is nothing to wait for)."""
        for queue in (self._recheck_queue, self._grid_queue):
            for waiter in queue:
                del self._running_keys[waiter.entry.ep.key]
            queue.clear()

    # -- concurrency slots and the waiting queue -----------------------------------------------------------------

    def _slots_free(self, host: str | None) -> bool:
        if self._slots_taken >= self._max_concurrency:
            return False
        return host is None or self._host_slots_taken.get(host, 0) < self._per_host_limit

    def _enqueue(self, waiter: _Waiter, now: float) -> bool:
        """Queue a due probe for a slot; False (nothing queued) for a grid probe that loses its place when the
        queue is full: see the module docstring's overload rules."""
        if len(self._grid_queue) + len(self._recheck_queue) >= self._max_waiting:
            if waiter.on_grid:
                if not self._grid_queue:
                    return False

                # Fairness: the waiting grid probe whose endpoint ran most recently, in its own intervals (the
                # newest among equals), gives way to a newcomer that ran longer ago, so the shed slots go round.
                def ran_ago(w: _Waiter) -> float:
                    return (now - w.entry.last_start) / w.entry.ep.interval_s

                weakest = min(reversed(self._grid_queue), key=ran_ago)
                if ran_ago(waiter) <= ran_ago(weakest):
                    return False
                self._grid_queue.remove(weakest)
                del self._running_keys[weakest.entry.ep.key]
                self._shed(weakest.entry, weakest.due, now)
            elif self._grid_queue:
                # A re-check confirms an outage: it takes the place of the newest waiting grid probe.
                evicted = self._grid_queue.pop()
                del self._running_keys[evicted.entry.ep.key]
                self._shed(evicted.entry, evicted.due, now)
        (self._grid_queue if waiter.on_grid else self._recheck_queue).append(waiter)
        self._running_keys[waiter.entry.ep.key] = waiter
        self._waiting_peak = max(self._waiting_peak, len(self._grid_queue) + len(self._recheck_queue))
        return True

    def _shed(self, entry: Entry, due: float, now: float, *, overflow: bool = True) -> None:
        """Overload: the grid slot at ``due`` is not run; the endpoint moves to its first slot after ``now``.
        ``overflow``: shed because the queue was full or the probe waited past its grace (the thinning backs off),
        not thinned on purpose."""
        if overflow:
            self._thinning.note_overflow()
        next_slot = entry.slot_after(now, strictly=True)
        shed = max(round((next_slot - due) / entry.ep.interval_s), 1)  # more than one if it waited past its next
        self._shed_slots += shed
        self._skipped_slots += shed
        self._push(entry, next_slot, on_grid=True)

    def _start(self, waiter: _Waiter) -> None:
        """Take the slots (the caller checked they are free) and start the probe's task."""
        ep = waiter.entry.ep
        host = ep.host
        waiter.entry.last_start = self._clock()
        if waiter.on_grid:
            self._thinning.note_grid_start()
        self._slots_taken += 1
        if host is not None:
            self._host_slots_taken[host] = self._host_slots_taken.get(host, 0) + 1
        task = asyncio.create_task(self._probe(waiter), name=f"probe:{ep.key}")
        self._running_keys[ep.key] = task
        self._tasks.add(task)
        # A done callback, not a ``finally``: it also runs for a task cancelled before its first step.
        task.add_done_callback(functools.partial(self._probe_done, waiter, host))

    def _start_waiting(self) -> None:
        """Start waiting probes while slots are free: re-checks first, then grid probes, each in arrival order.
        A grid probe found waiting past its grace is shed instead of started."""
        now = self._clock()
        for queue in (self._recheck_queue, self._grid_queue):
            i = 0
            while i < len(queue) and self._slots_taken < self._max_concurrency:
                waiter = queue[i]
                grace = waiter.entry.ep.grace_s
                if waiter.on_grid and grace is not None and now - waiter.due > grace:
                    del queue[i]
                    del self._running_keys[waiter.entry.ep.key]
                    self._shed(waiter.entry, waiter.due, now)
                elif self._slots_free(waiter.entry.ep.host):
                    del queue[i]
                    self._start(waiter)
                else:
                    i += 1  # its host is full; later probes for other hosts may pass

    # -- one probe -------------------------------------------------------------------------------------------

    async def _probe(self, waiter: _Waiter) -> float | None:
        """Run the probe; its result is the delay the done callback reschedules with."""
        now = self._clock()
        self._queue_wait_s.append(max(now - waiter.dispatched_at, 0.0))
        self._start_lateness_s.append(max(now - waiter.due, 0.0))
        entry = waiter.entry
        if self._stopping or self._entries.get(entry.ep.key) is not entry:
            return None
        return await self._run_one(entry.ep)

    def _probe_done(self, waiter: _Waiter, host: str | None, task: asyncio.Task[float | None]) -> None:
        self._tasks.discard(task)
        self._slots_taken -= 1
        if host is not None:
            left = self._host_slots_taken[host] - 1
            if left:
                self._host_slots_taken[host] = left
            else:
                del self._host_slots_taken[host]  # keeps the dict to the hosts busy now
        entry = waiter.entry
        key = entry.ep.key
        if self._running_keys.get(key) is task:
            del self._running_keys[key]
        # _run_one catches every Exception, so a result is there unless the task was cancelled (on stop).
        delay = None if task.cancelled() or task.exception() is not None else task.result()
        if self._stopping:
            return
        if self._entries.get(key) is entry:
            self._reschedule(entry, waiter.due, waiter.on_grid, delay)
        self._start_waiting()
        if self._slots_taken < self._max_concurrency and not self._grid_queue and not self._recheck_queue:
            self._thinning.note_idle()  # a slot stands free with nothing waiting: thinning may ease

    async def _run_one(self, ep: ScheduledEndpoint) -> float | None:
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            result = await ep.run()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            # A probe that leaks a CancelledError it was not sent is a bug like any other exception.
            self._probe_errors += 1
            logger.error("probe of %s raised a stray CancelledError; it stays scheduled", ep.key, exc_info=True)
            return None
        except Exception:
            self._probe_errors += 1
            logger.exception("probe of %s raised; it stays scheduled", ep.key)
            return None
        finally:
            self._in_flight -= 1
        if result is None:
            return None
        valid = isinstance(result, int | float) and not isinstance(result, bool)
        if not valid or not math.isfinite(result) or result < 0:
            self._probe_errors += 1
            logger.error("probe of %s returned %r, not a delay in seconds; back to its grid", ep.key, result)
            return None
        return float(result)

    def _reschedule(self, entry: Entry, due: float, on_grid: bool, delay: float | None) -> None:
        finish = self._clock()
        if delay is not None:
            self._push(entry, finish + delay, on_grid=False)
            return
        next_slot = entry.slot_after(finish, strictly=True)
        if on_grid:
            # Slots strictly between the one just run and the next one were overrun: coalesced, not replayed.
            self._skipped_slots += max(round((next_slot - due) / entry.ep.interval_s) - 1, 0)
        self._push(entry, next_slot, on_grid=True)

    # -- stats -----------------------------------------------------------------------------------------------

    def healthy(self, max_lag_s: float) -> bool:
        """Whether the loop is running and ticked within ``max_lag_s`` (the daemon's watchdog condition).

        Overload does not make it false: shedding keeps the loop on time. Overload shows in ``shed_slots``."""
        return self._running and not self._stopping and self._clock() - self._last_tick <= max_lag_s

    def stats(self) -> dict[str, int | float]:
        """The :meth:`snapshot` as flat keys: ``endpoints``, ``dispatched``, ``in_flight``, ``waiting``,
        ``max_in_flight``, ``skipped_slots``, ``probe_errors``, and for ``lateness`` and ``queue_wait`` each
        ``*_samples``, ``*_p50_ms``, ``*_p99_ms``, ``*_max_ms`` (0.0 when there are no samples); then
        ``max_waiting``, ``waiting_rechecks``, ``waiting_peak`` and ``shed_slots`` (overload)."""
        return self.snapshot().as_flat_dict()

    def snapshot(self) -> SchedulerStats:
        """Counters and recent percentiles, typed (``None`` percentiles when there are no samples)."""
        return SchedulerStats(
            endpoints=len(self._entries),
            dispatched=self._dispatched,
            in_flight=self._in_flight,
            waiting=len(self._grid_queue) + len(self._recheck_queue),
            max_in_flight=self._max_in_flight,
            skipped_slots=self._skipped_slots,
            probe_errors=self._probe_errors,
            lateness=Percentiles.of(self._lateness_s),
            queue_wait=Percentiles.of(self._queue_wait_s),
            max_waiting=self._max_waiting,
            waiting_rechecks=len(self._recheck_queue),
            waiting_peak=self._waiting_peak,
            shed_slots=self._shed_slots,
            start_lateness=Percentiles.of(self._start_lateness_s),
        )

    def _log_stats(self) -> None:
        s = self.snapshot()

        def fmt(p: Percentiles) -> str:
            if p.count == 0:
                return "n/a"
            return f"p50 {p.p50_ms:.1f} ms, p99 {p.p99_ms:.1f} ms, max {p.max_ms:.1f} ms"

        logger.info(
            "scheduler: %d endpoints, %d dispatched, %d in flight, %d waiting, %d skipped slots, %d probe errors; "
            "lateness %s; queue wait %s",
            s.endpoints,
            s.dispatched,
            s.in_flight,
            s.waiting,
            s.skipped_slots,
            s.probe_errors,
            fmt(s.lateness),
            fmt(s.queue_wait),
        )
        if s.shed_slots > self._shed_slots_logged:
            logger.warning(
                "scheduler overloaded: %d grid slot(s) shed since the last report (%d in all) because %d probes "
                "were already waiting for a concurrency slot; probes run less often than configured",
                s.shed_slots - self._shed_slots_logged,
                s.shed_slots,
                s.max_waiting,
            )
            self._shed_slots_logged = s.shed_slots
