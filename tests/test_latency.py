"""The latency histogram: nearest-rank percentiles from exact ranks, and buckets down to 1 µs.

The README's rule: the p-th percentile is the nearest rank, the smallest value with at least p % of the samples at
or below it, i.e. the value of rank ceil(p x n / 100) computed exactly; it is reported as the upper edge of its
bucket, never below the truth and at most 5 % above it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.latency import MIN_INDEX, LatencyHistogram, bucket_of, nearest_rank, upper_edge
from probe_agent.sla.objectives import LatencyObjective, latency_result


def test_p99_9_of_1000_samples_is_rank_999_not_the_heavy_tail() -> None:
    # 999 samples at 2,918 ms and one at 14,093 ms: rank ceil(99.9 x 1000 / 100) = 999, the last 2,918 ms sample.
    histogram = LatencyHistogram.of([2918.0] * 999 + [14093.0])
    value = histogram.percentile(99.9)
    assert value is not None and 2918.0 <= value <= 2918.0 * 1.05
    result = latency_result(LatencyObjective(99.9, 3100), histogram)
    assert result.met is True  # with rank 1,000 the 14,093 ms tail decided: missed
    assert histogram.percentile(100) == pytest.approx(upper_edge(bucket_of(14093.0)))


@pytest.mark.parametrize(
    ("p", "n", "rank"),
    [
        (99.9, 1000, 999),  # 99.9 x 1000 / 100 = 999 exactly (in floats 999.0000000000001)
        (99.9, 2000, 1998),
        (7, 100, 7),  # floats: 0.07 x 100 = 7.000000000000001 -> 8
        (14, 50, 7),
        (28, 25, 7),
        (56, 25, 14),
        (50, 3, 2),  # 1.5 -> 2
        (95, 20, 19),
        (100, 7, 7),
        (0.1, 10, 1),  # the smallest value at or above 0.1 %
        (Fraction(999, 10), 1000, 999),
        (Decimal("99.9"), 1000, 999),
    ],
)
def test_nearest_rank_is_exact(p: float | Fraction | Decimal, n: int, rank: int) -> None:
    assert nearest_rank(p, n) == rank


def test_the_rank_picks_the_value_at_that_rank() -> None:
    # p7 of 100 samples: 7 fast ones (10 ms) and 93 slow ones (500 ms): rank 7 is the last fast one.
    histogram = LatencyHistogram.of([10.0] * 7 + [500.0] * 93)
    assert histogram.percentile(7) == upper_edge(bucket_of(10.0))
    assert histogram.percentile(7.01) == upper_edge(bucket_of(500.0))  # 7.01 x 100 / 100 = 7.01 -> rank 8


def test_bad_percentiles_are_refused() -> None:
    for p in (0, -1, 100.5):
        with pytest.raises(ValueError):
            LatencyHistogram().percentile(p)
    with pytest.raises(ValueError):
        nearest_rank(50, 0)


def test_loopback_fast_latencies_get_their_own_buckets() -> None:
    # 0.02 ms, 0.05 ms and 0.09 ms used to read 0.1 ms alike (5x the truth for 0.02 ms).
    fast = [0.02, 0.05, 0.09]
    assert len({bucket_of(v) for v in fast}) == 3
    for v in fast:
        edge = upper_edge(bucket_of(v))
        assert v <= edge <= v * 1.05
    histogram = LatencyHistogram.of([0.05] * 95 + [0.09] * 5)
    value = histogram.percentile(95)
    assert value is not None and 0.05 <= value <= 0.0525
    # Bucket indices from 1 up keep their meaning (stored rollups stay valid); 0.1 ms is still bucket 0's edge.
    assert bucket_of(0.1) == 0 and upper_edge(0) == pytest.approx(0.1) and bucket_of(0.1001) == 1


def test_the_floor_is_just_under_one_microsecond() -> None:
    floor = upper_edge(MIN_INDEX)
    assert 0.00095 < floor < 0.001  # everything at or below it reads as the floor's edge
    for v in (0.0, -3.0, 0.0005, floor):
        assert bucket_of(v) == MIN_INDEX
    assert bucket_of(0.001) == MIN_INDEX + 1 and 0.001 <= upper_edge(MIN_INDEX + 1) <= 0.001 * 1.05


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_every_latency_from_1us_reads_at_most_5_percent_above_the_truth(latency: float) -> None:
    b = bucket_of(latency)
    assert upper_edge(b - 1) < latency <= upper_edge(b)  # never below the truth
    assert upper_edge(b) <= latency * 1.05 * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=20_000.0, allow_nan=False), min_size=1, max_size=300),
    st.integers(1, 100_000).map(lambda k: Fraction(k, 1000)),  # 0.001 .. 100 in steps of 0.001
)
def test_the_percentile_is_the_bucket_of_the_value_of_nearest_rank(samples: list[float], p: Fraction) -> None:
    ordered = sorted(samples)
    # Independent of the code: the smallest value with at least p % of the samples at or below it.
    truth = next(v for v in ordered if Fraction(sum(1 for s in ordered if s <= v) * 100, len(ordered)) >= p)
    value = LatencyHistogram.of(samples).percentile(p)
    assert value == upper_edge(bucket_of(truth))
    assert value >= truth
    assert math.ceil(p * len(ordered) / 100) == nearest_rank(p, len(ordered))
