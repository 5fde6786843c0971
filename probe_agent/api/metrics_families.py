"""The families ``/metrics`` serves (``metrics.py`` says which series exist when): per endpoint, the daemon's own
figures, and per SLA. Built fresh for each scrape from plain values; prometheus-client writes the text."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from probe_agent.api.context import LATENCY_BUCKETS_S, AgentLive, EndpointLive
from probe_agent.api.metrics_store import STATE_CODES, SlaCounters, SlaFigures
from probe_agent.model import Outcome

_STATES = ", ".join(f"{code} {name}" for name, code in STATE_CODES.items())


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
        gauge("probe_agent_healthy", "1 when /healthz finds no problem, else 0", 1 if healthy else 0),
        gauge(
            "probe_agent_schedule_lateness_p99_seconds",
            "How late probes started against their slots, 99th percentile of the recent probes, in seconds",
            agent.schedule_lateness_p99_s,
        ),
        gauge(
            "probe_agent_schedule_lateness_max_seconds",
            "How late probes started against their slots, the most of the recent probes, in seconds",
            agent.schedule_lateness_max_s,
        ),
        CounterMetricFamily(
            "probe_agent_schedule_skipped_slots",
            "Probe slots missed since the daemon started (the probe before overran them; never replayed), slots",
            value=agent.skipped_slots,
        ),
        CounterMetricFamily(
            "probe_agent_schedule_shed_slots",
            "Probe slots left out under overload since the daemon started (more due than agent.max_concurrency and "
            "the machine can run; the time is no_data), slots",
            value=agent.shed_slots,
        ),
        gauge("probe_agent_probes_in_flight", "Probes running now, probes", agent.probes_in_flight),
        gauge(
            "probe_agent_probe_queue_depth",
            "Probes due but waiting for a free slot (agent.max_concurrency), probes",
            agent.probe_queue_depth,
        ),
        gauge(
            "probe_agent_store_queue_depth",
            "Submissions (results with their intervals) waiting for the store's writer, submissions",
            agent.writer_queue_depth,
        ),
        database_size(agent.database_bytes),
        CounterMetricFamily(
            "probe_agent_notification_failures",
            "Notification delivery attempts that failed since the daemon started (retried or not), attempts",
            value=agent.notification_failures,
        ),
    ]
    if agent.last_commit_at_s is not None:
        out.append(
            gauge(
                "probe_agent_store_last_commit_timestamp_seconds",
                "When the store's writer last committed, Unix time in seconds; absent before its first commit",
                agent.last_commit_at_s,
            )
        )
    if agent.last_commit_s is not None:
        out.append(
            gauge(
                "probe_agent_store_last_commit_duration_seconds",
                "How long the writer's last commit took, in seconds; absent before its first commit",
                agent.last_commit_s,
            )
        )
    if backlog is not None:
        out.append(
            gauge(
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


def gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def database_size(size: int | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "probe_agent_database_size_bytes", "Size of the SQLite database file in bytes (not its -wal file)"
    )
    if size is not None:
        family.add_metric([], size)
    return family
