"""``incidents``: confirmed outages of an endpoint, a service, an SLA, or every endpoint, over a time range."""

from __future__ import annotations

import sqlite3
from fractions import Fraction

from probe_agent.config.document import Config
from probe_agent.model import DAY_MS
from probe_agent.reports import scope
from probe_agent.reports.document import incident_json
from probe_agent.reports.evidence import LOOKAHEAD_MS
from probe_agent.reports.json_numbers import local_iso, seconds
from probe_agent.reports.json_types import IncidentListDoc
from probe_agent.reports.outage_history import with_outage_history
from probe_agent.reports.overlaps import Overlap, overlap_warning, resolve_overlaps
from probe_agent.reports.timelines import load_intervals
from probe_agent.sla.evaluation import ServiceSpec, SlaSpec, evaluate
from probe_agent.sla.incidents import Incident, incident_stats
from probe_agent.sla.periods import explicit_period, parse_bound
from probe_agent.sla.timeline import ALL


def list_incidents(
    conn: sqlite3.Connection,
    config: Config,
    now_ms: int,
    *,
    sla_id: str | None = None,
    service_id: str | None = None,
    endpoint_id: str | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> IncidentListDoc:
    """Incidents overlapping ``[from, to)`` (default: the last 30 days). Raises KeyError for an unknown id."""
    tz = scope.agent_zone(config)
    specs: list[SlaSpec] = []
    for kind, wanted, known in (
        ("SLA", sla_id, [s.id for s in config.slas]),
        ("service", service_id, [s.id for s in config.services]),
        ("endpoint", endpoint_id, [e.id for e in config.endpoints]),
    ):
        if wanted is not None and wanted not in known:
            raise ValueError(f"unknown {kind} '{wanted}' (configured: {', '.join(known) or 'none'})")
    if sla_id is not None:
        sla = config.sla(sla_id)
        tz = scope.sla_zone(config, sla)
        specs.append(scope.sla_spec(config, sla))
        label = f"sla:{sla_id}"
    elif service_id is not None:
        svc = config.service(service_id)
        specs.append(
            SlaSpec(
                Fraction(0),
                (ServiceSpec(svc.id, svc.endpoints, scope.combine_rule(svc.rule)),),
                vantage_rule=scope.combine_rule(svc.vantage),
            )
        )
        label = f"service:{service_id}"
    else:
        ids = [config.endpoint(endpoint_id).id] if endpoint_id is not None else [e.id for e in config.endpoints]
        specs += [SlaSpec(Fraction(0), (ServiceSpec(e, (e,), ALL),)) for e in ids]
        label = f"endpoint:{endpoint_id}" if endpoint_id else "every endpoint"
    start = parse_bound(from_, tz) if from_ else now_ms - 30 * DAY_MS
    end = parse_bound(to, tz) if to else now_ms
    if end <= start:
        raise ValueError("--to must be after --from")
    period = explicit_period(start, end)
    found: list[Incident] = []
    mtbfs: list[Fraction] = []  # per scope listed (each endpoint, or the one service or SLA)
    overlaps: dict[tuple[str, str], Overlap] = {}  # bad stored state read (resolved; warned once per pair)
    for spec in specs:
        endpoints = sorted({e for s in spec.services for e in s.endpoints})
        loaded = load_intervals(conn, config, endpoints, start, min(now_ms, end + LOOKAHEAD_MS))
        if not any(loaded.values()):
            continue
        intervals, found_overlaps = resolve_overlaps(with_outage_history(conn, loaded))
        overlaps.update({(o.agent, o.endpoint): o for o in found_overlaps})
        overall = evaluate(spec, period, intervals, now_ms).overall
        found += overall.incidents
        if overall.stats.mtbf_ms is not None:
            mtbfs.append(overall.stats.mtbf_ms)
    found.sort(key=lambda i: (i.start_ms, i.endpoints))
    stats = incident_stats(found, None, start)
    # MTBF is per scope (its counted up time / the incidents that started in it): several endpoints' figures are
    # averaged, never merged (overlapping incidents of different endpoints would make a gap-based mean negative).
    mtbf_ms = sum(mtbfs, Fraction(0)) / len(mtbfs) if mtbfs else None
    return {
        "scope": label,
        "from": local_iso(start, tz),
        "to": local_iso(end, tz),
        "incidents": [incident_json(i, tz) for i in found],
        "stats": {
            "count": stats.count,
            "mttr_s": None if stats.mttr_ms is None else seconds(stats.mttr_ms),
            "mtbf_s": None if mtbf_ms is None else seconds(mtbf_ms),
            "longest_s": None if stats.longest is None else seconds(stats.longest.duration_ms),
        },
        "warnings": [overlap_warning(overlaps[key]) for key in sorted(overlaps)],
    }
