"""What objectives leave out: the probe results of excluded time, read from the store and subtracted.

Objectives (latency percentile, error rate) come from rollups over the measured range (``store.rollup_reads``:
whole UTC days from daily rollups, other whole hours from hourly ones, the rest from raw results). Excluded time is
excluded from them too: the results whose timestamp falls in a range that ``sla.exclusions.objective_exclusions``
gives for their endpoint (SLA-wide exclusions, maintenance windows that count, the endpoint's own exclusions, and
exclusions of every service that counts it) are summed from the raw results, which share the rollups' counting
rules and histogram buckets, and subtracted from the rollup sums. Excluded ranges are short next to a cycle, so
this keeps reports on the fast rollup path.

Raw results are only pruned for closed cycles past their claim window, whose reports show the stored figures.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from probe_agent.latency import LatencyHistogram
from probe_agent.reports.evidence import Evidence
from probe_agent.reports.sla_scope import SlaScope
from probe_agent.sla.evaluation import SlaSpec
from probe_agent.sla.exclusions import (
    MaintenanceWindow,
    decide_windows,
    excluded_ranges,
    objective_exclusions,
    pieces_by_member,
)
from probe_agent.sla.objectives import ResultCounts
from probe_agent.sla.periods import Period
from probe_agent.store import queries
from probe_agent.store.rollup_reads import rollup_sums
from probe_agent.store.rows import RollupSums

LeftOut = Mapping[str, Sequence[tuple[int, int]]]  # per endpoint, the ranges whose results objectives leave out


def objective_exclusions_of(
    spec: SlaSpec,
    windows: Sequence[MaintenanceWindow],
    sla_wide: Sequence[tuple[int, int]],
    per_endpoint: Mapping[str, Sequence[tuple[int, int]]],
    per_service: Mapping[str, Sequence[tuple[int, int]]],
) -> dict[str, list[tuple[int, int]]]:
    """Per endpoint, the ranges whose results objectives leave out (windows decided as ``evaluate`` does)."""
    sla_excluded = excluded_ranges(sla_wide, decide_windows(windows))
    services = [(s.name, s.endpoints) for s in spec.services]
    return objective_exclusions(services, sla_excluded, per_endpoint, per_service)


def excluded_result_sums(
    conn: sqlite3.Connection,
    ranges_by_endpoint: LeftOut,
    start_ms: int,
    end_ms: int,
    *,
    with_histograms: bool,
) -> RollupSums:
    """The sums (every agent) of each endpoint's raw results with ts in its ranges, cut to ``[start_ms, end_ms)``.

    One read per piece of time shared by the same endpoints, so an SLA-wide window is one read for all of them.
    """
    total = RollupSums()
    for lo, hi, endpoints in pieces_by_member(ranges_by_endpoint, start_ms, end_ms):
        sums = queries.hourly_result_sums(conn, lo, hi, list(endpoints), with_histograms=with_histograms)
        for part in sums.values():
            total.add(part)
    return total


def objective_inputs(
    conn: sqlite3.Connection, s: SlaScope, period: Period, evidence: Evidence, now_ms: int
) -> tuple[ResultCounts | None, LatencyHistogram | None]:
    """Counts and histogram of the measured range ``[period start, min(now, period end))`` (daily and hourly rollups,
    with the partial hours from raw results), less each endpoint's results in its excluded time (read from
    ``evidence``: its exclusions and maintenance windows); (None, None) when the SLA has no objectives."""
    objectives = s.sla.objectives
    if objectives.latency is None and objectives.error_rate is None:
        return None, None
    end = min(now_ms, period.end_ms)
    if end <= period.start_ms:
        return ResultCounts(), LatencyHistogram()
    left_out = objective_exclusions_of(
        s.spec, evidence.windows, evidence.sla_wide, evidence.per_endpoint, evidence.per_service
    )
    with_histograms = objectives.latency is not None
    sums = rollup_sums(conn, period.start_ms, end, list(s.endpoints), with_histograms=with_histograms)
    total = RollupSums.merged(sums.values())
    total.subtract(excluded_result_sums(conn, left_out, period.start_ms, end, with_histograms=with_histograms))
    counts = ResultCounts(up=total.n_up, degraded=total.n_degraded, down=total.n_down, unknown=total.n_unknown)
    return counts, total.histogram
