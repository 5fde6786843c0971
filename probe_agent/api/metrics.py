"""``GET /metrics``: Prometheus' text exposition, written by prometheus-client from the families built here.

Every name starts ``probe_agent_``; every HELP says the unit. Inside the daemon the endpoint and agent figures are
its live ones (``LiveView``), read per scrape; the SLA figures and the notification backlog come from the store,
reused for ``api.metrics.cache`` ms (``metrics_store.py``). Under ``probe-agent serve`` the endpoints are what
``status`` shows, the SLAs the same as in the daemon, and of the agent's own figures only the database's size: no
daemon runs in that process, so nothing there counts results or schedules probes.

Series, and when one is left out rather than written as NaN (so ``sum()`` and ``count()`` stay meaningful):

- per endpoint, at most 4: ``state`` always; ``up`` while there is a verdict (not new, not unknown, and under
  ``serve`` not while no daemon probes); ``last_latency_seconds`` while the last result has a latency;
  ``cert_days_left`` once a TLS certificate was seen. With ``api.metrics.per_endpoint: true`` (daemon only) 18
  more: ``results_total`` per outcome (4) and the ``probe_duration_seconds`` histogram (12 buckets, sum, count).
- per SLA, at most 8 (``sla_families``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

import probe_agent
from probe_agent.api.auth import CONTEXT
from probe_agent.api.context import LATENCY_BUCKETS_S, AgentLive, ApiContext, EndpointLive
from probe_agent.api.metrics_store import STATE_CODES, SlaCounters, SlaFigures, StoreCache
from probe_agent.model import Outcome
from probe_agent.store.schema import StoreError

log = logging.getLogger("probe_agent.api")

CACHE = web.AppKey("metrics_cache", StoreCache)
_STATES = ", ".join(f"{code} {name}" for name, code in STATE_CODES.items())


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    cache = request.app[CACHE]
    live = ctx.live
    try:
        figures = await cache.get(ctx)
    except (StoreError, sqlite3.Error):
        if live is None or cache.figures is None:
            raise  # nothing else to show: 503
        # The daemon's own figures matter most when its store is in trouble: serve them, with the last SLA figures
        # (their timestamp tells how old they are).
        log.warning("/metrics: the store cannot be read; serving the SLA figures read before", exc_info=True)
        figures = cache.figures
    families: list[Metric] = [_info(ctx)]
    if live is not None:
        families += endpoint_families(live.endpoints(), per_endpoint=ctx.api.metrics.per_endpoint)
        families += agent_families(live.agent(), healthy=not live.problems(), backlog=figures.backlog)
    else:
        families += endpoint_families(figures.endpoints or [], per_endpoint=False)
        families += [_database_size(_file_size(ctx))]
    families += sla_families(figures.slas, cache.counters)
    if cache.read_ms is not None:
        families.append(
            _gauge(
                "probe_agent_sla_figures_timestamp_seconds",
                "When the SLA figures (and the notification backlog) were read from the store, Unix time in seconds",
                cache.read_ms / 1000,
            )
        )
    # The classic text format (0.0.4): what every Prometheus 2.x parses; our names need none of 1.0.0's escaping.
    return web.Response(body=exposition(families), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def exposition(families: Iterable[Metric]) -> bytes:
    """The text format of ``families`` (prometheus-client writes it: escaping, float spelling, ``+Inf``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families)))
    return generate_latest(registry)


