"""The report document: the JSON shape of an evaluation, with stable keys documented in README.md ("Report JSON").

Percentages are numbers rounded half-up to 6 decimals for display; ``availability_exact`` carries the exact
fraction that decided ``met``. Money is a string. Times are ISO 8601 in the SLA's zone; durations are seconds with
millisecond precision.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from probe_agent.model import iso
from probe_agent.reports.days import daily_bars
from probe_agent.reports.json_numbers import local_iso, percent, seconds
from probe_agent.reports.json_types import (
    CountingJson,
    CreditJson,
    EndpointJson,
    ExclusionJson,
    IncidentJson,
    MaintenanceJson,
    ObjectivesJson,
    ReportDoc,
    ReportHead,
    ReportMeasured,
    ReportTail,
    ScopeJson,
    SecondsJson,
    ServiceJson,
)
from probe_agent.reports.sla_scope import SlaScope
from probe_agent.sla.availability import Availability
from probe_agent.sla.credits import CreditResult
from probe_agent.sla.evaluation import ScopeResult, SlaEvaluation
from probe_agent.sla.exclusions import WindowDecision
from probe_agent.sla.incidents import Incident
from probe_agent.sla.periods import Period
from probe_agent.sla.verdict import Verdict, projection_shown
from probe_agent.store.rows import Exclusion

_MICRO = Decimal("0.001")  # ms


def _availability_block(a: Availability) -> SecondsJson:
    b = a.buckets
    return {
        "total": seconds(b.total_ms),
        "up": seconds(b.up_ms),
        "degraded": seconds(b.degraded_ms),
        "down": seconds(b.down_ms),
        "unknown": seconds(b.unknown_ms),
        "no_data": seconds(b.no_data_ms),
        "excluded": seconds(b.excluded_ms),
        "counted_up": seconds(a.counted_up_ms),
        "counted_down": seconds(a.counted_down_ms),
    }


def incident_json(i: Incident, tz: ZoneInfo) -> IncidentJson:
    return {
        "start": local_iso(i.start_ms, tz),
        "end": None if i.ongoing else local_iso(i.end_ms, tz),
        "duration_s": seconds(i.duration_ms),
        "down_s": seconds(i.down_ms),
        "cause": i.cause,
        "endpoints": list(i.endpoints),
        "ongoing": i.ongoing,
    }


def scope_json(result: ScopeResult, tz: ZoneInfo) -> ScopeJson:
    a = result.availability
    out: ScopeJson = {
        "availability_percent": percent(result.value),
        "availability_exact": None if result.value is None else str(result.value),
        "met": result.met,
        "time_availability_percent": percent(a.availability),
        "seconds": _availability_block(a),
        "coverage_percent": percent(a.coverage),
        "incidents": [incident_json(i, tz) for i in result.incidents],
    }
    if result.slices is not None:
        s = result.slices
        out["slices"] = {
            "unit_s": seconds(s.counting.unit_ms),
            "partial": s.counting.partial,
            "min_run": s.counting.min_run,
            "up": s.up_slices,
            "down": s.down_slices,
            "excluded": s.excluded_slices,
            "short_runs_forgiven": s.short_runs_forgiven,
        }
    return out


def credit_json(credit: CreditResult, provisional: bool) -> CreditJson:
    """The credit with money and percents as strings, never floats; ``provisional`` while the cycle runs."""
    return {
        "percent": str(credit.percent),
        "percent_exact": str(credit.percent_exact),
        "amount": str(credit.amount),
        "currency": credit.currency,
        "charged_fee": str(credit.charged_fee),
        "rule": credit.rule,
        "steps": list(credit.steps),
        "components": [{"model": c.model, "percent": str(c.percent), "rule": c.rule} for c in credit.components],
        "capped": credit.capped,
        "below_minimum": credit.below_minimum,
        "provisional": provisional,
    }


def report_document(
    s: SlaScope,
    period: Period,
    now_ms: int,
    ev: SlaEvaluation | None,
    credit: CreditResult | None,
    exclusions: list[Exclusion],
    warnings: list[str],
    inputs_hash: str,
    not_a_cycle: str | None,
    verdict: Verdict | None = None,
) -> ReportDoc:
    """The document of one SLA over ``period`` as of ``now_ms``; ``ev`` None: nothing measured (headline only).

    ``not_a_cycle``: why ``period`` is not a billing cycle (then no credit and no claim deadline), else None.
    ``verdict``: ``sla/verdict.py``'s word (``reports/alerts.cycle_verdict``).
    """
    sla, tz = s.sla, s.tz
    deadline = s.claim_deadline(period)
    counting: CountingJson = {"method": sla.counting.method}
    if sla.counting.method == "slices":
        counting["unit_s"] = sla.counting.unit / 1000
        counting["partial"] = sla.counting.partial
        counting["min_run"] = sla.counting.min_run
    cycle_start, cycle_end = local_iso(period.start_ms, tz), local_iso(period.end_ms, tz)
    cycle_arg = (
        f"--cycle {period.label}"
        if sla.cycle.period == "monthly" and len(period.label) == 7
        else (f"--from {cycle_start} --to {cycle_end}")
    )
    head: ReportHead = {
        "sla": sla.id,
        "customer": sla.customer,
        "provider": sla.provider,
        "preset": sla.use,
        "cycle": {
            "label": period.label,
            "start": cycle_start,
            "end": cycle_end,
            "timezone": str(tz.key),
            "complete": now_ms >= period.end_ms,
            "measured_until": local_iso(min(max(now_ms, period.start_ms), period.end_ms), tz),
            "monitoring_start": None
            if ev is None or ev.period.start_ms == period.start_ms
            else local_iso(ev.period.start_ms, tz),
            "covered_fraction": None if ev is None else round(float(ev.covered), 6),
        },
        "target_percent": float(sla.target),
        "counting": counting,
        "policies": {"unknown": sla.unknown, "no_data": sla.no_data, "degraded_counts_as": sla.degraded_counts_as},
        "availability_percent": None,
        "availability_exact": None,
        "met": None,
        "verdict": None if verdict is None else str(verdict),
        "generated_at": iso(now_ms),
        "inputs_hash": inputs_hash,
    }
    measured: ReportMeasured = {}
    if ev is not None:
        overall = scope_json(ev.overall, tz)
        head["availability_percent"] = overall["availability_percent"]
        head["availability_exact"] = overall["availability_exact"]
        head["met"] = overall["met"]
        measured = _measured(s, ev, overall, projection_shown(period.start_ms, period.end_ms, now_ms))
        warnings = [*warnings, *ev.warnings]
    no_fee = "no credit: the SLA states no credit terms (credits.fee)"
    tail: ReportTail = {
        "exclusions": [_exclusion_json(e, tz) for e in exclusions],
        "credit": None if credit is None else credit_json(credit, provisional=now_ms < period.end_ms),
        "claim_deadline": None if deadline is None or not_a_cycle is not None else deadline.isoformat(),
        "warnings": warnings,
        "verify": {
            "command": f"probe-agent report --sla {sla.id} {cycle_arg} --format json",
            "data": "state intervals, exclusions, maintenance, the SLA's config with the services and endpoints "
            "it reads, and the objectives' result counts and latency histogram, hashed as inputs_hash; raw results "
            f"via probe-agent export --from {cycle_start} --to {cycle_end}",
        },
        "no_credit_reason": not_a_cycle or (no_fee if credit is None else None),
    }
    return {**head, **measured, **tail}


def _measured(s: SlaScope, ev: SlaEvaluation, overall: ScopeJson, projected: bool) -> ReportMeasured:
    """The figures of ``ev``; ``overall``: its whole-SLA scope, as ``scope_json`` wrote it; ``projected``: whether
    enough of the cycle has passed to show the projection (``sla/verdict.projection_shown``)."""
    tz = s.tz
    budget = ev.overall.budget
    bounds = ev.overall.bounds
    stats = ev.overall.stats
    max_incident = s.sla.max_incident_duration
    out: ReportMeasured = {
        "time_availability_percent": overall["time_availability_percent"],
        "seconds": overall["seconds"],
        "coverage_percent": overall["coverage_percent"],
        "budget": {
            "allowed_s": seconds(budget.allowed_ms),
            "used_s": seconds(budget.used_ms),
            "remaining_s": seconds(budget.remaining_ms),
            "elapsed_percent": percent(budget.elapsed),
            "burn_rate": None if budget.burn_rate is None else round(float(budget.burn_rate), 4),
            "projected_availability_percent": percent(budget.projected_availability) if projected else None,
            "exhausted": budget.exhausted,
        },
        "bounds": None
        if bounds is None
        else {
            "probe_interval_s": seconds(bounds.interval_ms),
            "state_changes": bounds.changes,
            "min_down_s": seconds(bounds.min_down_ms),
            "max_down_s": seconds(bounds.max_down_ms),
            "min_availability_percent": percent(bounds.min_availability),
            "max_availability_percent": percent(bounds.max_availability),
        },
        "incidents": overall["incidents"],
        "incident_stats": {
            "count": stats.count,
            "mttr_s": None if stats.mttr_ms is None else seconds(stats.mttr_ms),
            "mtbf_s": None if stats.mtbf_ms is None else seconds(stats.mtbf_ms),
            "longest_s": None if stats.longest is None else seconds(stats.longest.duration_ms),
        },
        "max_incident_duration_s": None if max_incident is None else seconds(max_incident),
        "incidents_too_long": [incident_json(i, tz) for i in ev.overall.too_long],
        "services": [_service_json(name, r, tz) for name, r in ev.services.items()],
        "endpoints": [_endpoint_json(name, r, tz) for name, r in ev.endpoints.items()],
        "objectives": _objectives(ev),
        "maintenance": [_maintenance_json(d, tz) for d in ev.maintenance],
    }
    if "slices" in overall:
        out["slices"] = overall["slices"]
    out["days"] = daily_bars(ev.full_period, tz, ev.overall.buckets, s.spec.policies)
    return out


def _service_json(name: str, result: ScopeResult, tz: ZoneInfo) -> ServiceJson:
    return {"service": name, **scope_json(result, tz)}


def _endpoint_json(name: str, result: ScopeResult, tz: ZoneInfo) -> EndpointJson:
    return {"endpoint": name, **scope_json(result, tz)}


def _maintenance_json(d: WindowDecision, tz: ZoneInfo) -> MaintenanceJson:
    return {
        "start": local_iso(d.window.start_ms, tz),
        "end": local_iso(d.window.end_ms, tz),
        "label": d.window.label,
        "excluded": d.excluded,
        "reason": d.reason,
    }


def _exclusion_json(e: Exclusion, tz: ZoneInfo) -> ExclusionJson:
    return {
        "id": e.id,
        "kind": e.kind,
        "scope": f"{e.scope_kind}:{e.scope_id}",
        "start": local_iso(e.start_ms, tz),
        "end": local_iso(e.end_ms, tz),
        "reason": e.reason,
        "author": e.author,
        "created": iso(e.created_ms),
    }


def _objectives(ev: SlaEvaluation) -> ObjectivesJson:
    out: ObjectivesJson = {}
    if ev.latency is not None:
        lat = ev.latency
        out["latency"] = {
            "percentile": lat.objective.percentile,
            "below_ms": lat.objective.below_ms,
            # Rounded up to the microsecond, so the printed value is never below the truth either.
            "value_ms": None if lat.value_ms is None else float(Decimal(lat.value_ms).quantize(_MICRO, ROUND_CEILING)),
            "samples": lat.samples,
            "met": lat.met,
        }
    if ev.error_rate is not None:
        er = ev.error_rate
        out["error_rate"] = {
            "below_percent": float(er.below_percent),
            "rate_percent": percent(er.rate),
            "down": er.counts.down,
            "definite": er.counts.up + er.counts.degraded + er.counts.down,
            "met": er.met,
        }
    return out
