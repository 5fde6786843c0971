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
  ``max_concurrency`` in all. A due probe waits for its slots; that wait is measured apart from lateness.
- Lateness = dispatch time - due time. Both lateness and queue waits are kept for the last ``stats_window``
  dispatches and logged every ``stats_log_interval_s``.
- An exception from a probe is a bug: logged with its traceback; the endpoint goes back to its grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ProbeJob(Protocol):
    """Performs one probe. Returns ``None`` for "back to the regular grid", or a delay in seconds meaning "re-check
    this long after this probe finished" (``retry_interval`` while suspect or down)."""

    def __call__(self) -> Awaitable[float | None]: ...


def phase_offset(key: str, interval_s: float) -> float:
    """The endpoint's phase in seconds, in ``[0, interval_s)``, from BLAKE2b of its key.

    Stable across processes and Python versions (unlike ``hash``, which is salted per process). The fraction of
    the interval depends only on the key, so changing an endpoint's interval keeps its relative position.
    Raises ValueError for an interval that is not a positive finite number.
    """
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval must be a positive number of seconds, got {interval_s!r}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    # 53 bits divide exactly into a float in [0, 1); 64 bits could round up to 1.0.
    fraction = (int.from_bytes(digest, "big") >> 11) / float(1 << 53)
    offset = fraction * interval_s
    # The product can still round up to interval_s itself.
    return offset if offset < interval_s else math.nextafter(interval_s, 0.0)


