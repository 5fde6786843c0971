"""``probe-agent run``: wiring of config, store, folds, scheduler and calendar jobs, plus signals and sd_notify;
the heartbeat loop is ``heartbeat.py``, the calendar jobs' bodies ``housekeeping.py``.

Lifecycle: take the agent id's lock on the database (``runlock``: a second daemon, even beside a paused first one,
is refused), open the store (refusing a newer schema, or a live daemon of that agent id on another host), close the runs
of this agent that crashed (at their last heartbeat), start a run, resume every endpoint's fold from its stored
snapshot (the time since the previous run ended becomes ``no_data``), then probe until SIGTERM/SIGINT. SIGHUP
reloads the config: validated first; an invalid config is logged and the running one kept.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe_agent import __version__
from probe_agent.agent.api_live import DaemonApi, DaemonView, ResultTally
from probe_agent.agent.calendar import CalendarJobs
from probe_agent.agent.clock import LabelClock, wall_clock_ms
from probe_agent.agent.controls import Controls
from probe_agent.agent.deadman_task import DeadmanTask
from probe_agent.agent.eventloop import describe as describe_loop
from probe_agent.agent.heartbeat import Heartbeat
from probe_agent.agent.housekeeping import Housekeeping
from probe_agent.agent.impaired import ImpairedWatch
from probe_agent.agent.maintenance import Muting
from probe_agent.agent.probe_workers import PoolSettings, ProbeWorkers
from probe_agent.agent.runlock import DatabaseIdentity, LockHeld, RunLock
from probe_agent.agent.scheduler import ProbeScheduler, ScheduledEndpoint
from probe_agent.agent.sdnotify import Notifier
from probe_agent.agent.shards import probe_process_count
from probe_agent.agent.slaalerts import SlaAlertJob
from probe_agent.agent.storehealth import StoreHealth, start_problem
from probe_agent.agent.worker import EndpointWorker, Prober
from probe_agent.api.context import ApiContext
from probe_agent.api.server import ListenError
from probe_agent.config import ConfigError, LoadedConfig, load_config
from probe_agent.config.schema import Endpoint
from probe_agent.fold import FoldParams, Phase, TimelineFold, snapshot_latest_ms
from probe_agent.logs import setup_logging
from probe_agent.notify.apprise_channel import quiet_apprise_logging
from probe_agent.notify.event import Event
from probe_agent.notify.routes import Router
from probe_agent.notify.sender import Sender, SenderSettings
from probe_agent.store import queries, records
from probe_agent.store.outbox import OutboxRow
from probe_agent.store.schema import open_db
from probe_agent.store.writer import StoreWriter

if TYPE_CHECKING:
    from probe_agent.probes import ProbeClient

log = logging.getLogger("probe_agent.agent")


class DaemonError(Exception):
    """The daemon cannot start (another instance runs, the database is too new, ...), or had to stop."""

    exit_code = 1


class DatabaseLost(DaemonError):
    """The database file was deleted or replaced under the running daemon: it stopped writing (EX_TEMPFAIL)."""

    exit_code = 75


class RunClosed(DaemonError):
    """Another process closed this daemon's run (it judged the daemon dead, e.g. after a long pause): the daemon
    stopped writing at once, so it never writes over what the other one stored (exit 76)."""

    exit_code = 76


def _provably_dead(hostname: str | None, pid: int | None) -> bool:
    """True only when the run was on this host and its pid no longer exists (never guesses across hosts)."""
    if hostname != socket.gethostname() or not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, owned by someone else
    return False


class Daemon:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        config_path: Path | None = None,
        handle_signals: bool = True,
        notifier: Notifier | None = None,
        prober: Prober | None = None,
        wall_ms: Callable[[], int] = wall_clock_ms,
        verbosity: int = 1,
        sender_settings: SenderSettings | None = None,
        api_listen: tuple[str, int] | None = None,
    ) -> None:
        self.loaded = loaded
        self.router = Router(loaded.config)  # rebuilt on reload; workers route their events through it
        self.sender_settings = sender_settings or SenderSettings()
        self.sender: Sender | None = None
        self.config_path = config_path if config_path is not None else loaded.path
        self.handle_signals = handle_signals
        self.notifier = notifier or Notifier()
        # This event loop's probe client (http sessions, the DNS cache), made here only for the real prober; it
        # opens nothing until the first probe and is closed at shutdown.
        self.probe_client: ProbeClient | None = None
        # An injected prober (a test's) lives in this process: it cannot probe in worker processes.
        self._prober_injected = prober is not None
        if prober is None:
            from probe_agent.probes import ProbeClient, run_probe

            self.probe_client = ProbeClient()
            prober = functools.partial(run_probe, client=self.probe_client)
        self.prober: Prober = prober
        # ``wall_ms`` is the wall clock (the seam tests step); every time the daemon stores (result ts, heartbeats,
        # run start and end, config history) and every "now" it acts on is read from the label clock built on it, so
        # they share one axis that never goes backwards (agent/clock.py).
        self.clock = LabelClock(wall_ms)
        self.wall_ms: Callable[[], int] = self.clock.now_ms
        self.verbosity = verbosity
        self.workers: dict[str, EndpointWorker] = {}
        self.run_id = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        # Probing: the scheduler in this process (agent.workers: 1), or the pool of probe processes.
        self.scheduler: ProbeScheduler | ProbeWorkers | None = None
        self.probe_processes = 1  # agent.workers as resolved at start (a reload does not change it)
        self._workers_setting: int | str = 1  # agent.workers as written, at start
        self.writer: StoreWriter | None = None
        self.calendar: CalendarJobs | None = None
        self.controls: Controls | None = None
        self.reloads = 0
        self._lock: RunLock | None = None
        self._identity: DatabaseIdentity | None = None
        self.heartbeat: Heartbeat | None = None
        self.housekeeping: Housekeeping | None = None
        self.impaired = ImpairedWatch(loaded.config.agent.id, self._enqueue)
        self.muting = Muting(lambda: self.loaded.config, lambda: self.router)
        self.deadman: DeadmanTask | None = None
        self.previous_unclean_end: int | None = None  # the previous run's last sign of life, if it crashed
        self.sla_alerts: SlaAlertJob | None = None
        self.api_listen = api_listen  # overrides api.listen (tests: port 0)
        self.api: DaemonApi | None = None
        self.tally = ResultTally()  # results since start, by outcome and error kind (/metrics)

    @property
    def agent_id(self) -> str:
        return self.loaded.config.agent.id

    @property
    def db_path(self) -> Path:
        return Path(self.loaded.config.agent.database)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Probe until stopped. Raises DaemonError if it cannot start."""
        # The start builds about a million objects (a worker, fold and schedule per endpoint) and frees none in
        # cycles: the collections their number set off found nothing, yet cost a third of a 50,000-endpoint start's
        # CPU (bench/bench_config.py). The collector is off until all is built and frozen (_run), or the start fails.
        collecting = gc.isenabled()
        gc.disable()
        try:
            await self._run(collecting)
        finally:
            if collecting:
                gc.enable()

    async def _run(self, collecting: bool) -> None:
        cfg = self.loaded.config
        now = self.clock.wall_ms()  # the wall clock itself: earlier runs' heartbeats are judged against it
        heartbeat_ms = cfg.agent.heartbeat
        self._lock = RunLock(self.db_path, self.agent_id)
        try:
            self._lock.acquire()
        except LockHeld as exc:
            raise DaemonError(
                f"another probe-agent with agent id {self.agent_id!r} is running on this database (pid {exc.pid}, "
                f"holding {exc.path}); stop it first or give this one another agent.id"
            ) from None
        except OSError as exc:
            raise DaemonError(
                f"cannot open or create the lock file {self._lock.path}: {exc.strerror or exc} "
                "(the database's directory must be writable)"
            ) from None
        try:
            previous_end, snapshots = await asyncio.to_thread(self._prepare_store, now, heartbeat_ms)
        except (sqlite3.Error, OSError) as exc:  # read-only file system, a directory at the path, locked, full
            self._lock.release()
            raise DaemonError(start_problem(self.db_path, exc)) from None
        except BaseException:
            self._lock.release()
            raise
        # Labels start after everything stored for this agent, even with the wall clock behind it (a step back
        # across a restart): each result is stored, after the previous run's.
        latest = [previous_end, *(snapshot_latest_ms(snap) for snap in snapshots.values())]
        now = self.clock.start(max((t for t in latest if t is not None), default=None))
        self.writer = StoreWriter(self.db_path, queue_limit=cfg.agent.queue_limit)
        self.writer.start()
        self._identity = DatabaseIdentity(self.db_path)
        self.run_id = self.writer.run_sync(
            lambda c: records.start_run(
                c,
                agent=self.agent_id,
                pid=os.getpid(),
                hostname=socket.gethostname(),
                version=__version__,
                config_hash=self.loaded.digest,
                now_ms=now,
            )
        )
        self.writer.run_sync(
            lambda c: records.record_config(c, self.agent_id, self.loaded.digest, self.loaded.raw, now, self.run_id)
        )
        quiet_apprise_logging(self.loaded.secrets)
        if self.previous_unclean_end is not None:
            self.impaired.coverage_gap(self.previous_unclean_end, now)
        self.controls = self._make_controls(self.loaded)
        if not cfg.controls:
            log.warning(
                "no controls configured: the agent cannot tell its own network failure from a target's, "
                "so such failures will be recorded as the target's downtime; add `controls:`"
            )
        self.scheduler = self._make_probing()
        for ep in cfg.endpoints:
            self._add_worker(ep, snapshots.get(ep.id), previous_end)
        self.calendar = CalendarJobs()
        self.housekeeping = Housekeeping(
            self.db_path,
            self.writer,
            config=lambda: self.loaded.config,
            now_ms=self.wall_ms,
            agent=self.agent_id,
            outbox=self._outbox,
        )
        self.housekeeping.schedule(self.calendar)
        self.calendar.start()
        loop = asyncio.get_running_loop()
        if self.handle_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        sched_task = asyncio.create_task(self.scheduler.run(), name="probe-scheduler")
        self._tasks.append(sched_task)
        self.heartbeat = Heartbeat(
            writer=self.writer,
            scheduler=self.scheduler,
            notifier=self.notifier,
            workers=self.workers,
            run_id=self.run_id,
            health=StoreHealth(
                self.writer,
                run_id=self.run_id,
                stall_after_s=3 * heartbeat_ms / 1000,
                note=self._lock.note,
                wall_ms=self.wall_ms,
            ),
            identity=self._identity,
            wall_ms=self.wall_ms,
            stop=self._stop,
            impaired=self.impaired,
            controls=lambda: self.controls,
            worker_down=lambda: self.scheduler.problem() if isinstance(self.scheduler, ProbeWorkers) else None,
        )
        self._spawn(self.heartbeat.run(heartbeat_ms / 1000))
        # Health for the dead man's switch: a heartbeat judged it within two beats plus the stall grace.
        within_ms = 2 * heartbeat_ms + 5_000
        self.deadman = DeadmanTask(lambda: self.impaired.healthy(self.wall_ms(), within_ms))
        self.deadman.apply(cfg.notifications.deadman)
        self._spawn(self.muting.run(heartbeat_ms / 1000, self.wall_ms, self._outage_of, self._submit_outbox))
        self.sender = Sender(
            self.writer,
            agent=self.agent_id,
            config=lambda: self.loaded.config,
            now_ms=self.wall_ms,
            secrets=lambda: self.loaded.secrets,
            settings=self.sender_settings,
        )
        self._spawn(self.sender.run())
        self._start_sla_alerts()
        try:
            await self._start_api(within_ms)  # before READY: a port already taken stops the start, cleanly
            # Everything built so far (config, workers, folds) lives as long as the daemon: keep it out of the
            # garbage collector's full scans, whose pauses showed up as probe-start lateness in bench/bench_probes.py.
            gc.freeze()
            if collecting:
                gc.enable()
            status = f"probing {len(self.workers)} endpoints as agent {self.agent_id}"
            processes = f", {self.probe_processes} probe processes" if self.probe_processes > 1 else ""
            log.info(
                "%s (run %d, database %s, %s event loop%s)",
                status,
                self.run_id,
                self.db_path,
                describe_loop(loop),
                processes,
            )
            self.notifier.ready(status)
            stop_wait = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait({stop_wait, sched_task}, return_when=asyncio.FIRST_COMPLETED)
            if sched_task in done and not self._stop.is_set():
                sched_task.result()  # a scheduler crash is a bug: surface it
        finally:
            await self._shutdown()

    async def _start_api(self, within_ms: int) -> None:
        """The HTTP server (``api:``), over this daemon's live state; a listen failure stops the start."""
        view = DaemonView(
            workers=self.workers,
            scheduler=lambda: self.scheduler,
            writer=lambda: self.writer,
            impaired=self.impaired,
            wall_ms=self.wall_ms,
            within_ms=within_ms,
            db_path=self.db_path,
            tally=self.tally,
            sender=lambda: self.sender,
        )
        context = ApiContext(lambda: self.loaded.config, self.db_path, self.wall_ms, view, self.agent_id)
        self.api = DaemonApi(context, self.api_listen)
        try:
            await self.api.apply(self.loaded.config.api, starting=True)
        except ListenError as exc:
            raise DaemonError(f"api.listen: {exc}") from None

    def _prepare_store(self, now: int, heartbeat_ms: int) -> tuple[int | None, dict[str, dict[str, Any]]]:
        if self.db_path.is_file():
            # SQLite opens a file it cannot write read-only, without a word, and fails at the first write: say it now.
            os.close(os.open(self.db_path, os.O_WRONLY | os.O_CLOEXEC))
        conn = open_db(self.db_path)
        try:
            other = queries.running_daemon(conn, self.agent_id, stale_after_ms=3 * heartbeat_ms, now_ms=now)
            if other is not None and _provably_dead(other.hostname, other.pid):
                # A crash on this host a moment ago (systemd restarts within seconds): its process is gone, so
                # its run is over even though its heartbeat is still fresh. Elsewhere, only staleness tells.
                log.warning("run %d (pid %s) died without stopping; closing it", other.run_id, other.pid)
                other = None
            if other is not None:
                raise DaemonError(
                    f"another probe-agent with agent id {self.agent_id!r} is running on this database "
                    f"(run {other.run_id}); stop it first or give this one another agent.id"
                )
            records.close_stale_runs(conn, self.agent_id)
            previous = queries.runs_for(conn, self.agent_id)
            previous_end = max((run.end_ms for run in previous if run.end_ms is not None), default=None)
            last = max(previous, key=lambda run: run.run_id, default=None)
            if last is not None and last.clean is False and last.end_ms is not None:
                self.previous_unclean_end = last.end_ms
            snapshots = {
                endpoint: snap
                for (agent, endpoint), snap in queries.fold_states(conn, self.agent_id).items()
                if agent == self.agent_id
            }
            return previous_end, snapshots
        finally:
            conn.close()

    def _make_controls(self, loaded: LoadedConfig) -> Controls:
        agent = loaded.config.agent

        async def raw(ep: Endpoint) -> Any:
            return await self.prober(ep, agent=agent.id, resolvers=agent.resolvers)

        return Controls(loaded.config.controls, raw, cache_s=agent.control_cache / 1000)

    def _make_probing(self) -> ProbeScheduler | ProbeWorkers:
        """The scheduler of this process for ``agent.workers: 1``, else the pool of probe processes."""
        agent = self.loaded.config.agent
        self._workers_setting = agent.workers
        self.probe_processes = probe_process_count(agent, prober_injected=self._prober_injected)
        if self.probe_processes == 1:
            return ProbeScheduler(max_concurrency=agent.max_concurrency, per_host_limit=agent.per_host_limit)
        return ProbeWorkers(self.probe_processes, PoolSettings.of(self.loaded, self.verbosity), self.clock)

    def _schedule(self, worker: EndpointWorker, *, known: bool = False) -> None:
        """Probe ``worker``'s endpoint from now on (``known``: its settings changed, keep its place)."""
        if isinstance(self.scheduler, ProbeWorkers):
            if known:
                self.scheduler.replace(worker)
            else:
                self.scheduler.add(worker)
        elif self.scheduler is not None:
            if known:
                self.scheduler.replace(self._scheduled(worker))
            else:
                self.scheduler.add(self._scheduled(worker))

    def _add_worker(self, ep: Endpoint, snapshot: dict[str, Any] | None, previous_end: int | None) -> None:
        assert self.writer is not None and self.scheduler is not None and self.controls is not None
        fold = TimelineFold(self.agent_id, ep.id, FoldParams.of(ep), snapshot)
        if snapshot is not None and previous_end is not None:
            # The previous run ended (clean stop or last heartbeat): what its last result spoke for ends there too.
            closed = fold.end_run(previous_end)
            if closed:
                self.writer.submit(intervals=closed, fold_states={(self.agent_id, ep.id): fold.snapshot()})
        worker = EndpointWorker(
            ep,
            agent=self.agent_id,
            fold=fold,
            controls=self.controls,
            sink=self.writer,
            run_id=self.run_id,
            prober=self.prober,
            resolvers=self.loaded.config.agent.resolvers,
            clock=self.clock,
            outbox=self._outbox,
            on_result=self.tally.add,
        )
        self.workers[ep.id] = worker
        self._schedule(worker)

    def _start_sla_alerts(self) -> None:
        """The SLA alerts job, once notifications have a channel (none: no job, no reads); also after a reload."""
        if self.sla_alerts is not None or not self.loaded.config.notifications.channels:
            return
        assert self.writer is not None
        self.sla_alerts = SlaAlertJob(
            self.db_path,
            self.writer,
            agent=self.agent_id,
            config=lambda: self.loaded.config,
            outbox=self._outbox,
            now_ms=self.wall_ms,
        )
        self._spawn(self.sla_alerts.run())

    def _outbox(self, event: Event) -> list[OutboxRow]:
        return self.muting.rows(event)

    def _outage_of(self, endpoint: str) -> int | None:
        worker = self.workers.get(endpoint)
        return worker.fold.outage_start_ms if worker is not None and worker.fold.phase is Phase.DOWN else None

    def _submit_outbox(self, rows: Sequence[OutboxRow]) -> None:
        if self.writer is not None:
            self.writer.submit(outbox=rows)
            if self.sender is not None:
                self.sender.wake.set()

    def _enqueue(self, event: Event) -> None:
        """An event of the agent itself (``agent_impaired``): its rows go to the writer, committed with the next
        batch (or, with the store in trouble, as soon as it takes writes again)."""
        rows = self.router.outbox_rows(event)
        if rows:
            self._submit_outbox(rows)

    def _scheduled(self, worker: EndpointWorker) -> ScheduledEndpoint:
        ep = worker.endpoint
        return ScheduledEndpoint(
            key=ep.id, interval_s=ep.interval / 1000, host=ep.host, run=worker.probe_once, grace_s=ep.grace / 1000
        )

    async def reload(self) -> bool:
        """Re-read the config; apply it only if valid. Returns True if applied."""
        self.notifier.reloading()
        try:
            loaded = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            log.error("reload refused, still running the previous config:\n%s", exc)
            self.notifier.ready(f"reload refused (invalid config); probing {len(self.workers)} endpoints")
            return False
        if loaded.config.agent.id != self.agent_id or loaded.config.agent.database != self.loaded.config.agent.database:
            log.error("reload refused: agent.id and agent.database cannot change without a restart")
            self.notifier.ready(f"reload refused; probing {len(self.workers)} endpoints")
            return False
        assert self.scheduler is not None and self.writer is not None
        setup_logging(self.verbosity, loaded.secrets)
        quiet_apprise_logging(loaded.secrets)
        self.loaded = loaded
        self.router = Router(loaded.config)
        self.writer.queue_limit = loaded.config.agent.queue_limit
        self.controls = self._make_controls(loaded)
        if loaded.config.agent.workers != self._workers_setting:
            log.warning(
                "agent.workers changed to %s: that takes a restart; still probing with %d process(es)",
                loaded.config.agent.workers,
                self.probe_processes,
            )
        if isinstance(self.scheduler, ProbeWorkers):
            self.scheduler.reconfigure(PoolSettings.of(loaded, self.verbosity))
        now = self.wall_ms()
        wanted = {ep.id: ep for ep in loaded.config.endpoints}
        for ep_id in [k for k in self.workers if k not in wanted]:
            self.scheduler.remove(ep_id)
            self.workers.pop(ep_id).close(now)  # history is kept; the timeline just ends here
            log.info("%s: removed from the config; probing stopped", ep_id)
        for ep_id, ep in wanted.items():
            worker = self.workers.get(ep_id)
            if worker is None:
                # An endpoint removed earlier and added back resumes its timeline (its outage, its phase); the
                # time it was not probed becomes no_data.
                snapshot = await self.writer.run(
                    functools.partial(queries.fold_state_of, agent=self.agent_id, endpoint=ep_id)
                )
                self._add_worker(ep, snapshot, None)
                log.info("%s: added", ep_id)
            elif worker.endpoint != ep or worker.controls is not self.controls:
                changed = worker.endpoint != ep
                worker.update(ep, self.controls)
                if changed:
                    self._schedule(worker, known=True)
                    log.info("%s: settings changed; rescheduled", ep_id)
        self.writer.submit()
        await self.writer.run(
            lambda c: records.record_config(c, self.agent_id, loaded.digest, loaded.raw, now, self.run_id)
        )
        if self.deadman is not None:
            self.deadman.apply(loaded.config.notifications.deadman)
        self._start_sla_alerts()
        if self.api is not None:
            await self.api.apply(loaded.config.api, starting=False)
        self.reloads += 1
        status = f"reloaded; probing {len(self.workers)} endpoints"
        log.info(status)
        self.notifier.ready(status)
        return True

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)

    @property
    def _lost(self) -> str | None:
        """Why the daemon stopped without writing: its database file was deleted or replaced under it."""
        return self.heartbeat.lost if self.heartbeat is not None else None

    @property
    def _closed_under(self) -> str | None:
        """Why the daemon stopped without writing: another process closed its run."""
        return self.heartbeat.closed_under if self.heartbeat is not None else None

    async def _shutdown(self) -> None:
        self.notifier.stopping()
        if self.api is not None:
            await self.api.stop()
        log.info("stopping: finishing in-flight probes (up to %ss)", self.loaded.config.agent.stop_timeout / 1000)
        if self.scheduler is not None:  # with our run closed, in-flight probes would be discarded: no waiting
            await self.scheduler.stop(0 if self._closed_under else self.loaded.config.agent.stop_timeout / 1000)
        if self.deadman is not None:
            await self.deadman.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.probe_client is not None:  # no probe runs any more: close its sessions
            await self.probe_client.close()
        if self.calendar is not None:
            await self.calendar.stop(5.0)
        if self.writer is not None and (self._lost is not None or self._closed_under is not None):
            # Into the unlinked file, which nobody will read; or, with our run closed, nothing (discarded).
            await asyncio.to_thread(self.writer.close)
        elif self.writer is not None:
            now = self.wall_ms()
            for worker in self.workers.values():
                worker.close(now)
            writer = self.writer
            await asyncio.to_thread(writer.flush)
            await asyncio.to_thread(
                lambda: writer.run_sync(lambda c: records.stop_run(c, self.run_id, now, clean=True))
            )
            await asyncio.to_thread(writer.close)
        if self._identity is not None:
            self._identity.close()
        if self._lock is not None:
            self._lock.release()
        if self._lost is not None:
            raise DatabaseLost(self._lost)
        if self._closed_under is not None:
            raise RunClosed(self._closed_under)
        log.info("stopped cleanly (run %d)", self.run_id)
