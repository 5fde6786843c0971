"""The daemon's heartbeat: the run's sign of life in the store, the systemd watchdog, STATUS=, and two reasons to stop.

Every beat (``agent.heartbeat``, at least twice per ``WATCHDOG_USEC`` under a systemd watchdog, sd_watchdog_enabled(3))
the loop:

- stops the daemon if the database file was deleted or replaced under it (``DatabaseIdentity``): ``lost`` says
  why, and the daemon exits 75 without writing anything more;
- hands the heartbeat's write to the store writer without waiting for it (one at a time): a store that cannot
  commit is store trouble (``StoreHealth``), never a silent watchdog. A heartbeat that finds its run closed by
  another process (which judged this daemon dead) discards what the writer holds and stops the daemon:
  ``closed_under`` says why (exit 76);
- pings WATCHDOG=1 only while the event loop and the scheduler keep time (lag under max(5 s, 2 beats));
- sends STATUS= with the endpoint counts, or the store trouble;
- judges the ``agent_impaired`` episodes (``impaired.py``): controls all failing, store trouble, schedule lagging.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping

from probe_agent.agent.controls import Controls
from probe_agent.agent.impaired import ImpairedWatch
from probe_agent.agent.probe_workers import Probing
from probe_agent.agent.runlock import DatabaseIdentity
from probe_agent.agent.sdnotify import Notifier
from probe_agent.agent.storehealth import StoreHealth
from probe_agent.agent.worker import EndpointWorker
from probe_agent.fold import Phase
from probe_agent.store import records
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.agent")


class Heartbeat:
    """One run's heartbeat loop (``run``); ``workers`` is the daemon's own dict, so reloads show up in STATUS=."""

    def __init__(
        self,
        *,
        writer: StoreWriter,
        scheduler: Probing,
        notifier: Notifier,
        workers: Mapping[str, EndpointWorker],
        run_id: int,
        health: StoreHealth,
        identity: DatabaseIdentity | None,
        wall_ms: Callable[[], int],
        stop: asyncio.Event,
        impaired: ImpairedWatch | None = None,
        controls: Callable[[], Controls | None] = lambda: None,
        worker_down: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.writer = writer
        self.scheduler = scheduler
        self.notifier = notifier
        self.workers = workers
        self.run_id = run_id
        self.health = health
        self.identity = identity
        self.wall_ms = wall_ms
        self.stop = stop
        self.impaired = impaired
        self.controls = controls  # the daemon's current controls (a reload replaces them)
        self.worker_down = worker_down  # a probe process not running (agent.workers > 1), else None
        self.lost: str | None = None  # set when the database file was deleted or replaced under us
        self.closed_under: str | None = None  # set when another process closed our run
        self._beat: asyncio.Future[None] | None = None  # the heartbeat's store write in flight, if any
        self._beat_since = 0.0  # loop time that write was handed to the writer
        self._shed_seen = 0  # the scheduler's shed_slots at the previous beat

    async def run(self, every_s: float) -> None:
        """Beat every ``every_s`` seconds (less under a shorter systemd watchdog) until ``stop`` is set."""
        if self.notifier.enabled and self.notifier.watchdog_interval_s:
            every_s = min(every_s, self.notifier.watchdog_interval_s / 2)
        loop = asyncio.get_running_loop()
        expected = loop.time()
        try:
            while not self.stop.is_set():
                lost = self.identity.problem() if self.identity is not None else None
                if lost is not None:
                    log.critical("%s: stopping without writing anything more (exit 75)", lost)
                    self.lost = lost
                    self.stop.set()
                    return
                self.beat_store()
                waiting = None if self._beat is None or self._beat.done() else loop.time() - self._beat_since
                self.health.check(waiting, sum(w.paused_probes for w in self.workers.values()))
                lag = loop.time() - expected
                on_time = self.scheduler.healthy(max_lag_s=max(5.0, every_s * 2)) and lag < max(5.0, every_s * 2)
                if on_time:
                    self.notifier.watchdog()
                else:
                    log.error("scheduler is not keeping time (loop lag %.1fs): withholding the watchdog", lag)
                self._judge(on_time, lag)
                up = sum(1 for w in self.workers.values() if w.fold.phase in (Phase.UP, Phase.DEGRADED))
                down = sum(1 for w in self.workers.values() if w.fold.phase is Phase.DOWN)
                self.notifier.status(self.health.status(f"probing {len(self.workers)} endpoints: {up} up, {down} down"))
                expected = loop.time() + every_s
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=every_s)
                except TimeoutError:
                    pass
        finally:
            if self._beat is not None:
                self._beat.cancel()

    def _judge(self, on_time: bool, lag_s: float) -> None:
        if self.impaired is None:
            return
        controls = self.controls()
        try:
            self.impaired.check(
                self.wall_ms(),
                controls_all_failing=self.impaired.controls_problem(controls.latest if controls else None),
                store_problem=self.health.problem,
                schedule_lag=self._schedule_problem(on_time, lag_s),
                worker_down=self.worker_down(),
            )
        except Exception:  # a notification must never stop the heartbeat (and the watchdog with it)
            log.exception("agent_impaired check failed")

    def _schedule_problem(self, on_time: bool, lag_s: float) -> str | None:
        """What lags, for the ``schedule_lagging`` episode: the loop itself, or slots shed under overload since the
        previous beat (the scheduler keeps time then, but runs fewer probes than configured: that time is no_data).
        None when neither."""
        shed_total = self.scheduler.snapshot().shed_slots
        shed, self._shed_seen = shed_total - self._shed_seen, shed_total
        if not on_time:
            return f"the event loop or the scheduler is {lag_s:.1f} s behind"
        if shed > 0:
            return (
                f"schedule lagging: {shed} slots skipped since the last heartbeat ({shed_total} in all): more probes "
                "are due than agent.max_concurrency and this machine can run; the skipped time is no_data"
            )
        return None

    def beat_store(self) -> None:
        """Hand this beat's heartbeat to the writer without waiting for it. One at a time: while the previous one
        waits (behind a batch the store cannot commit) no other is queued, and its age tells a stalled store."""
        if self._beat is not None and not self._beat.done():
            return
        self._beat_since = asyncio.get_running_loop().time()
        self._beat = asyncio.ensure_future(self._store_heartbeat(self.wall_ms()))

    async def _store_heartbeat(self, now_ms: int) -> None:
        try:
            run_open = await self.writer.run(functools.partial(records.heartbeat, run_id=self.run_id, now_ms=now_ms))
        except Exception:  # the writer reports store trouble; keep probing
            log.exception("heartbeat failed")
            return
        if not run_open:  # closed by another process that judged us dead: its data is not ours to touch
            self.writer.discard()
            self.closed_under = f"run {self.run_id} was closed by another process (it judged this daemon dead)"
            log.critical("%s: stopping without writing anything more (exit 76)", self.closed_under)
            self.stop.set()
