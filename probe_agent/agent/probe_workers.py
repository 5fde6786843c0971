"""The daemon's probe processes (``agent.workers`` > 1): each probes a stable hash shard of the endpoints
(``shards.py``) on its own event loop (``worker_process.py``); this, in the daemon, owns everything else.

For each result a worker sends (``worker_wire.py``), the pool labels it on the daemon's label clock (the probe's
start mark, so a clock step is detected and flagged once, here), has the endpoint's ``EndpointWorker`` judge it
against the controls (probed once, in this process: their verdict speaks for every worker's results), fold it and
hand it to the single store writer, and answers the worker with the delay to that endpoint's next probe. So each
endpoint has one fold, here, and one result in flight at most; a result is folded exactly once: it travels once, over
one stream, and one from an earlier life of the endpoint (removed and added back: another generation) or of
another worker's shard is answered and dropped.

A worker that dies (a crash, kill -9) is restarted, after 1 s, doubling up to 60 s while it keeps dying within a
minute of its start (a crash loop does not spin). Its results in flight are lost, and the time its endpoints were
not probed is ``no_data`` by the fold's own rule (a result speaks for its interval and grace at most): nothing is
invented. The death is logged as an error and opens an ``agent_impaired`` episode (``problem``), resolved once the
worker runs again. A worker silent for ``HUNG_S`` (its stats come every second) is killed, and so restarted.

``stop`` tells each worker to finish its probes in flight within the deadline (their results are still folded),
then kills what is left; a worker also ends by itself when this process dies (its socket reaches its end).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import probe_agent
from probe_agent.agent import worker_wire as wire
from probe_agent.agent.clock import LabelClock
from probe_agent.agent.scheduler_stats import Percentiles, SchedulerStats
from probe_agent.agent.shards import shard_of, split_limit
from probe_agent.agent.worker import EndpointWorker
from probe_agent.config import LoadedConfig
from probe_agent.config.schema import Endpoint
from probe_agent.model import Outcome

log = logging.getLogger("probe_agent.agent")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 60.0  # a worker that lived this long was not crash-looping: its next restart waits BACKOFF_FIRST_S
HUNG_S = 60.0
_GAUGES = frozenset({"endpoints", "in_flight", "waiting"})  # SchedulerStats' figures of now; other ints count


class Probing(Protocol):
    """What the heartbeat, the API and the bench read of the probing, in one process or many."""

    def healthy(self, max_lag_s: float) -> bool: ...

    def stats(self) -> dict[str, int | float]: ...

    def snapshot(self) -> SchedulerStats: ...


@dataclasses.dataclass(frozen=True)
class PoolSettings:
    agent: str
    resolvers: tuple[str, ...]
    max_concurrency: int  # the totals, shared among the workers
    per_host_limit: int
    stop_timeout_s: float
    verbosity: int
    secrets: tuple[str, ...]

    @classmethod
    def of(cls, loaded: LoadedConfig, verbosity: int) -> PoolSettings:
        agent = loaded.config.agent
        return cls(
            agent=agent.id,
            resolvers=agent.resolvers,
            max_concurrency=agent.max_concurrency,
            per_host_limit=agent.per_host_limit,
            stop_timeout_s=agent.stop_timeout / 1000,
            verbosity=verbosity,
            secrets=tuple(loaded.secrets),
        )


class _Slot:
    """One worker's place: its current process (or none, between a death and the restart) and what it said."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected = False
        self.started_at = 0.0  # monotonic
        self.last_heard = 0.0
        self.heard = False  # this life of the worker said something (it is past its start-up)
        self.stats: SchedulerStats | None = None
        self.healthy = False
        self.failures = 0  # deaths in a row, each within STABLE_S of its start
        self.down: str | None = None  # why it is not running now
        self.restarts = 0

    def send(self, message: wire.Message) -> None:
        if self.writer is not None and self.connected and not self.writer.is_closing():
            self.writer.write(wire.frame(message))


