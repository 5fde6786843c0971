"""The SLA report: fetch what the core needs from the store, call ``evaluate``, and shape the JSON document.

The document's keys are stable and documented in README.md ("Report JSON"). Percentages are numbers rounded to 6
decimals for display; ``availability_exact`` carries the exact fraction that decided ``met``. Money is a string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import StateInterval, iso, ms_to_dt
from probe_agent.reports import scope
from probe_agent.reports.announce import announcement_times
from probe_agent.reports.days import daily_bars
from probe_agent.reports.objective_inputs import LeftOut, excluded_result_sums, objective_exclusions_of
from probe_agent.reports.outage_history import with_outage_history
from probe_agent.reports.status import percent
from probe_agent.reports.timelines import load_intervals, monitoring_start
from probe_agent.sla.availability import Availability
from probe_agent.sla.credits import CreditInputs, CreditResult, compute_credit
from probe_agent.sla.evaluation import ScopeResult, SlaEvaluation, evaluate
from probe_agent.sla.histogram import LatencyHistogram
from probe_agent.sla.incidents import Incident
from probe_agent.sla.objectives import ResultCounts
from probe_agent.sla.periods import Period
from probe_agent.store import queries
from probe_agent.store.rows import Exclusion, RollupSums

DAY_MS = 86_400_000
# Intervals are read this far past the period's end, so an outage that crosses the end keeps its true end.
LOOKAHEAD_MS = 31 * DAY_MS
# With slice counting and min_run > 1, intervals, exclusions and maintenance windows are also read this far before
# the period's start (and exclusions and windows as far past its end as intervals), so a run of down slices that
# crosses an edge is judged on its whole length, with the same excluded time in both cycles.
LOOKBEHIND_MS = 31 * DAY_MS
_MICRO = Decimal("0.001")  # ms


@dataclass(frozen=True)
class SlaReport:
    """The evaluation and everything around it; ``doc`` is the JSON document."""

    sla: Sla
    period: Period
    evaluation: SlaEvaluation | None
    credit: CreditResult | None
    doc: dict[str, Any]
    inputs_hash: str


def local_iso(ms: int, tz: ZoneInfo) -> str:
    return ms_to_dt(ms).astimezone(tz).isoformat(timespec="seconds" if ms % 1000 == 0 else "milliseconds")


def seconds(ms: int | Fraction) -> float:
    return round(float(Fraction(ms) / 1000), 3)


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
    around_end = max(period.end_ms, load_end) if runs_across else period.end_ms
    intervals = with_outage_history(conn, load_intervals(conn, config, endpoints, load_start, load_end))
    first = monitoring_start(conn, config, endpoints)
    applied = applicable_exclusions(config, sla, queries.exclusions(conn, start_ms=load_start, end_ms=around_end))
    # The report lists the exclusions of the period; those around it only serve to judge slice runs.
    exclusions = [e for e in applied if e.start_ms < period.end_ms and e.end_ms > period.start_ms]
    announced = announcement_times(conn, config, sla)
    windows = scope.maintenance_windows(config, sla, load_start, around_end, announced)
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
            probe_interval_ms={e: config.endpoint(e).interval_ms for e in endpoints},
            monitoring_start_ms=first if first > period.start_ms and not whole_cycle(sla) else None,
            latency_histogram=histogram,
            result_counts=counts,
        )
    # Credits are for billing cycles: any other window (--from/--to) shows availability, and says why no credit.
    not_a_cycle = scope.not_a_cycle_reason(config, sla, period)
    credit = _credit(sla, evaluation) if not_a_cycle is None else None
    inputs_hash = _inputs_hash(
        sla,
        period,
        intervals,
        applied,
        windows,
        config_inputs=_config_inputs(config, sla, endpoints, tz),
        objective_inputs=(counts, histogram),
        monitoring_start_ms=None if first is None else max(first, period.start_ms),
    )
    doc = _document(config, sla, period, tz, now_ms, evaluation, credit, exclusions, warnings, inputs_hash)
    if not_a_cycle is not None:
        doc["claim_deadline"] = None
    no_fee = "no credit: the SLA states no credit terms (credits.fee)"
    doc["no_credit_reason"] = not_a_cycle or (no_fee if credit is None else None)
    return SlaReport(sla, period, evaluation, credit, doc, inputs_hash)


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
        incident_durations_ms=evaluation.credited_incident_ms,
        period_ms=evaluation.full_period.duration_ms,
        covered_period_ms=evaluation.period.duration_ms,
    )
    return compute_credit(terms, inputs)


def _config_inputs(config: Config, sla: Sla, endpoints: list[str], tz: ZoneInfo) -> dict[str, Any]:
    """The config outside the SLA's own keys that its figures read: each named service (members, ``rule``,
    ``vantage``), each endpoint's fold parameters (interval, grace, confirm: the open spans and the measurement
    bounds) and the zone (cycle bounds, recurring maintenance, day bars). Never the probes' targets or headers
    (secrets): they change no figure."""
    return {
        "services": {
            s: config.service(s).model_dump(mode="json", include={"endpoints", "rule", "vantage"}) for s in sla.services
        },
        "endpoints": {e: [ep.interval_ms, ep.grace_ms, ep.confirm_n] for e in endpoints for ep in [config.endpoint(e)]},
        "timezone": str(tz.key),
    }


def _inputs_hash(
    sla: Sla,
    period: Period,
    intervals: dict[str, list[StateInterval]],
    exclusions: list[Exclusion],
    windows: list[Any],
    *,
    config_inputs: dict[str, Any],
    objective_inputs: tuple[ResultCounts | None, LatencyHistogram | None],
    monitoring_start_ms: int | None,
) -> str:
    """A hash of every input of every figure in the record, so a closed cycle can tell when today's data differs:
    the SLA's keys and the config it reads (``_config_inputs``), the period and monitoring start, the intervals,
    exclusions and maintenance windows, and the result counts and latency histogram the objectives come from."""
    h = hashlib.sha256()
    h.update(json.dumps(sla.model_dump(mode="json", by_alias=True), sort_keys=True).encode())
    h.update(json.dumps(config_inputs, sort_keys=True).encode())
    h.update(f"|{period.start_ms}|{period.end_ms}|{monitoring_start_ms}|".encode())
    counts, histogram = objective_inputs
    objectives = {
        "counts": None if counts is None else dataclasses.asdict(counts),
        "histogram": None if histogram is None else sorted(histogram.counts.items()),
    }
    h.update(json.dumps(objectives, sort_keys=True).encode())
    for endpoint in sorted(intervals):
        for iv in intervals[endpoint]:
            # After the period, only an outage that began inside it matters (its end and length decide credits).
            in_period = iv.start_ms < period.end_ms
            if in_period or (iv.outage_start_ms is not None and iv.outage_start_ms < period.end_ms):
                end = min(iv.end_ms, period.end_ms) if in_period and iv.outage_start_ms is None else iv.end_ms
                h.update(
                    f"{iv.agent},{iv.endpoint},{iv.start_ms},{end},{iv.state},{iv.cause},{iv.outage_start_ms}|".encode()
                )
    for e in exclusions:
        h.update(f"x{e.id},{e.start_ms},{e.end_ms}|".encode())
    for w in windows:
        h.update(f"m{w.start_ms},{w.end_ms},{w.announced_ms}|".encode())
    return h.hexdigest()


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


def _document(
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