class _Fixed:
    """A collector of families built for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _info(ctx: ApiContext) -> Metric:
    info = GaugeMetricFamily(
        "probe_agent_info",
        "Always 1; labels: the agent id, mode (daemon: probing in this process; serve: probe-agent serve, reading "
        "the database only) and the version",
        labels=["agent", "mode", "version"],
    )
    info.add_metric([ctx.agent_id, "daemon" if ctx.live is not None else "serve", probe_agent.__version__], 1)
    return info


def endpoint_families(endpoints: list[EndpointLive], *, per_endpoint: bool) -> list[Metric]:
    """The per-endpoint series (module docstring); per-endpoint counters only when ``per_endpoint``."""
    state = GaugeMetricFamily(
        "probe_agent_endpoint_state", f"The endpoint's state now, as a code: {_STATES}", labels=["endpoint"]
    )
    up = GaugeMetricFamily(
        "probe_agent_endpoint_up",
        "1 when the endpoint is up, degraded or suspect (not yet confirmed down), 0 when down; absent without a "
        "verdict (new, unknown, or no daemon probing)",
        labels=["endpoint"],
    )
    latency = GaugeMetricFamily(
        "probe_agent_endpoint_last_latency_seconds",
        "The last result's total time in seconds (DNS, connect, TLS, answer); absent when it has none",
        labels=["endpoint"],
    )
    cert = GaugeMetricFamily(
        "probe_agent_endpoint_cert_days_left",
        "Days until the certificate the endpoint served at its last result expires (negative: expired); absent "
        "without TLS",
        labels=["endpoint"],
    )
    for ep in endpoints:
        labels = [ep.endpoint]
        state.add_metric(labels, STATE_CODES.get(ep.phase, 0))
        if ep.up is not None:
            up.add_metric(labels, ep.up)
        if ep.latency_s is not None:
            latency.add_metric(labels, ep.latency_s)
        if ep.cert_days_left is not None:
            cert.add_metric(labels, ep.cert_days_left)
    families: list[Metric] = [state, up, latency, cert]
    if per_endpoint:
        families += _per_endpoint(endpoints)
    return families


def _per_endpoint(endpoints: list[EndpointLive]) -> list[Metric]:
    results = CounterMetricFamily(
        "probe_agent_endpoint_results",
        "Results of the endpoint stored since the daemon started, per outcome (up, degraded, down, unknown)",
        labels=["endpoint", "outcome"],
    )
    duration = HistogramMetricFamily(
        "probe_agent_endpoint_probe_duration_seconds",
        "Latency of the endpoint's results since the daemon started, in seconds (results without one not counted)",
        labels=["endpoint"],
    )
    bounds = [*(repr(b) for b in LATENCY_BUCKETS_S), "+Inf"]
    for ep in endpoints:
        for outcome in Outcome:
            results.add_metric([ep.endpoint, outcome.value], ep.results.get(outcome.value, 0))
        counts = ep.latency_counts or (0,) * len(bounds)
        cumulative, total = [], 0
        for bound, n in zip(bounds, counts, strict=True):
            total += n
            cumulative.append((bound, float(total)))
        duration.add_metric([ep.endpoint], cumulative, ep.latency_sum_s)
    return [results, duration]


def agent_families(agent: AgentLive, *, healthy: bool, backlog: int | None) -> list[Metric]:
    """The daemon's own figures (``AgentLive`` says what each one measures)."""
    results = CounterMetricFamily(
        "probe_agent_results",
        "Results stored since the daemon started, per outcome and error kind (none: the result has no error)",
        labels=["outcome", "error_kind"],
    )
    for (outcome, kind), n in sorted(agent.results.items()):
        results.add_metric([outcome, kind], n)
    out: list[Metric] = [
        results,
        _gauge("probe_agent_healthy", "1 when /healthz finds no problem, else 0", 1 if healthy else 0),
        _gauge(
            "probe_agent_schedule_lateness_p99_seconds",
            "How late probes started against their slots, 99th percentile of the recent probes, in seconds",
            agent.schedule_lateness_p99_s,
        ),
        _gauge(
            "probe_agent_schedule_lateness_max_seconds",
            "How late probes started against their slots, the most of the recent probes, in seconds",
            agent.schedule_lateness_max_s,
        ),
        CounterMetricFamily(
            "probe_agent_schedule_skipped_slots",
            "Probe slots missed since the daemon started (the probe before overran them; never replayed), slots",
            value=agent.skipped_slots,
        ),
        _gauge("probe_agent_probes_in_flight", "Probes running now, probes", agent.probes_in_flight),
        _gauge(
            "probe_agent_probe_queue_depth",
            "Probes due but waiting for a free slot (agent.max_concurrency), probes",
            agent.probe_queue_depth,
        ),
        _gauge(
            "probe_agent_store_queue_depth",
            "Submissions (results with their intervals) waiting for the store's writer, submissions",
            agent.writer_queue_depth,
        ),
        _database_size(agent.database_bytes),
        CounterMetricFamily(
            "probe_agent_notification_failures",
            "Notification delivery attempts that failed since the daemon started (retried or not), attempts",
            value=agent.notification_failures,
        ),
    ]
    if agent.last_commit_at_s is not None:
        out.append(
            _gauge(
                "probe_agent_store_last_commit_timestamp_seconds",
                "When the store's writer last committed, Unix time in seconds; absent before its first commit",
                agent.last_commit_at_s,
            )
        )
    if agent.last_commit_s is not None:
        out.append(
            _gauge(
                "probe_agent_store_last_commit_duration_seconds",
                "How long the writer's last commit took, in seconds; absent before its first commit",
                agent.last_commit_s,
            )
        )
    if backlog is not None:
        out.append(
            _gauge(
                "probe_agent_notification_backlog",
                "Notification deliveries pending in the outbox (due, or waiting to be retried), deliveries; read "
                "with the SLA figures (at most api.metrics.cache old)",
                backlog,
            )
        )
    return out


