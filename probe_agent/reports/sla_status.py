"""``status``'s SLA part: per SLA, its current cycle so far, in the figures its report shows.

Only what the status shows is computed: the SLA's data is read and evaluated as ``build_report`` does
(``reports/evidence.py``: same readers, same ``evaluate``), and the objectives' inputs, the inputs hash, the credit
and the document are left out (none of them changes availability, ``met`` or the budget). A test holds these
numbers equal to the full report's for the same SLA and ``now``. ``/metrics`` reads the same evaluation
(``sla_now``) for its per-SLA figures.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.reports.alerts import cycle_verdict
from probe_agent.reports.evidence import evaluate_sla, read_evidence
from probe_agent.reports.json_numbers import percent, seconds
from probe_agent.reports.json_types import SlaStatusJson
from probe_agent.reports.overlaps import Overlap
from probe_agent.reports.scope import sla_period
from probe_agent.reports.sla_scope import SlaScope, sla_scope
from probe_agent.sla.availability import coverage_warning
from probe_agent.sla.evaluation import SlaEvaluation
from probe_agent.sla.periods import Period
from probe_agent.sla.verdict import projection_shown


@dataclass(frozen=True)
class SlaNow:
    """One SLA's current cycle as of ``now``: its scope, the cycle, its evaluation (None: nothing measured in the
    cycle yet) and the overlapping stored intervals the evaluation read (resolved)."""

    sla: Sla
    scope: SlaScope
    period: Period
    evaluation: SlaEvaluation | None
    overlaps: tuple[Overlap, ...]


def sla_now(conn: sqlite3.Connection, config: Config, sla: Sla, now_ms: int) -> SlaNow:
    """``sla``'s current cycle (the one holding ``now_ms``) so far, evaluated as its report would be."""
    s = sla_scope(config, sla)
    period = sla_period(config, sla, now_ms)
    evidence = read_evidence(conn, config, s, period, now_ms)
    return SlaNow(sla, s, period, evaluate_sla(s, period, evidence, now_ms), evidence.overlaps)


def sla_status(
    conn: sqlite3.Connection, config: Config, now_ms: int
) -> tuple[list[SlaStatusJson], list[tuple[Overlap, ...]]]:
    """Per SLA, its current cycle so far: availability, target, error budget left and the projection; and per SLA
    the overlapping stored intervals its figures read (resolved; ``build_status`` warns about them once)."""
    rows: list[SlaStatusJson] = []
    overlaps: list[tuple[Overlap, ...]] = []
    for sla in config.slas:
        now = sla_now(conn, config, sla, now_ms)
        s, period, ev = now.scope, now.period, now.evaluation
        overall = None if ev is None else ev.overall
        budget = None if overall is None else overall.budget
        verdict = cycle_verdict(conn, config, s, sla, period, ev, now_ms)
        shown = projection_shown(period.start_ms, period.end_ms, now_ms)
        threshold = s.spec.coverage_warning
        low = None if overall is None or threshold is None else coverage_warning(overall.availability, threshold)
        rows.append(
            {
                "sla": sla.id,
                "cycle": period.label,
                "availability_percent": None if overall is None else percent(overall.value),
                "target_percent": float(sla.target),
                "met": None if overall is None else overall.met,
                "verdict": None if verdict is None else str(verdict),
                "budget_remaining_s": None if budget is None else seconds(budget.remaining_ms),
                "budget_allowed_s": None if budget is None else seconds(budget.allowed_ms),
                "projected_availability_percent": None
                if budget is None or not shown
                else percent(budget.projected_availability),
                "coverage_percent": None if overall is None else percent(overall.availability.coverage),
                "warnings": [] if low is None else [low],
            }
        )
        overlaps.append(now.overlaps)
    return rows, overlaps