@dataclass(frozen=True, slots=True)
class ScheduledEndpoint:
    """What the scheduler needs to know about one endpoint.

    ``key`` is the endpoint id (stable across reloads). ``host`` groups endpoints for the per-host limit;
    ``None`` means no per-host limit.
    """

    key: str
    interval_s: float
    host: str | None
    run: ProbeJob

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"endpoint {self.key!r}: interval must be a positive number, got {self.interval_s!r}")


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Nearest-rank percentiles in milliseconds over the recent window; all ``None`` when there is no sample."""

    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, samples_s: deque[float]) -> Percentiles:
        if not samples_s:
            return cls(0, None, None, None)
        ordered = sorted(samples_s)
        n = len(ordered)

        def rank(p: float) -> float:
            return ordered[max(math.ceil(p * n) - 1, 0)] * 1000.0

        return cls(n, rank(0.50), rank(0.99), ordered[-1] * 1000.0)


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """A snapshot. Counters are totals since the scheduler was built; percentiles cover the recent window."""

    endpoints: int
    dispatched: int  # probes handed to a task (each may still wait for a concurrency slot)
    in_flight: int  # probes running now (holding their concurrency slots)
    waiting: int  # dispatched probes waiting for a global or per-host slot
    max_in_flight: int
    skipped_slots: int  # grid slots coalesced because the previous probe (or the loop) overran them
    probe_errors: int  # exceptions raised by probes (bugs)
    lateness: Percentiles  # dispatch time - due time
    queue_wait: Percentiles  # dispatch -> start: waiting for the concurrency limits (and for the task to start)

    def as_flat_dict(self) -> dict[str, int | float]:
        """One level of keys for logs and metrics: ``lateness_p99_ms`` etc. An empty window reads 0.0 ms; its
        ``*_samples`` count (0) tells it apart from a measured zero."""
        flat: dict[str, int | float] = {}
        for name, value in asdict(self).items():
            if isinstance(value, dict):
                flat[f"{name}_samples"] = value["count"]
                for part in ("p50_ms", "p99_ms", "max_ms"):
                    flat[f"{name}_{part}"] = 0.0 if value[part] is None else value[part]
            else:
                flat[name] = value
        return flat


class _Entry:
    """Mutable scheduling state of one endpoint. ``generation`` invalidates stale heap items (lazy deletion)."""

    __slots__ = ("ep", "generation", "on_grid", "phase")

    def __init__(self, ep: ScheduledEndpoint) -> None:
        self.ep = ep
        self.phase = phase_offset(ep.key, ep.interval_s)
        self.generation = 0
        self.on_grid = True  # whether the pending due time is a grid slot (False: a re-check)

    def slot_after(self, t: float, *, strictly: bool) -> float:
        """The first grid slot after ``t`` (or at ``t`` when not ``strictly``)."""
        interval = self.ep.interval_s
        k = math.floor((t - self.phase) / interval)
        slot = self.phase + k * interval
        # Computed from k each time (never accumulated), so no drift; the loop only absorbs float rounding.
        while slot < t or (strictly and slot == t):
            k += 1
            slot = self.phase + k * interval
        return slot


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
    ) -> None:
        """``heartbeat_s`` bounds how long the loop sleeps when nothing is due, so ``last_tick`` stays fresh for
        the daemon's watchdog. ``clock`` must be monotonic; ``sleep`` must sleep on that same clock."""
        if max_concurrency < 1 or per_host_limit < 1:
            raise ValueError("concurrency limits must be at least 1")
        self._clock = clock
        self._sleep = sleep
        self._heartbeat_s = heartbeat_s
        self._stats_log_interval_s = stats_log_interval_s
        self._per_host_limit = per_host_limit
        self._global_slots = asyncio.Semaphore(max_concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []  # (due, sequence, key, generation)
        self._sequence = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Keyed by endpoint key, not entry: a key removed and added again while its probe runs must still wait.
        self._running_keys: dict[str, asyncio.Task[None]] = {}
        self._sleeper: asyncio.Future[None] | None = None
        self._sleeping_until = math.inf
        self._running = False
        self._stopping = False
        self._last_tick = clock()
        self._lateness_s: deque[float] = deque(maxlen=stats_window)
        self._queue_wait_s: deque[float] = deque(maxlen=stats_window)
        self._dispatched = 0
        self._in_flight = 0
        self._waiting = 0
        self._max_in_flight = 0
        self._skipped_slots = 0
        self._probe_errors = 0

    # -- endpoints -------------------------------------------------------------------------------------------

    def add(self, ep: ScheduledEndpoint) -> None:
        """Schedule a new endpoint at the first slot of its grid at or after now. A known key is a ValueError."""
        if ep.key in self._entries:
            raise ValueError(f"endpoint {ep.key!r} is already scheduled; use replace()")
        entry = _Entry(ep)
        self._entries[ep.key] = entry
        self._push(entry, entry.slot_after(self._clock(), strictly=False), on_grid=True)

    def remove(self, key: str) -> None:
        """Stop scheduling ``key``. A probe already running finishes; one still waiting for a slot does not run.
        An unknown key is ignored."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.generation += 1

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
            for task in list(self._tasks):
                task.cancel()
            raise
        finally:
            self._running = False

    async def stop(self, deadline_s: float) -> None:
        """Stop dispatching; wait up to ``deadline_s`` (on the scheduler's clock) for probes in flight, then cancel
        the rest and wait for them to unwind. ``run()`` returns promptly."""
        self._stopping = True
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

    def _push(self, entry: _Entry, due: float, *, on_grid: bool) -> None:
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
            self._lateness_s.append(max(now - due, 0.0))
            self._dispatched += 1
            task = asyncio.create_task(self._probe(entry, due, entry.on_grid, now), name=f"probe:{key}")
            self._running_keys[key] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- one probe -------------------------------------------------------------------------------------------

    def _host_semaphore(self, host: str | None) -> asyncio.Semaphore | None:
        if host is None:
            return None
        slots = self._host_slots.get(host)
        if slots is None:
            slots = self._host_slots[host] = asyncio.Semaphore(self._per_host_limit)
        return slots

    async def _probe(self, entry: _Entry, due: float, on_grid: bool, dispatched_at: float) -> None:
        ep = entry.ep
        delay: float | None = None
        queued = True
        self._waiting += 1
        try:
            host_slots = self._host_semaphore(ep.host)
            # Host slot first: holding a global slot while waiting on a busy host would starve other hosts.
            async with host_slots if host_slots is not None else contextlib.nullcontext(), self._global_slots:
                queued = False
                self._waiting -= 1
                self._queue_wait_s.append(max(self._clock() - dispatched_at, 0.0))
                if self._stopping or self._entries.get(ep.key) is not entry:
                    return
                delay = await self._run_one(ep)
        finally:
            if queued:
                self._waiting -= 1
            if self._running_keys.get(ep.key) is asyncio.current_task():
                del self._running_keys[ep.key]
            if not self._stopping and self._entries.get(ep.key) is entry:
                self._reschedule(entry, due, on_grid, delay)

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

    def _reschedule(self, entry: _Entry, due: float, on_grid: bool, delay: float | None) -> None:
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
        """Whether the loop is running and ticked within ``max_lag_s`` (the daemon's watchdog condition)."""
        return self._running and not self._stopping and self._clock() - self._last_tick <= max_lag_s

    def stats(self) -> dict[str, int | float]:
        """The :meth:`snapshot` as flat keys: ``endpoints``, ``dispatched``, ``in_flight``, ``waiting``,
        ``max_in_flight``, ``skipped_slots``, ``probe_errors``, and for ``lateness`` and ``queue_wait`` each
        ``*_samples``, ``*_p50_ms``, ``*_p99_ms``, ``*_max_ms`` (0.0 when there are no samples)."""
        return self.snapshot().as_flat_dict()

    def snapshot(self) -> SchedulerStats:
        """Counters and recent percentiles, typed (``None`` percentiles when there are no samples)."""
        return SchedulerStats(
            endpoints=len(self._entries),
            dispatched=self._dispatched,
            in_flight=self._in_flight,
            waiting=self._waiting,
            max_in_flight=self._max_in_flight,
            skipped_slots=self._skipped_slots,
            probe_errors=self._probe_errors,
            lateness=Percentiles.of(self._lateness_s),
            queue_wait=Percentiles.of(self._queue_wait_s),
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
