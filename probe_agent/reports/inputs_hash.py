"""The inputs hash of a report: what a closed cycle compares to tell whether today's data would change its figures.

It covers every input of every figure, and nothing that cannot change one (a hash that moved for no reason would
cry wolf on every closed cycle):

- the SLA's own keys and the config its figures read (``config_inputs``): its services' members, ``rule`` and
  ``vantage``, its endpoints' fold parameters, the zone; never targets or headers (secrets change no figure);
- the period, the monitoring start, and the result counts and latency histogram the objectives come from;
- the timeline of every (agent, endpoint) over the **relevant span**: the period, widened by how far a slice run
  across an edge is followed (``reach_ms``: ``min_run`` slices) and to the whole of every outage that overlaps it
  (an incident's start, end and counted time come from the whole outage), in a normal form: ``no_data`` spans
  dropped (a gap and a stored ``no_data`` span count the same, so the restart that stores the gap a reader already
  cut changes nothing) and adjacent equal spans merged;
- the exclusions and maintenance windows that overlap the relevant span.

Data outside the relevant span (an import a month before the cycle) leaves the hash as it was. A run of down slices
followed past ``min_run`` slices through excluded or uncounted time reads further than the span: that far data is
not hashed (it can only matter after a long stretch of excluded time right at the cycle's edge).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.latency import LatencyHistogram
from probe_agent.model import StateInterval
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.objectives import ResultCounts
from probe_agent.sla.periods import Period
from probe_agent.store.rows import Exclusion


def config_inputs(config: Config, sla: Sla, endpoints: list[str], zone: str) -> dict[str, Any]:
    """The config outside the SLA's own keys that its figures read: each named service (members, ``rule``,
    ``vantage``), each endpoint's fold parameters (interval, grace, confirm: the open spans and the measurement
    bounds) and the zone (cycle bounds, recurring maintenance, day bars)."""
    return {
        "services": {
            s: config.service(s).model_dump(mode="json", include={"endpoints", "rule", "vantage"}) for s in sla.services
        },
        "endpoints": {e: [ep.interval, ep.grace, ep.confirm] for e in endpoints for ep in [config.endpoint(e)]},
        "timezone": zone,
    }


def relevant_span(
    period: Period, intervals: Mapping[str, Sequence[StateInterval]], reach_ms: int = 0
) -> tuple[int, int]:
    """``[start, end)`` of the time whose data can change a figure of ``period`` (see the module docstring)."""
    lo, hi = period.start_ms - reach_ms, period.end_ms + reach_ms
    outages: dict[tuple[str, str, int], list[int]] = {}
    for ivs in intervals.values():
        for iv in ivs:
            if iv.outage_start_ms is not None:
                seen = outages.setdefault((iv.agent, iv.endpoint, iv.outage_start_ms), [iv.start_ms, iv.end_ms])
                seen[0], seen[1] = min(seen[0], iv.start_ms, iv.outage_start_ms), max(seen[1], iv.end_ms)
    for start, end in outages.values():
        if start < hi and end > lo:
            lo, hi = min(lo, start), max(hi, end)
    return lo, hi


def normal_timeline(ivs: Sequence[StateInterval], lo: int, hi: int) -> list[tuple[Any, ...]]:
    """One endpoint's spans (all agents) inside ``[lo, hi)``: clipped, ``no_data`` dropped, adjacent equal merged."""
    out: list[list[Any]] = []
    for iv in sorted(ivs, key=lambda i: (i.agent, i.start_ms)):
        start, end = max(iv.start_ms, lo), min(iv.end_ms, hi)
        if end <= start or iv.state == "no_data":
            continue
        key = [iv.agent, str(iv.state), iv.cause, iv.outage_start_ms]
        if out and out[-1][:4] == key and out[-1][5] == start:
            out[-1][5] = end
        else:
            out.append([*key, start, end])
    return [tuple(span) for span in out]


def inputs_hash(
    sla: Sla,
    period: Period,
    intervals: Mapping[str, Sequence[StateInterval]],
    exclusions: Sequence[Exclusion],
    windows: Sequence[MaintenanceWindow],
    *,
    config_inputs: dict[str, Any],
    objective_inputs: tuple[ResultCounts | None, LatencyHistogram | None],
    monitoring_start_ms: int | None,
    reach_ms: int = 0,
) -> str:
    """The hex SHA-256 of the report's inputs (see the module docstring)."""
    lo, hi = relevant_span(period, intervals, reach_ms)
    counts, histogram = objective_inputs
    document = {
        "sla": sla.model_dump(mode="json", by_alias=True),
        "config": config_inputs,
        "period": [period.start_ms, period.end_ms, monitoring_start_ms],
        "objectives": {
            "counts": None if counts is None else dataclasses.asdict(counts),
            "histogram": None if histogram is None else sorted(histogram.counts.items()),
        },
        "timelines": {e: normal_timeline(intervals[e], lo, hi) for e in sorted(intervals)},
        "exclusions": sorted(
            [e.id, e.scope_kind, e.scope_id, e.start_ms, e.end_ms]
            for e in exclusions
            if e.start_ms < hi and e.end_ms > lo
        ),
        "maintenance": sorted(
            [w.start_ms, w.end_ms, w.announced_ms, w.notice_ms] for w in windows if w.start_ms < hi and w.end_ms > lo
        ),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()