def sla_families(slas: list[SlaFigures], counters: SlaCounters) -> list[Metric]:
    """Per SLA, its current cycle so far (label ``sla``): 8 series, fewer where a figure does not exist."""
    label = ["sla"]
    fams: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        "availability": GaugeMetricFamily(
            "probe_agent_sla_availability_ratio",
            "Availability of the current cycle so far, 0..1 (as the report computes it); absent while nothing "
            "was counted",
            labels=label,
        ),
        "target": GaugeMetricFamily(
            "probe_agent_sla_target_ratio", "The SLA's availability target, 0..1", labels=label
        ),
        "budget_s": GaugeMetricFamily(
            "probe_agent_sla_error_budget_remaining_seconds",
            "Error budget left in the current cycle, in seconds of counted downtime (negative: overspent); absent "
            "before the cycle has data",
            labels=label,
        ),
        "budget_ratio": GaugeMetricFamily(
            "probe_agent_sla_error_budget_remaining_ratio",
            "Error budget left in the current cycle as a share of the cycle's budget (1: untouched, 0: spent, "
            "below 0: overspent); absent with a 100% target or before the cycle has data",
            labels=label,
        ),
        "coverage": GaugeMetricFamily(
            "probe_agent_sla_coverage_ratio",
            "Share of the current cycle so far (less excluded time) with a definite up, degraded or down result, "
            "0..1; absent before the cycle has data",
            labels=label,
        ),
        "credit": GaugeMetricFamily(
            "probe_agent_sla_credit_percent",
            "Service credit the current cycle so far would pay, percent of the charged fee; absent without credit "
            "terms",
            labels=label,
        ),
        "counted": CounterMetricFamily(
            "probe_agent_sla_counted_seconds",
            "Seconds the contract counts (up plus down, after exclusions, maintenance and policies) added to the "
            "current cycle since this process first read the SLA, in seconds",
            labels=label,
        ),
        "down": CounterMetricFamily(
            "probe_agent_sla_counted_down_seconds",
            "Counted down seconds added to the current cycle since this process first read the SLA, in seconds; "
            "burn rate = increase(this) / increase(counted seconds) / (1 - target)",
            labels=label,
        ),
    }
    for f in slas:
        values = {
            "availability": f.availability,
            "target": f.target,
            "budget_s": f.budget_remaining_s,
            "budget_ratio": f.budget_remaining_ratio,
            "coverage": f.coverage,
            "credit": f.credit_percent,
            "counted": counters.counted_ms.get(f.sla, 0) / 1000,
            "down": counters.down_ms.get(f.sla, 0) / 1000,
        }
        for key, value in values.items():
            if value is not None:
                fams[key].add_metric([f.sla], value)
    return list(fams.values())


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def _database_size(size: int | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "probe_agent_database_size_bytes", "Size of the SQLite database file in bytes (not its -wal file)"
    )
    if size is not None:
        family.add_metric([], size)
    return family


def _file_size(ctx: ApiContext) -> int | None:
    try:
        return os.stat(ctx.db_path).st_size
    except OSError:
        return None


def add_routes(app: web.Application) -> None:
    app[CACHE] = StoreCache()
    app.router.add_get("/metrics", metrics)
