"""The daemon's side of the HTTP API (``api.context.LiveView``): its health, each endpoint's state now, and its
own figures, read from the objects the daemon already keeps (workers' folds and last results, the scheduler's and
the writer's counters, the impaired watch). Nothing here touches the store; reads are cheap and lock-free on the
event loop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from probe_agent.agent.impaired import ImpairedWatch
from probe_agent.agent.scheduler import ProbeScheduler
from probe_agent.agent.worker import EndpointWorker
from probe_agent.api.context import AgentLive, ApiContext, EndpointLive
from probe_agent.api.server import ApiServer, ListenError
from probe_agent.config.api_schema import Api
from probe_agent.fold import Phase
from probe_agent.model import iso
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.agent")

_UP = {Phase.UP: 1, Phase.DEGRADED: 1, Phase.SUSPECT: 1, Phase.DOWN: 0}


class DaemonView:
    """``within_ms``: a heartbeat must have judged the agent's health this recently (else "heartbeat stalled")."""

    def __init__(
        self,
        *,
        workers: Mapping[str, EndpointWorker],
        scheduler: Callable[[], ProbeScheduler | None],
        writer: Callable[[], StoreWriter | None],
        impaired: ImpairedWatch,
        wall_ms: Callable[[], int],
        within_ms: int,
        db_path: Path,
    ) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self.writer = writer
        self.impaired = impaired
        self.wall_ms = wall_ms
        self.within_ms = within_ms
        self.db_path = db_path

    def problems(self) -> list[str]:
        out = []
        last = self.impaired.last_check_ms
        if last is not None and self.wall_ms() - last > self.within_ms:
            out.append(f"heartbeat stalled: health last judged at {iso(last)}")
        for reason, start in sorted(self.impaired.open.items()):
            detail = self.impaired.detail.get(reason, "")
            out.append(f"{reason.replace('_', ' ')} since {iso(start)}" + (f": {detail}" if detail else ""))
        return out

    def endpoints(self) -> list[EndpointLive]:
        out = []
        for endpoint, worker in self.workers.items():
            last = worker.last_result
            phase = worker.fold.phase
            out.append(
                EndpointLive(
                    endpoint=endpoint,
                    phase=str(phase),
                    up=_UP.get(phase),
                    latency_s=None if last is None or last.latency_ms is None else last.latency_ms / 1000,
                    cert_days_left=None if last is None else last.tls_days_left,
                    last_ts_ms=None if last is None else last.ts_ms,
                )
            )
        return out

    def agent(self) -> AgentLive:
        scheduler, writer = self.scheduler(), self.writer()
        stats = scheduler.stats() if scheduler is not None else {}
        wstats = writer.stats if writer is not None else None
        try:
            size: int | None = self.db_path.stat().st_size
        except OSError:
            size = None
        return AgentLive(
            schedule_lateness_p99_s=float(stats.get("lateness_p99_ms", 0.0)) / 1000,
            schedule_lateness_max_s=float(stats.get("lateness_max_ms", 0.0)) / 1000,
            probes_in_flight=int(stats.get("in_flight", 0)),
            skipped_slots=int(stats.get("skipped_slots", 0)),
            writer_queue_depth=wstats.queue_depth if wstats is not None else 0,
            last_commit_s=wstats.last_commit_s if wstats is not None else None,
            database_bytes=size,
        )


class DaemonApi:
    """The daemon's HTTP server as its config says: started with the daemon, restarted by a reload that changes
    ``api.listen``, stopped by one that removes ``api:``. Tokens and the rest are read per request (no restart).
    ``listen`` overrides ``api.listen`` (tests: port 0)."""

    def __init__(self, context: ApiContext, listen: tuple[str, int] | None = None) -> None:
        self.context = context
        self.override = listen
        self.server: ApiServer | None = None

    async def apply(self, api: Api | None, *, starting: bool) -> None:
        """Raises ``ListenError`` at start; after a reload a listen failure is logged and the API stays off."""
        wanted = None if api is None else (self.override or api.host_port)
        if self.server is not None and (wanted is None or self.server.listen != wanted):
            await self.server.stop()
            self.server = None
            log.info("HTTP API stopped" if wanted is None else "HTTP API moving to %s:%s", *(wanted or ()))
        if wanted is None or self.server is not None:
            return
        server = ApiServer(self.context, wanted)
        try:
            await server.start()
        except ListenError as exc:
            if starting:
                raise
            log.error("reload: %s; the HTTP API is off until this is fixed", exc)
            return
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
