"""What every route reads: the config (current after a reload), the database, "now", and, inside the daemon, its
live state (``LiveView``); ``probe-agent serve`` has no live state (``live`` is None)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from probe_agent.config.api_schema import Api
from probe_agent.config.document import Config
from probe_agent.store.schema import open_db

T = TypeVar("T")

# Reads at once (threads): enough for a status page, a scrape and a report together, few enough that a burst of API
# requests cannot take every core from the daemon's probing and writing.
READ_SLOTS = 4


# The latency histogram's upper bounds in seconds (``/metrics`` with ``api.metrics.per_endpoint: true``): from a
# loopback answer (5 ms) to a probe's longest timeout; the last bucket (+Inf) takes the rest.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class EndpointLive:
    """One endpoint as the daemon holds it now (from its fold and its last result).

    ``phase`` is the fold's phase (``new, up, degraded, suspect, down, unknown``); ``up`` is 1 for up/degraded/
    suspect, 0 for down, None when there is no verdict (new, unknown). ``latency_s`` is the last result's total
    time in seconds (None before any, or when the last result has none), ``cert_days_left`` the days until the
    served certificate expires (None when not a TLS endpoint or not seen yet).

    Counted by the daemon since it started (``/metrics``' per-endpoint counters): ``results`` per outcome (every
    outcome present, 0 when not seen); ``latency_counts`` per bucket of ``LATENCY_BUCKETS_S`` plus the +Inf bucket
    (not cumulative; results without a latency are not in it) and ``latency_sum_s`` their total in seconds.
    """

    endpoint: str
    phase: str
    up: int | None
    latency_s: float | None
    cert_days_left: float | None
    last_ts_ms: int | None
    results: Mapping[str, int] = field(default_factory=dict)
    latency_counts: tuple[int, ...] = ()
    latency_sum_s: float = 0.0


@dataclass(frozen=True)
class AgentLive:
    """The daemon's own figures for ``/metrics``.

    ``schedule_lateness_*_s``: how late probes started against their slots (waiting for a concurrency slot
    included), p99 and max over the scheduler's recent samples (0 before any). ``probes_in_flight``: probes
    running; ``probe_queue_depth``: probes due but waiting for a free slot (``agent.max_concurrency``).
    ``skipped_slots``: slots missed since start (never replayed); ``shed_slots``: of those, the ones left out under
    overload (more due than the agent can run). ``writer_queue_depth``: submissions waiting for the store's writer
    thread. ``last_commit_at_s``: when the writer last committed (epoch seconds; None before its first commit),
    ``last_commit_s`` how long that commit took (seconds). ``database_bytes``: the database file's size (None:
    unreadable). ``notification_failures``: failed delivery attempts since start (each retry that fails counts
    again). ``results``: results stored since start per (outcome, error kind; ``none`` without one).
    """

    schedule_lateness_p99_s: float = 0.0
    schedule_lateness_max_s: float = 0.0
    probes_in_flight: int = 0
    probe_queue_depth: int = 0
    skipped_slots: int = 0
    shed_slots: int = 0
    writer_queue_depth: int = 0
    last_commit_s: float | None = None
    last_commit_at_s: float | None = None
    database_bytes: int | None = None
    notification_failures: int = 0
    results: Mapping[tuple[str, str], int] = field(default_factory=dict)


class LiveView(Protocol):
    """The daemon's side of the API (``agent/api_live.py``)."""

    def problems(self) -> list[str]:
        """Why the agent is not healthy now (``scheduler lagging``, ``store not writable``, ``controls failing``,
        each with its detail); empty when healthy."""
        ...

    def endpoints(self) -> list[EndpointLive]: ...

    def agent(self) -> AgentLive: ...


@dataclass
class ApiContext:
    """Shared by every route. ``config`` and ``secrets`` are callables so a reload takes effect at the next request."""

    config: Callable[[], Config]
    db_path: Path
    now_ms: Callable[[], int]
    live: LiveView | None = None
    agent_id: str = ""
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(READ_SLOTS))

    @property
    def api(self) -> Api:
        return self.config().api or Api()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` over a fresh read-only connection, in a thread (at most ``READ_SLOTS`` at once).

        Raises the store's errors (``StoreError``: missing, too new, unreadable) for the caller to answer 503.
        """

        def work() -> T:
            conn = open_db(self.db_path, readonly=True)
            try:
                return fn(conn)
            finally:
                conn.close()

        async with self._slots:
            return await asyncio.to_thread(work)
