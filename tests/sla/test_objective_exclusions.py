"""Which results objectives leave out: the excluded time per endpoint, and the pieces a store reads it in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.latency import LatencyHistogram
from probe_agent.sla.exclusions import intersect_ranges, objective_exclusions, pieces_by_member

SERVICES = [("front", ("web", "cache")), ("back", ("db", "cache"))]


def test_an_endpoint_is_left_out_while_it_or_every_service_counting_it_is_excluded() -> None:
    got = objective_exclusions(
        SERVICES,
        sla_excluded=[(0, 10)],  # SLA-wide exclusions and the maintenance windows that count
        endpoint_exclusions={"db": [(20, 30)]},
        service_exclusions={"front": [(40, 60)], "back": [(50, 70)]},
    )
    assert got == {
        "web": [(0, 10), (40, 60)],  # front is web's only service
        "db": [(0, 10), (20, 30), (50, 70)],
        "cache": [(0, 10), (50, 60)],  # counted by both services: left out only where both are excluded
    }


def test_intersection() -> None:
    assert intersect_ranges([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert intersect_ranges([(0, 10)], []) == []


def test_pieces_share_reads_between_endpoints() -> None:
    pieces = pieces_by_member({"a": [(0, 10), (20, 30)], "b": [(0, 10), (25, 40)], "c": []}, 5, 35)
    assert pieces == [(5, 10, ("a", "b")), (20, 25, ("a",)), (25, 30, ("a", "b")), (30, 35, ("b",))]
    assert pieces_by_member({"a": [(0, 10)]}, 10, 20) == []


def test_a_histogram_loses_only_what_it_holds() -> None:
    h = LatencyHistogram.of([1.0, 1.0, 50.0])
    h.subtract(LatencyHistogram.of([1.0, 50.0]))
    assert h == LatencyHistogram.of([1.0])
    with pytest.raises(ValueError):
        h.subtract(LatencyHistogram.of([1.0, 1.0]))
    # A sample an older bucketing put one bucket lower is removed from there.
    stored = LatencyHistogram({70: 2, 75: 1})
    stored.subtract(LatencyHistogram({71: 1}))
    assert stored == LatencyHistogram({70: 1, 75: 1})


ranges = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)).map(sorted).map(tuple), max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abc"), ranges), st.integers(0, 40), st.integers(0, 40))
def test_pieces_cover_exactly_each_members_ranges(by_member: dict[str, list[tuple[int, int]]], x: int, y: int) -> None:
    start, end = min(x, y), max(x, y)
    pieces = pieces_by_member(by_member, start, end)
    for lo, hi, _ in pieces:
        assert start <= lo < hi <= end
    for a, b in itertools.pairwise(pieces):
        assert a[1] <= b[0]
    for t in range(start, end):
        for member, rs in by_member.items():
            inside = any(s <= t < e for s, e in rs)
            assert inside == any(lo <= t < hi and member in ms for lo, hi, ms in pieces)
