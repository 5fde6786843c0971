"""The SLA report: fetch what the core needs from the store, call ``evaluate``, hash its inputs, and hand the
result to ``reports.document`` for the JSON document (whose keys are stable and documented in README.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.reports import scope
from probe_agent.reports.alerts import cycle_verdict
from probe_agent.reports.document import report_document
from probe_agent.reports.evidence import evaluate_sla, read_evidence
from probe_agent.reports.inputs_hash import inputs_hash
from probe_agent.reports.json_types import ReportDoc
from probe_agent.reports.objective_inputs import objective_inputs
from probe_agent.reports.overlaps import Overlap, overlap_warning
from probe_agent.reports.sla_scope import sla_scope
from probe_agent.sla.credits import CreditInputs, CreditResult, compute_credit
from probe_agent.sla.evaluation import ScopeResult, SlaEvaluation
from probe_agent.sla.periods import Period


@dataclass(frozen=True)
class SlaReport:
    """The evaluation and everything around it; ``doc`` is the JSON document."""

    sla: Sla
    period: Period
    evaluation: SlaEvaluation | None
    credit: CreditResult | None
    doc: ReportDoc
    inputs_hash: str
    overlaps: tuple[Overlap, ...] = ()  # stored intervals that overlapped in what was read (resolved, warned)


def build_report(conn: sqlite3.Connection, config: Config, sla: Sla, period: Period, now_ms: int) -> SlaReport:
    """Evaluate ``sla`` over ``period`` as of ``now_ms`` (reads the store; never writes).

    The config is turned into the core's values once, here (``sla_scope``); below this only the timeline readers
    see it (each endpoint's fold parameters).
    """
    s = sla_scope(config, sla)
    evidence = read_evidence(conn, config, s, period, now_ms)
    counts, histogram = objective_inputs(conn, s, period, evidence, now_ms)
    warnings: list[str] = []
    if not evidence.has_data(period, now_ms):
        warnings.append("no data for this period: nothing was probed or imported for its endpoints yet")
    evaluation = evaluate_sla(s, period, evidence, now_ms, latency_histogram=histogram, result_counts=counts)
    # Credits are for billing cycles: any other window (--from/--to) shows availability, and says why no credit.
    not_a_cycle = s.not_a_cycle_reason(period)
    credit = cycle_credit(sla, evaluation) if not_a_cycle is None else None
    first = evidence.first_ms
    counting = s.spec.counting
    digest = inputs_hash(
        sla,
        period,
        evidence.intervals,
        evidence.applied,
        evidence.windows,
        config_inputs=s.config_inputs,
        objective_inputs=(counts, histogram),
        monitoring_start_ms=None if first is None else max(first, period.start_ms),
        reach_ms=counting.min_run * counting.unit_ms if counting is not None and evidence.runs_across else 0,
    )
    warnings += [overlap_warning(o) for o in evidence.overlaps]
    exclusions = [e for e in evidence.applied if e.start_ms < period.end_ms and e.end_ms > period.start_ms]
    verdict = cycle_verdict(conn, config, s, sla, period, evaluation, now_ms)
    doc = report_document(s, period, now_ms, evaluation, credit, exclusions, warnings, digest, not_a_cycle, verdict)
    return SlaReport(sla, period, evaluation, credit, doc, digest, evidence.overlaps)


def downtime_for_credit(result: ScopeResult) -> int:
    """Counted downtime in ms; with slice counting, the down slices' total length (what the contract counts): a
    unit per whole slice, a slice cut short by the cycle's edge its actual length, so never more than the cycle."""
    if result.slices is not None:
        return result.slices.down_ms
    return result.availability.counted_down_ms


def cycle_credit(sla: Sla, evaluation: SlaEvaluation | None) -> CreditResult | None:
    """The credit ``evaluation`` (of a billing cycle) pays under ``sla``'s terms; None without credit terms."""
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
