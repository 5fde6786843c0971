"""What the SLA alerts are judged on, read from the store: per SLA, its current cycle at ``now`` as ``status``
reads it (``reports/evidence.py``: same readers, same ``evaluate``), with the objectives' inputs as the report
reads them (``reports/objective_inputs.py``), turned into the values ``sla/alerts.py`` needs.

The daemon calls ``alert_inputs`` every minute, hands each result to ``sla.alerts.evaluate_alerts`` and the
outcome to ``sla.alert_state.step``; an SLA without data in its cycle yet gives None (its alerts are left as they
are). The counted timeline covers the cycle so far and, in the first 6 h of a cycle, the time before its start
back to ``now - 6 h`` (the burn-rate windows slide across the cycle's edge; the alerts' keys do not: each cycle
has its own). That earlier piece is evaluated on its own as a report window (``--from/--to``) would be, so its
exclusions, maintenance windows and policies are the SLA's as everywhere; before monitoring began it is empty, and
an SLA with one explicit cycle has none.
Burn rates are time-based, also for an SLA that counts slices (as its error budget is).
"""

from __future__ import annotations

import sqlite3

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.reports.evidence import evaluate_sla, read_evidence
from probe_agent.reports.objective_inputs import objective_inputs
from probe_agent.reports.scope import sla_period
from probe_agent.reports.sla_scope import SlaScope, sla_scope
from probe_agent.sla.alerts import LOOKBACK_MS, AlertInputs, CountedSpan, counted_spans, cycle_so_far
from probe_agent.sla.evaluation import SlaEvaluation
from probe_agent.sla.periods import Period
from probe_agent.sla.verdict import Verdict, verdict


def alert_inputs(conn: sqlite3.Connection, config: Config, now_ms: int) -> dict[str, AlertInputs | None]:
    """Per SLA id (config order), what its alerts are judged on at ``now_ms`` (None: no data in its cycle yet).
    Reads the store; never writes."""
    return {sla.id: sla_alert_inputs(conn, config, sla, now_ms) for sla in config.slas}


def sla_alert_inputs(conn: sqlite3.Connection, config: Config, sla: Sla, now_ms: int) -> AlertInputs | None:
    """One SLA's alert inputs at ``now_ms`` (see the module docstring); None when its cycle has no data yet."""
    s = sla_scope(config, sla)
    period = sla_period(config, sla, now_ms)
    evidence = read_evidence(conn, config, s, period, now_ms)
    counts, histogram = objective_inputs(conn, s, period, evidence, now_ms)
    evaluation = evaluate_sla(s, period, evidence, now_ms, latency_histogram=histogram, result_counts=counts)
    if evaluation is None:
        return None
    timeline = counted_timeline(conn, config, s, sla, period, evaluation, now_ms)
    return AlertInputs(
        sla=sla.id,
        target=evaluation.target,
        cycle=cycle_so_far(evaluation),
        timeline=timeline,
        error_rate=evaluation.error_rate,
        latency=evaluation.latency,
    )


def counted_timeline(
    conn: sqlite3.Connection,
    config: Config,
    s: SlaScope,
    sla: Sla,
    period: Period,
    evaluation: SlaEvaluation,
    now_ms: int,
) -> tuple[CountedSpan, ...]:
    """The SLA's counted timeline of ``period`` (evaluated at ``now_ms``), and in the first 6 h of a cycle the time
    before it back to ``now - 6 h``: what the burn-rate windows read (alerts, and the report's verdict)."""
    overall = evaluation.overall
    timeline = counted_spans(overall.buckets, overall.availability.policies)
    # The cycle's buckets start at its start, or at the start of monitoring (before which nothing is known); an SLA
    # with one explicit cycle has no time before it.
    start = period.start_ms
    if evaluation.period.start_ms == start and now_ms - LOOKBACK_MS < start and sla.cycle.period != "explicit":
        timeline = _before_cycle(conn, config, s, Period(now_ms - LOOKBACK_MS, start, "lookback"), now_ms) + timeline
    return timeline


def cycle_verdict(
    conn: sqlite3.Connection,
    config: Config,
    s: SlaScope,
    sla: Sla,
    period: Period,
    evaluation: SlaEvaluation | None,
    now_ms: int,
) -> Verdict | None:
    """``sla/verdict.py``'s word for ``period`` at ``now_ms`` (the burn-rate windows read only while it runs)."""
    if evaluation is None:
        return None
    complete = now_ms >= period.end_ms
    timeline = () if complete else counted_timeline(conn, config, s, sla, period, evaluation, now_ms)
    return verdict(evaluation, complete=complete, now_ms=now_ms, timeline=timeline)


def _before_cycle(
    conn: sqlite3.Connection, config: Config, s: SlaScope, window: Period, now_ms: int
) -> tuple[CountedSpan, ...]:
    """The counted timeline of ``window`` (the time before the cycle that the burn-rate windows reach)."""
    evaluation = evaluate_sla(s, window, read_evidence(conn, config, s, window, now_ms), now_ms)
    if evaluation is None:
        return ()
    return counted_spans(evaluation.overall.buckets, evaluation.overall.availability.policies)
