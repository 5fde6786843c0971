"""Measurement bounds, resolution warnings, latency and error-rate objectives."""

from __future__ import annotations

from fractions import Fraction

import pytest

from probe_agent.latency import LatencyHistogram, upper_edge
from probe_agent.sla.bounds import downtime_bounds, observed_changes, resolution_warnings
from probe_agent.sla.incidents import Incident
from probe_agent.sla.objectives import LatencyObjective, ResultCounts, error_rate_result, latency_result

M = 60_000


def test_bounds_of_two_resolved_outages() -> None:
    incidents = [
        Incident(10 * M, 13 * M, 3 * M, ("e",), None, False),
        Incident(20 * M, 22 * M, 2 * M, ("e",), None, False),
    ]
    changes = observed_changes(incidents, 0, 100 * M)
    assert changes == 4
    bounds = downtime_bounds(5 * M, 100 * M, changes, M)
    assert (bounds.min_down_ms, bounds.max_down_ms) == (1 * M, 9 * M)
    assert bounds.min_availability == Fraction(91, 100)
    assert bounds.max_availability == Fraction(99, 100)


def test_bounds_clamp_and_edges() -> None:
    ongoing = Incident(90 * M, 100 * M, 10 * M, ("e",), None, True)
    cut = Incident(-5 * M, 2 * M, 7 * M, ("e",), None, False)  # started before the range: its start is not seen here
    assert observed_changes([ongoing, cut], 0, 100 * M) == 2
    clamped = downtime_bounds(M // 2, 2 * M, 4, M)
    assert (clamped.min_down_ms, clamped.max_down_ms) == (0, 2 * M)
    assert clamped.min_availability == 0 and clamped.max_availability == 1
    nothing = downtime_bounds(0, 0, 0, M)
    assert nothing.min_availability is None and nothing.max_availability is None
    with pytest.raises(ValueError):
        downtime_bounds(0, 10, 1, -1)


def test_resolution_warnings() -> None:
    assert resolution_warnings(5 * M, slice_unit_ms=M)  # 5-minute probes, 1-minute slices
    assert resolution_warnings(M, slice_unit_ms=M) == []
    assert len(resolution_warnings(10 * M, slice_unit_ms=M, max_incident_ms=5 * M)) == 2
    assert resolution_warnings(30_000, None, None) == []


def test_latency_objective_compares_the_bucket_edge() -> None:
    edge = upper_edge(100)  # about 13.15 ms
    histogram = LatencyHistogram.of([edge] * 99 + [1000.0])
    assert latency_result(LatencyObjective(99, edge), histogram).met is True  # edge == threshold: met
    result = latency_result(LatencyObjective(99, edge * 0.999), histogram)
    assert result.met is False and result.value_ms == pytest.approx(edge) and result.samples == 100
    assert latency_result(LatencyObjective(100, 500), histogram).met is False  # the 1 s outlier
    assert latency_result(LatencyObjective(99, 300), LatencyHistogram()).met is None
    with pytest.raises(ValueError):
        LatencyObjective(0, 300)


def test_error_rate_is_strictly_below() -> None:
    counts = ResultCounts(up=990, degraded=9, down=1, unknown=500)  # unknown never counts
    at_limit = error_rate_result(counts, Fraction(1, 10))
    assert at_limit.rate == Fraction(1, 1000) and at_limit.met is False
    assert error_rate_result(counts, Fraction(2, 10)).met is True
    empty = error_rate_result(ResultCounts(unknown=3), Fraction(1))
    assert empty.rate is None and empty.met is None
