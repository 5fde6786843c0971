"""The report document: the JSON shape of an evaluation, with stable keys documented in README.md ("Report JSON").

Percentages are numbers rounded half-up to 6 decimals for display; ``availability_exact`` carries the exact
fraction that decided ``met``. Money is a string. Times are ISO 8601 in the SLA's zone; durations are seconds with
millisecond precision.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import iso, ms_to_dt
from probe_agent.reports import scope
from probe_agent.reports.days import daily_bars
from probe_agent.reports.status import percent
from probe_agent.sla.availability import Availability
from probe_agent.sla.credits import CreditResult
from probe_agent.sla.evaluation import ScopeResult, SlaEvaluation
from probe_agent.sla.incidents import Incident
from probe_agent.sla.periods import Period
from probe_agent.store.rows import Exclusion

_MICRO = Decimal("0.001")  # ms


def local_iso(ms: int, tz: ZoneInfo) -> str:
    return ms_to_dt(ms).astimezone(tz).isoformat(timespec="seconds" if ms % 1000 == 0 else "milliseconds")


def seconds(ms: int | Fraction) -> float:
    return round(float(Fraction(ms) / 1000), 3)


def _availability_block(a: Availability) -> dict[str, Any]:
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


def incident_json(i: Incident, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "start": local_iso(i.start_ms, tz),
        "end": None if i.ongoing else local_iso(i.end_ms, tz),
        "duration_s": seconds(i.duration_ms),
        "down_s": seconds(i.down_ms),
        "cause": i.cause,
        "endpoints": list(i.endpoints),
        "ongoing": i.ongoing,
    }


def scope_json(result: ScopeResult, tz: ZoneInfo) -> dict[str, Any]:
    a = result.availability
    out: dict[str, Any] = {
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


def report_document(
    config: Config,
    sla: Sla,
    period: Period,
    tz: ZoneInfo,
    now_ms: int,
    ev: SlaEvaluation | None,
    credit: CreditResult | None,
    exclusions: list[Exclusion],
    warnings: list[str],
    inputs_hash: str,
) -> dict[str, Any]:
    deadline = scope.claim_deadline_for(config, sla, period)
    doc: dict[str, Any] = {
        "sla": sla.id,
        "customer": sla.customer,
        "provider": sla.provider,
        "preset": sla.use,
        "cycle": {
            "label": period.label,
            "start": local_iso(period.start_ms, tz),
            "end": local_iso(period.end_ms, tz),
            "timezone": str(tz.key),
            "complete": now_ms >= period.end_ms,
            "measured_until": local_iso(min(max(now_ms, period.start_ms), period.end_ms), tz),
            "monitoring_start": None
            if ev is None or ev.period.start_ms == period.start_ms
            else local_iso(ev.period.start_ms, tz),
            "covered_fraction": None if ev is None else round(float(ev.covered), 6),
        },
        "target_percent": float(sla.target),
        "counting": {"method": sla.counting.method}
        | (
            {"unit_s": sla.counting.unit / 1000, "partial": sla.counting.partial, "min_run": sla.counting.min_run}
            if sla.counting.method == "slices"
            else {}
        ),
        "policies": {"unknown": sla.unknown, "no_data": sla.no_data, "degraded_counts_as": sla.degraded_counts_as},
        "availability_percent": None,
        "availability_exact": None,
        "met": None,
        "generated_at": iso(now_ms),
        "inputs_hash": inputs_hash,
    }
    if ev is not None:
        overall = scope_json(ev.overall, tz)
        budget = ev.overall.budget
        bounds = ev.overall.bounds
        stats = ev.overall.stats
        doc.update(
            {
                "availability_percent": overall["availability_percent"],
                "availability_exact": overall["availability_exact"],
                "met": overall["met"],
                "time_availability_percent": overall["time_availability_percent"],
                "seconds": overall["seconds"],
                "coverage_percent": overall["coverage_percent"],
                "budget": {
                    "allowed_s": seconds(budget.allowed_ms),
                    "used_s": seconds(budget.used_ms),
                    "remaining_s": seconds(budget.remaining_ms),
                    "elapsed_percent": percent(budget.elapsed),
                    "burn_rate": None if budget.burn_rate is None else round(float(budget.burn_rate), 4),
                    "projected_availability_percent": percent(budget.projected_availability),
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
                "max_incident_duration_s": None
                if sla.max_incident_duration is None
                else seconds(sla.max_incident_duration),
                "incidents_too_long": [incident_json(i, tz) for i in ev.overall.too_long],
                "services": [{"service": name} | scope_json(r, tz) for name, r in ev.services.items()],
                "endpoints": [{"endpoint": name} | scope_json(r, tz) for name, r in ev.endpoints.items()],
                "objectives": _objectives(ev),
                "maintenance": [
                    {
                        "start": local_iso(d.window.start_ms, tz),
                        "end": local_iso(d.window.end_ms, tz),
                        "label": d.window.label,
                        "excluded": d.excluded,
                        "reason": d.reason,
                    }
                    for d in ev.maintenance
                ],
            }
        )
        if "slices" in overall:
            doc["slices"] = overall["slices"]
        doc["days"] = daily_bars(
            ev.full_period, tz, ev.overall.buckets, scope.sla_spec(config, sla).policies, local_iso
        )
        warnings = [*warnings, *ev.warnings]
    doc["exclusions"] = [
        {
            "id": e.id,
            "kind": e.kind,
            "scope": f"{e.scope_kind}:{e.scope_id}",
            "start": local_iso(e.start_ms, tz),
            "end": local_iso(e.end_ms, tz),
            "reason": e.reason,
            "author": e.author,
            "created": iso(e.created_ms),
        }
        for e in exclusions
    ]
    doc["credit"] = None if credit is None else credit.to_json() | {"provisional": now_ms < period.end_ms}
    doc["claim_deadline"] = None if deadline is None else deadline.isoformat()
    doc["warnings"] = warnings
    cycle_arg = (
        f"--cycle {period.label}"
        if sla.cycle.period == "monthly" and len(period.label) == 7
        else (f"--from {doc['cycle']['start']} --to {doc['cycle']['end']}")
    )
    doc["verify"] = {
        "command": f"probe-agent report --sla {sla.id} {cycle_arg} --format json",
        "data": "state intervals, exclusions, maintenance, the SLA's config with the services and endpoints it "
        "reads, and the objectives' result counts and latency histogram, hashed as inputs_hash; raw results via "
        f"probe-agent export --from {doc['cycle']['start']} --to {doc['cycle']['end']}",
    }
    return doc


def _objectives(ev: SlaEvaluation) -> dict[str, Any]:
    out: dict[str, Any] = {}
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
