"""The SLA report: fetch what the core needs from the store, call ``evaluate``, hash its inputs, and hand the
result to ``reports.document`` for the JSON document (whose keys are stable and documented in README.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.latency import LatencyHistogram
from probe_agent.model import DAY_MS
from probe_agent.reports import scope
from probe_agent.reports.announce import announcement_times
from probe_agent.reports.document import report_document
from probe_agent.reports.inputs_hash import config_inputs, inputs_hash
from probe_agent.reports.objective_inputs import LeftOut, excluded_result_sums, objective_exclusions_of
from probe_agent.reports.outage_history import with_outage_history
from probe_agent.reports.overlaps import Overlap, overlap_warning, resolve_overlaps
from probe_agent.reports.timelines import load_intervals, monitoring_start
from probe_agent.sla.credits import CreditInputs, CreditResult, compute_credit
from probe_agent.sla.evaluation import ScopeResult, SlaEvaluation, evaluate
from probe_agent.sla.objectives import ResultCounts
from probe_agent.sla.periods import Period
from probe_agent.store import queries
from probe_agent.store.rows import Exclusion, RollupSums

# Intervals are read this far past the period's end, so an outage that crosses the end keeps its true end.
LOOKAHEAD_MS = 31 * DAY_MS
# With slice counting and min_run > 1, intervals, exclusions and maintenance windows are also read this far before
# the period's start (and exclusions and windows as far past its end as intervals), so a run of down slices that
# crosses an edge is judged on its whole length, with the same excluded time in both cycles.
LOOKBEHIND_MS = 31 * DAY_MS


@dataclass(frozen=True)
class SlaReport:
    """The evaluation and everything around it; ``doc`` is the JSON document."""

    sla: Sla
    period: Period
    evaluation: SlaEvaluation | None
    credit: CreditResult | None
    doc: dict[str, Any]
    inputs_hash: str
    overlaps: tuple[Overlap, ...] = ()  # stored intervals that overlapped in what was read (resolved, warned)


def applicable_exclusions(config: Config, sla: Sla, all_exclusions: list[Exclusion]) -> list[Exclusion]:
    """Exclusions scoped to this SLA, to a service it covers, or to one of its endpoints."""
    endpoints = set(scope.scope_endpoints(config, sla))
    return [
        e
        for e in all_exclusions
        if (e.scope_kind == "sla" and e.scope_id == sla.id)
        or (e.scope_kind == "service" and e.scope_id in sla.services)
        or (e.scope_kind == "endpoint" and e.scope_id in endpoints)
    ]


def split_exclusions(
    exclusions: list[Exclusion],
) -> tuple[list[tuple[int, int]], dict[str, list[tuple[int, int]]], dict[str, list[tuple[int, int]]]]:
    """(SLA-wide ranges, per-endpoint ranges, per-service ranges): an endpoint's or service's exclusion masks only
    that member, so another member's outage in the same window still counts."""
    sla_wide: list[tuple[int, int]] = []
    per_endpoint: dict[str, list[tuple[int, int]]] = {}
    per_service: dict[str, list[tuple[int, int]]] = {}
    for e in exclusions:
        if e.scope_kind == "endpoint":
            per_endpoint.setdefault(e.scope_id, []).append((e.start_ms, e.end_ms))
        elif e.scope_kind == "service":
            per_service.setdefault(e.scope_id, []).append((e.start_ms, e.end_ms))
        else:
            sla_wide.append((e.start_ms, e.end_ms))
    return sla_wide, per_endpoint, per_service


