"""What the store holds for one SLA around one period, read once, and its evaluation by the core.

``read_evidence`` reads the timelines (stored intervals, open fold spans, the earlier intervals of outages already
going on), the monitoring start, the exclusions and the maintenance windows; ``evaluate_sla`` hands them to
``sla.evaluation.evaluate``. ``build_report`` adds the objectives' inputs, the credit, the hash and the document;
``status`` needs only the evaluation, so it stops here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from probe_agent.config.document import Config
from probe_agent.latency import LatencyHistogram
from probe_agent.model import DAY_MS, StateInterval
from probe_agent.reports.announce import announcement_times
from probe_agent.reports.outage_history import with_outage_history
from probe_agent.reports.overlaps import Overlap, resolve_overlaps
from probe_agent.reports.sla_scope import SlaScope
from probe_agent.reports.timelines import load_intervals, monitoring_start
from probe_agent.sla.evaluation import SlaEvaluation, evaluate
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.objectives import ResultCounts
from probe_agent.sla.periods import Period
from probe_agent.store import queries
from probe_agent.store.rows import Exclusion

# Intervals are read this far past the period's end, so an outage that crosses the end keeps its true end.
LOOKAHEAD_MS = 31 * DAY_MS
# With slice counting and min_run > 1, intervals, exclusions and maintenance windows are also read this far before
# the period's start (and exclusions and windows as far past its end as intervals), so a run of down slices that
# crosses an edge is judged on its whole length, with the same excluded time in both cycles.
LOOKBEHIND_MS = 31 * DAY_MS

Ranges = list[tuple[int, int]]


@dataclass(frozen=True)
class Evidence:
    """One SLA's data around one period (times in epoch ms).

    ``intervals``: per endpoint, every agent's intervals from ``load_start_ms`` (overlaps resolved, earlier
    intervals of ongoing outages added); ``first_ms``: when monitoring of its endpoints began (None: never);
    ``applied``: the SLA's exclusions over everything read (``sla_wide``/``per_endpoint``/``per_service`` split
    them by what they mask); ``windows``: its maintenance windows over the same range.
    """

    intervals: dict[str, list[StateInterval]]
    overlaps: tuple[Overlap, ...]
    first_ms: int | None
    load_start_ms: int
    runs_across: bool  # slice runs are followed across the period's edges (min_run > 1)
    applied: list[Exclusion]
    windows: list[MaintenanceWindow]
    sla_wide: Ranges
    per_endpoint: dict[str, Ranges]
    per_service: dict[str, Ranges]

    def has_data(self, period: Period, now_ms: int) -> bool:
        """Whether anything was measured in ``period`` before ``now_ms`` (else there is nothing to evaluate)."""
        return self.first_ms is not None and self.first_ms < min(now_ms, period.end_ms)


def split_exclusions(exclusions: list[Exclusion]) -> tuple[Ranges, dict[str, Ranges], dict[str, Ranges]]:
    """(SLA-wide ranges, per-endpoint ranges, per-service ranges): an endpoint's or service's exclusion masks only
    that member, so another member's outage in the same window still counts."""
    sla_wide: Ranges = []
    per_endpoint: dict[str, Ranges] = {}
    per_service: dict[str, Ranges] = {}
    for e in exclusions:
        if e.scope_kind == "endpoint":
            per_endpoint.setdefault(e.scope_id, []).append((e.start_ms, e.end_ms))
        elif e.scope_kind == "service":
            per_service.setdefault(e.scope_id, []).append((e.start_ms, e.end_ms))
        else:
            sla_wide.append((e.start_ms, e.end_ms))
    return sla_wide, per_endpoint, per_service


def read_evidence(conn: sqlite3.Connection, config: Config, s: SlaScope, period: Period, now_ms: int) -> Evidence:
    """Read what ``s`` needs to be evaluated over ``period`` as of ``now_ms`` (reads the store; never writes).

    ``config`` only reaches the timeline readers (each endpoint's fold parameters, the agent's heartbeat).
    """
    endpoints = list(s.endpoints)
    spec = s.spec
    load_end = min(now_ms, period.end_ms + LOOKAHEAD_MS)
    runs_across = spec.counting is not None and spec.counting.min_run > 1
    load_start = period.start_ms - LOOKBEHIND_MS if runs_across else period.start_ms
    # Bad stored state (two daemons of one agent id wrote at once) is resolved by a fixed rule and warned about.
    intervals, overlaps = resolve_overlaps(
        with_outage_history(conn, load_intervals(conn, config, endpoints, load_start, load_end))
    )
    first = monitoring_start(conn, config, endpoints)
    # Exclusions and maintenance windows are read over all the data handed over (an outage's whole length, the
    # look-ahead, slice runs' look-behind): an incident that crosses the cycle's edge counts only its non-excluded
    # time, wherever that exclusion lies. The report lists those of the period; the others only serve the figures.
    around_start = min([load_start, *(iv.start_ms for ivs in intervals.values() for iv in ivs)])
    around_end = max(period.end_ms, load_end)
    applied = s.applicable(queries.exclusions(conn, start_ms=around_start, end_ms=around_end))
    windows = s.maintenance_windows(around_start, around_end, announcement_times(conn, s.agent_id, s.sla))
    sla_wide, per_endpoint, per_service = split_exclusions(applied)
    return Evidence(
        intervals=intervals,
        overlaps=tuple(overlaps),
        first_ms=first,
        load_start_ms=load_start,
        runs_across=runs_across,
        applied=applied,
        windows=windows,
        sla_wide=sla_wide,
        per_endpoint=per_endpoint,
        per_service=per_service,
    )


def evaluate_sla(
    s: SlaScope,
    period: Period,
    evidence: Evidence,
    now_ms: int,
    *,
    latency_histogram: LatencyHistogram | None = None,
    result_counts: ResultCounts | None = None,
    unmeasured_before_start: bool = False,
) -> SlaEvaluation | None:
    """The core's evaluation of ``evidence``; None when nothing was measured in the period yet.

    The objectives' inputs only decide ``latency`` and ``error_rate`` (availability, budget and ``met`` never
    read them): without them both objectives show as having no samples. Time before monitoring began is cut off,
    unless the SLA counts the whole cycle (a preset presuming unseen time available); ``unmeasured_before_start``
    cuts it off always (the status page's day figures: a day before monitoring began has none).
    """
    if not evidence.has_data(period, now_ms):
        return None
    first = evidence.first_ms
    assert first is not None  # has_data
    return evaluate(
        s.spec,
        period,
        evidence.intervals,
        now_ms,
        exclusions=evidence.sla_wide,
        endpoint_exclusions=evidence.per_endpoint,
        service_exclusions=evidence.per_service,
        maintenance=evidence.windows,
        probe_interval_ms=s.probe_interval_ms,
        monitoring_start_ms=first
        if first > period.start_ms and (unmeasured_before_start or not whole_cycle(s))
        else None,
        latency_histogram=latency_histogram,
        result_counts=result_counts,
        slice_origin_ms=s.billing_cycle_at(period.start_ms).start_ms,
    )


def whole_cycle(s: SlaScope) -> bool:
    """Whether the whole cycle counts, even the time before monitoring began: under a contract preset (``use:``).

    A contract's formula (minutes in the month - downtime) / minutes in the month does not know when you started
    watching, so a preset counts that time like any other unseen time (its ``no_data: up``: presumed available)
    and the fee is not prorated. A hand-written SLA keeps the partial first cycle: measured from the first result,
    fee prorated.
    """
    return s.sla.use is not None