class ProbeWorkers:
    """``count`` probe processes over the endpoints ``add``ed (each an ``EndpointWorker``: its fold, here)."""

    def __init__(self, count: int, settings: PoolSettings, clock: LabelClock) -> None:
        if count < 2:
            raise ValueError("a pool needs 2 workers or more (1 probes in the daemon's own process)")
        self.count = count
        self.settings = settings
        self.clock = clock
        self.limits = split_limit(settings.max_concurrency, count)
        self.host_limits = split_limit(settings.per_host_limit, count)
        self.workers: dict[str, EndpointWorker] = {}
        self.generation: dict[str, int] = {}
        self._generations = 0
        self.slots = [_Slot(i) for i in range(count)]
        self._retired: dict[str, int] = {}  # counters of workers' earlier lives (a restart starts them at 0)
        self._judging: set[asyncio.Task[None]] = set()
        self._running = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._missed: str | None = None  # a death already over by the time anyone asked (``problem``)
        self.results_by_worker = [0] * count  # results received (tests and the bench: every worker probes)

    # -- endpoints (the daemon calls these as it would the scheduler's add, remove, replace) ----------------------

    def shard(self, key: str) -> int:
        return shard_of(key, self.count)

    def add(self, worker: EndpointWorker) -> None:
        key = worker.endpoint.id
        self._generations += 1
        self.generation[key] = self._generations
        self.workers[key] = worker
        self.slots[self.shard(key)].send(wire.Assign((self._assignment(worker),)))

    def remove(self, key: str) -> None:
        self.workers.pop(key, None)
        self.generation.pop(key, None)
        self.slots[self.shard(key)].send(wire.Remove((key,)))

    def replace(self, worker: EndpointWorker) -> None:
        """New settings for a known endpoint (its schedule moves as the scheduler's ``replace`` says)."""
        if worker.endpoint.id not in self.workers:
            self.add(worker)
            return
        self.workers[worker.endpoint.id] = worker
        self.slots[self.shard(worker.endpoint.id)].send(wire.Assign((self._assignment(worker),)))

    def reconfigure(self, settings: PoolSettings) -> None:
        """After a reload: resolvers and secrets reach the workers; the limits and the count wait for a restart."""
        self.settings = dataclasses.replace(
            settings, max_concurrency=self.settings.max_concurrency, per_host_limit=self.settings.per_host_limit
        )
        for slot in self.slots:
            slot.send(self._setup(slot.index))

    def _assignment(self, worker: EndpointWorker) -> tuple[Endpoint, int, bool]:
        ep = worker.endpoint
        return (ep, self.generation[ep.id], worker.rechecking)

    def _setup(self, index: int) -> wire.Setup:
        s = self.settings
        return wire.Setup(
            index=index,
            workers=self.count,
            agent=s.agent,
            resolvers=s.resolvers,
            max_concurrency=self.limits[index],
            per_host_limit=self.host_limits[index],
            stop_timeout_s=s.stop_timeout_s,
            verbosity=s.verbosity,
            secrets=s.secrets,
        )

    # -- the processes ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the workers running (restarting the dead) until ``stop``."""
        if self._running:
            raise RuntimeError("the pool is already running")
        self._running = True
        lives = [asyncio.create_task(self._keep(slot), name=f"probe-worker-{slot.index + 1}") for slot in self.slots]
        watch = asyncio.create_task(self._watch(), name="probe-workers-watch")
        try:
            await asyncio.gather(*lives)
        finally:
            watch.cancel()
            for task in lives:
                task.cancel()
            await asyncio.gather(watch, *lives, return_exceptions=True)
            for slot in self.slots:
                _kill(slot)
            self._running = False

    async def _keep(self, slot: _Slot) -> None:
        while not self._stopping:
            try:
                why = await self._life(slot)
            except OSError as exc:  # no process could be started (out of memory, of pids): a death like another
                slot.started_at = time.monotonic()
                why = f"could not be started ({exc})"
            if self._stopping:
                return
            lived = time.monotonic() - slot.started_at
            slot.failures = 1 if lived >= STABLE_S else slot.failures + 1
            wait = min(BACKOFF_FIRST_S * 2 ** (slot.failures - 1), BACKOFF_MAX_S)
            slot.down = f"probe worker {slot.index + 1}/{self.count} {why}; restarting it in {wait:g} s"
            log.error("%s (its endpoints are not probed meanwhile: no_data)", slot.down)
            self._missed = slot.down
            await asyncio.sleep(wait)
            slot.restarts += 1

    async def _life(self, slot: _Slot) -> str:
        """Start the worker, serve it until its stream ends, reap it; returns how it ended."""
        parent, child = socket.socketpair()
        try:
            # systemd's variables are the daemon's own (NotifyAccess=main): a worker never speaks for the unit.
            env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC")}
            # The worker imports the very package this process runs, wherever it is installed or checked out.
            root = str(Path(probe_agent.__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "probe_agent.agent.worker_process",
                "--fd",
                str(child.fileno()),
                "--parent",
                str(os.getpid()),
                "--agent",
                self.settings.agent,
                "--worker",
                f"{slot.index + 1}/{self.count}",
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        slot.proc = proc
        slot.started_at = slot.last_heard = time.monotonic()
        slot.heard = False
        reader, writer = await asyncio.open_connection(sock=parent)
        slot.writer = writer
        slot.connected = True
        slot.send(self._setup(slot.index))
        mine = [self._assignment(w) for key, w in self.workers.items() if self.shard(key) == slot.index]
        slot.send(wire.Assign(tuple(mine)))
        if slot.down is not None:
            log.warning("probe worker %d/%d restarted (pid %d)", slot.index + 1, self.count, proc.pid)
        slot.down = None
        if self._stopping:
            slot.send(wire.Stop(self._stop_deadline))
        try:
            while (message := await wire.read_message(reader)) is not None:
                slot.last_heard, slot.heard = time.monotonic(), True
                if isinstance(message, wire.Results):
                    self._take(slot, message.finished)
                elif isinstance(message, wire.Stats):
                    slot.stats, slot.healthy = message.scheduler, message.healthy
        finally:
            slot.connected = False
            writer.close()
            self._retire(slot)
        try:
            code = await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:  # it closed its socket but lingers
            _kill(slot)
            code = await proc.wait()
        if code < 0:
            return f"was killed by {signal.Signals(-code).name} (pid {proc.pid})"
        return f"exited with status {code} (pid {proc.pid})"

    def _retire(self, slot: _Slot) -> None:
        if slot.stats is not None:
            for field in dataclasses.fields(SchedulerStats):
                value = getattr(slot.stats, field.name)
                if isinstance(value, int) and field.name not in _GAUGES and field.name != "max_in_flight":
                    self._retired[field.name] = self._retired.get(field.name, 0) + value
        slot.stats, slot.healthy = None, False

    async def _watch(self) -> None:
        """Kill a worker that stopped talking (its event loop stuck): its death restarts it."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for slot in self.slots:
                if slot.connected and not self._stopping and now - slot.last_heard > HUNG_S:
                    log.error("probe worker %d/%d silent for %.0f s: killing it", slot.index + 1, self.count, HUNG_S)
                    _kill(slot)

    # -- results ---------------------------------------------------------------------------------------------

    def _take(self, slot: _Slot, finished: tuple[wire.Finished, ...]) -> None:
        answers: list[tuple[int, float | None]] = []
        self.results_by_worker[slot.index] += len(finished)
        for f in finished:
            worker = self.workers.get(f.key)
            if worker is None or self.generation.get(f.key) != f.generation or self.shard(f.key) != slot.index:
                # Removed (or removed and added back) while it ran: its timeline ended before this result's ts.
                log.info("%s: probe finished after the endpoint was removed; result dropped", f.key)
                delay = None
            elif f.raw.outcome is Outcome.DOWN:
                # The controls rule may have to wait for a round of control probes: off the reading path.
                task = asyncio.create_task(self._judge(slot, worker, f))
                self._judging.add(task)
                task.add_done_callback(self._judging.discard)
                continue
            else:
                delay = self._record(worker, f)
            if wire.answer_needed(f.raw):
                answers.append((f.seq, delay))
            elif delay is not None:  # the rule in worker_wire.answer_needed is wrong: say so, loudly
                log.error("%s: a re-check delay for a result its worker did not wait for", f.key)
        if answers:
            slot.send(wire.Answers(tuple(answers)))

    def _record(self, worker: EndpointWorker, f: wire.Finished) -> float | None:
        try:
            return worker.record(f.raw, self.clock.read_at(f.at_ns))
        except Exception:  # a bug: the result is lost (no_data), the endpoint keeps its grid
            log.exception("%s: recording a result failed", f.key)
            return None

    async def _judge(self, slot: _Slot, worker: EndpointWorker, f: wire.Finished) -> None:
        delay: float | None = None
        try:
            delay = await worker.take(f.raw, f.started, self.clock.read_at(f.at_ns))
        except Exception:
            log.exception("%s: judging a result failed", f.key)
        finally:
            slot.send(wire.Answers(((f.seq, delay),)))

    # -- stopping --------------------------------------------------------------------------------------------

    async def stop(self, deadline_s: float) -> None:
        """Workers finish their probes in flight within ``deadline_s`` (their results are folded), then the rest is
        killed; returns when every worker process is gone."""
        self._stopping = True
        self._stop_deadline = deadline_s
        for slot in self.slots:
            slot.send(wire.Stop(deadline_s))
        live = [
            asyncio.ensure_future(slot.proc.wait())
            for slot in self.slots
            if slot.proc is not None and slot.proc.returncode is None
        ]
        if live:
            _, pending = await asyncio.wait(live, timeout=deadline_s + 5.0)
            if pending:
                log.warning("stop: killing %d probe worker(s) still running", len(pending))
                for slot in self.slots:
                    _kill(slot)
                await asyncio.gather(*pending, return_exceptions=True)
        if self._judging:
            await asyncio.wait(set(self._judging), timeout=max(deadline_s, 1.0))

    # -- what the heartbeat and the API read -------------------------------------------------------------------

    def healthy(self, max_lag_s: float) -> bool:
        """The watchdog's rule: every running worker was heard within ``max_lag_s`` and its scheduler keeps time.
        A worker between a death and its restart does not withhold the watchdog (``problem`` reports it)."""
        if not self._running or self._stopping:
            return False
        now = time.monotonic()
        for slot in self.slots:
            # A worker still starting (a fresh interpreter: seconds on a loaded machine) is not late; one that never
            # reports is killed after HUNG_S (``_watch``), and its restart is then a problem, not a lag.
            if not slot.connected or not slot.heard:
                continue
            if now - slot.last_heard > max_lag_s or not slot.healthy:
                return False
        return True

    @property
    def ready(self) -> bool:
        """Every worker started and reported its scheduler once (the bench waits for this; the watchdog does not)."""
        return all(slot.connected and slot.stats is not None for slot in self.slots)

    def problem(self) -> str | None:
        """Why probing is impaired (a worker not running), for ``agent_impaired``; a death and restart between two
        calls is reported once, so even a short episode is told."""
        down = [slot.down for slot in self.slots if slot.down is not None]
        missed, self._missed = self._missed, None
        if down:
            return "; ".join(down)
        return missed

    def snapshot(self) -> SchedulerStats:
        """The workers' scheduler figures as one: counts summed (with those of workers' earlier lives), the
        percentiles of each worker's window merged as their largest (an upper bound of the union's)."""
        stats = [slot.stats for slot in self.slots if slot.stats is not None]
        merged: dict[str, object] = {}
        for field in dataclasses.fields(SchedulerStats):
            values = [getattr(s, field.name) for s in stats]
            if field.name == "endpoints":
                merged[field.name] = len(self.workers)
            elif field.type in ("Percentiles", Percentiles):
                merged[field.name] = _merge(values)
            elif field.name in _GAUGES or field.name == "max_in_flight":
                merged[field.name] = sum(values)  # max_in_flight: each worker's peak; their sum bounds the pool's
            else:  # a counter since start: with those of workers' earlier lives
                merged[field.name] = sum(values) + self._retired.get(field.name, 0)
        return SchedulerStats(**merged)  # type: ignore[arg-type]

    def stats(self) -> dict[str, int | float]:
        return self.snapshot().as_flat_dict()

    def pids(self) -> Mapping[int, int]:
        """worker number (1-based) -> pid, for the workers running now."""
        return {
            slot.index + 1: slot.proc.pid
            for slot in self.slots
            if slot.proc is not None and slot.proc.returncode is None and slot.connected
        }


def _merge(values: list[Percentiles]) -> Percentiles:
    def top(xs: list[float | None]) -> float | None:
        present = [x for x in xs if x is not None]
        return max(present) if present else None

    return Percentiles(
        sum(p.count for p in values),
        top([p.p50_ms for p in values]),
        top([p.p99_ms for p in values]),
        top([p.max_ms for p in values]),
    )


def _kill(slot: _Slot) -> None:
    if slot.proc is not None and slot.proc.returncode is None:
        try:
            slot.proc.kill()
        except ProcessLookupError:
            pass
