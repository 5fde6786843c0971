"""The daemon's side of the HTTP API (``api.context.LiveView``): its health, each endpoint's state now, and its
own figures, read from the objects the daemon already keeps (workers' folds and last results, the scheduler's and
the writer's counters, the impaired watch, the notification sender's failures) and from ``ResultTally``, which the
workers feed each result they hand to the store. Nothing here touches the store; reads are cheap and lock-free on
the event loop."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from probe_agent.agent.impaired import ImpairedWatch
from probe_agent.agent.probe_workers import Probing
from probe_agent.agent.worker import EndpointWorker
from probe_agent.api.context import LATENCY_BUCKETS_S, AgentLive, ApiContext, EndpointLive
from probe_agent.api.server import ApiServer, ListenError
from probe_agent.config.api_schema import Api
from probe_agent.fold import Phase
from probe_agent.model import Outcome, ProbeResult, iso
from probe_agent.notify.sender import Sender
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.agent")

_UP = {Phase.UP: 1, Phase.DEGRADED: 1, Phase.SUSPECT: 1, Phase.DOWN: 0}


class ResultTally:
    """Results counted since the daemon started (``/metrics``' counters): per (outcome, error kind), and per
    endpoint per outcome with a latency histogram over ``LATENCY_BUCKETS_S``. A worker calls ``add`` for each
    result it hands to the store (not for one dropped while the store's queue is full: that is no result)."""

    def __init__(self) -> None:
        self.by_kind: dict[tuple[str, str], int] = {}
        self.by_endpoint: dict[str, dict[str, int]] = {}
        self.latency: dict[str, list[int]] = {}  # per endpoint: a count per bucket, the last one +Inf
        self.latency_sum_s: dict[str, float] = {}

    def add(self, result: ProbeResult) -> None:
        key = (result.outcome.value, result.error_kind.value if result.error_kind is not None else "none")
        self.by_kind[key] = self.by_kind.get(key, 0) + 1
        per = self.by_endpoint.get(result.endpoint)
        if per is None:
            per = self.by_endpoint[result.endpoint] = {o.value: 0 for o in Outcome}
        per[result.outcome.value] += 1
        if result.latency_ms is not None:
            seconds = result.latency_ms / 1000
            counts = self.latency.get(result.endpoint)
            if counts is None:
                counts = self.latency[result.endpoint] = [0] * (len(LATENCY_BUCKETS_S) + 1)
            # A bucket holds latencies <= its bound (Prometheus' ``le``): bisect_left finds the first bound >= it.
            counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
            self.latency_sum_s[result.endpoint] = self.latency_sum_s.get(result.endpoint, 0.0) + seconds


class DaemonView:
    """``within_ms``: a heartbeat must have judged the agent's health this recently (else "heartbeat stalled")."""

    def __init__(
        self,
        *,
        workers: Mapping[str, EndpointWorker],
        scheduler: Callable[[], Probing | None],
        writer: Callable[[], StoreWriter | None],
        impaired: ImpairedWatch,
        wall_ms: Callable[[], int],
        within_ms: int,
        db_path: Path,
        tally: ResultTally | None = None,
        sender: Callable[[], Sender | None] = lambda: None,
    ) -> None:
        self.workers = workers
        self.tally = tally if tally is not None else ResultTally()
        self.sender = sender
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
        tally = self.tally
        none = {o.value: 0 for o in Outcome}
        for endpoint, worker in self.workers.items():
            last = worker.last_result
            phase = worker.fold.phase
            counts = tally.latency.get(endpoint)
            out.append(
                EndpointLive(
                    endpoint=endpoint,
                    phase=str(phase),
                    up=_UP.get(phase),
                    latency_s=None if last is None or last.latency_ms is None else last.latency_ms / 1000,
                    cert_days_left=None if last is None else last.tls_days_left,
                    last_ts_ms=None if last is None else last.ts_ms,
                    results=dict(tally.by_endpoint.get(endpoint, none)),
                    latency_counts=tuple(counts) if counts is not None else (0,) * (len(LATENCY_BUCKETS_S) + 1),
                    latency_sum_s=tally.latency_sum_s.get(endpoint, 0.0),
                )
            )
        return out

    def agent(self) -> AgentLive:
        scheduler, writer, sender = self.scheduler(), self.writer(), self.sender()
        stats = scheduler.stats() if scheduler is not None else {}
        wstats = writer.stats if writer is not None else None
        try:
            size: int | None = self.db_path.stat().st_size
        except OSError:
            size = None
        return AgentLive(
            schedule_lateness_p99_s=float(stats.get("start_lateness_p99_ms", 0.0)) / 1000,
            schedule_lateness_max_s=float(stats.get("start_lateness_max_ms", 0.0)) / 1000,
            probes_in_flight=int(stats.get("in_flight", 0)),
            probe_queue_depth=int(stats.get("waiting", 0)),
            skipped_slots=int(stats.get("skipped_slots", 0)),
            shed_slots=int(stats.get("shed_slots", 0)),
            writer_queue_depth=wstats.queue_depth if wstats is not None else 0,
            last_commit_s=wstats.last_commit_s if wstats is not None else None,
            last_commit_at_s=wstats.last_commit_at if wstats is not None else None,
            database_bytes=size,
            notification_failures=sender.failed_attempts if sender is not None else 0,
            results=dict(self.tally.by_kind),
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