def build_report(conn: sqlite3.Connection, config: Config, sla: Sla, period: Period, now_ms: int) -> SlaReport:
    """Evaluate ``sla`` over ``period`` as of ``now_ms`` (reads the store; never writes)."""
    tz = scope.sla_zone(config, sla)
    endpoints = scope.scope_endpoints(config, sla)
    spec = scope.sla_spec(config, sla)
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
    applied = applicable_exclusions(config, sla, queries.exclusions(conn, start_ms=around_start, end_ms=around_end))
    exclusions = [e for e in applied if e.start_ms < period.end_ms and e.end_ms > period.start_ms]
    announced = announcement_times(conn, config, sla)
    windows = scope.maintenance_windows(config, sla, around_start, around_end, announced)
    sla_wide, per_endpoint, per_service = split_exclusions(applied)
    # Objectives leave out the results of excluded time (cut to the measured range by _objective_inputs).
    left_out = objective_exclusions_of(spec, windows, sla_wide, per_endpoint, per_service)
    counts, histogram = _objective_inputs(conn, sla, endpoints, period, now_ms, left_out)
    evaluation: SlaEvaluation | None = None
    warnings: list[str] = []
    if first is None or first >= min(now_ms, period.end_ms):
        warnings.append("no data for this period: nothing was probed or imported for its endpoints yet")
    else:
        evaluation = evaluate(
            spec,
            period,
            intervals,
            now_ms,
            exclusions=sla_wide,
            endpoint_exclusions=per_endpoint,
            service_exclusions=per_service,
            maintenance=windows,
            probe_interval_ms={e: config.endpoint(e).interval for e in endpoints},
            monitoring_start_ms=first if first > period.start_ms and not whole_cycle(sla) else None,
            latency_histogram=histogram,
            result_counts=counts,
            slice_origin_ms=scope.billing_cycle_at(config, sla, period.start_ms).start_ms,
        )
    # Credits are for billing cycles: any other window (--from/--to) shows availability, and says why no credit.
    not_a_cycle = scope.not_a_cycle_reason(config, sla, period)
    credit = _credit(sla, evaluation) if not_a_cycle is None else None
    digest = inputs_hash(
        sla,
        period,
        intervals,
        applied,
        windows,
        config_inputs=config_inputs(config, sla, endpoints, str(tz.key)),
        objective_inputs=(counts, histogram),
        monitoring_start_ms=None if first is None else max(first, period.start_ms),
        reach_ms=spec.counting.min_run * spec.counting.unit_ms if spec.counting is not None and runs_across else 0,
    )
    warnings += [overlap_warning(o) for o in overlaps]
    doc = report_document(config, sla, period, tz, now_ms, evaluation, credit, exclusions, warnings, digest)
    if not_a_cycle is not None:
        doc["claim_deadline"] = None
    no_fee = "no credit: the SLA states no credit terms (credits.fee)"
    doc["no_credit_reason"] = not_a_cycle or (no_fee if credit is None else None)
    return SlaReport(sla, period, evaluation, credit, doc, digest, tuple(overlaps))


def whole_cycle(sla: Sla) -> bool:
    """Whether the whole cycle counts, even the time before monitoring began: under a contract preset (``use:``).

    A contract's formula (minutes in the month - downtime) / minutes in the month does not know when you started
    watching, so a preset counts that time like any other unseen time (its ``no_data: up``: presumed available)
    and the fee is not prorated. A hand-written SLA keeps the partial first cycle: measured from the first result,
    fee prorated.
    """
    return sla.use is not None


def _objective_inputs(
    conn: sqlite3.Connection, sla: Sla, endpoints: list[str], period: Period, now_ms: int, left_out: LeftOut
) -> tuple[ResultCounts | None, LatencyHistogram | None]:
    """Counts and histogram of the measured range, less each endpoint's results in excluded time (``left_out``)."""
    objectives = sla.objectives
    if objectives.latency is None and objectives.error_rate is None:
        return None, None
    end = min(now_ms, period.end_ms)
    if end <= period.start_ms:
        return ResultCounts(), LatencyHistogram()
    with_histograms = objectives.latency is not None
    sums = queries.rollup_sums(conn, period.start_ms, end, endpoints, with_histograms=with_histograms)
    total = RollupSums.merged(sums.values())
    total.subtract(excluded_result_sums(conn, left_out, period.start_ms, end, with_histograms=with_histograms))
    counts = ResultCounts(up=total.n_up, degraded=total.n_degraded, down=total.n_down, unknown=total.n_unknown)
    return counts, total.histogram


def downtime_for_credit(result: ScopeResult) -> int:
    """Counted downtime in ms; with slice counting, the down slices' total length (what the contract counts): a
    unit per whole slice, a slice cut short by the cycle's edge its actual length, so never more than the cycle."""
    if result.slices is not None:
        return result.slices.down_ms
    return result.availability.counted_down_ms


def _credit(sla: Sla, evaluation: SlaEvaluation | None) -> CreditResult | None:
    terms = scope.credit_terms(sla)
    if terms is None:
        return None
    if evaluation is None:
        return compute_credit(terms, CreditInputs(None, 0, 0, (), 1, 1))
    overall = evaluation.overall
    inputs = CreditInputs(
        availability=overall.value,
        downtime_ms=downtime_for_credit(overall),
        allowance_ms=int(overall.budget.allowed_ms),
        # Credited once, in the cycle it started in; an SLA with one explicit cycle has no earlier cycle to have
        # credited an incident that began before it, so there it is credited in that cycle.
        incident_durations_ms=(
            evaluation.overall.incident_counted_ms
            if sla.cycle.period == "explicit"
            else evaluation.credited_incident_ms
        ),
        period_ms=evaluation.full_period.duration_ms,
        covered_period_ms=evaluation.period.duration_ms,
    )
    return compute_credit(terms, inputs)
