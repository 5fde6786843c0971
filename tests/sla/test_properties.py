"""Properties of the availability maths that must hold for every timeline (hypothesis).

What is true, and tested here:
- availability is within [0, 1] and every instant lies in exactly one bucket;
- turning any time into down never raises availability;
- excluding time that counts as DOWN never lowers availability (excluding UP time can: see the last test);
- down ms are additive across a period boundary (an outage across cycles is split, never lost or doubled);
- counting partial slices as down never gives a higher slice availability than ignoring them.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import State
from probe_agent.sla.availability import Availability, Bucket, BucketTotals, Policies, availability_of, bucketize
from probe_agent.sla.exclusions import merge_ranges
from probe_agent.sla.slices import SliceCounting, count_slices
from probe_agent.sla.timeline import Span, normalize

LENGTH = 60
STATES = [State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN, State.NO_DATA]
TARGET = Fraction(9, 10)

per_ms = st.lists(st.sampled_from(STATES), min_size=LENGTH, max_size=LENGTH)
ranges = st.lists(st.tuples(st.integers(0, LENGTH), st.integers(0, LENGTH)).map(sorted).map(tuple), max_size=4)
policies = st.builds(
    Policies,
    unknown=st.sampled_from(["exclude", "up", "down"]),
    no_data=st.sampled_from(["exclude", "up", "down"]),
    degraded_counts_as=st.sampled_from(["up", "down"]),
)


def spans_of(states: list[State]) -> list[Span]:
    """One span per ms, no_data left as holes (the bucketing must fill them back)."""
    return normalize(Span(t, t + 1, s) for t, s in enumerate(states) if s is not State.NO_DATA)


def evaluate(states: list[State], excluded: list[tuple[int, int]], pol: Policies) -> Availability:
    merged = merge_ranges(excluded)
    return availability_of(BucketTotals.of(bucketize(spans_of(states), 0, LENGTH, merged)), pol, TARGET)


@settings(max_examples=200, deadline=None)
@given(per_ms, ranges, policies)
def test_every_instant_in_one_bucket_and_availability_in_range(
    states: list[State], excluded: list[tuple[int, int]], pol: Policies
) -> None:
    merged = merge_ranges(excluded)
    buckets = bucketize(spans_of(states), 0, LENGTH, merged)
    assert buckets[0].start_ms == 0 and buckets[-1].end_ms == LENGTH
    for a, b in itertools.pairwise(buckets):
        assert a.end_ms == b.start_ms
    for t in range(LENGTH):
        (bucket,) = [b.bucket for b in buckets if b.start_ms <= t < b.end_ms]
        is_excluded = any(s <= t < e for s, e in merged)
        assert bucket is (Bucket.EXCLUDED if is_excluded else Bucket(states[t].value))
    result = availability_of(BucketTotals.of(buckets), pol, TARGET)
    assert result.buckets.total_ms == LENGTH
    if result.availability is not None:
        assert 0 <= result.availability <= 1
        assert result.met is (result.availability >= TARGET)
    else:
        assert result.counted_ms == 0 and result.met is None


@settings(max_examples=200, deadline=None)
@given(per_ms, ranges, policies, st.integers(0, LENGTH - 1), st.integers(1, LENGTH))
def test_adding_downtime_never_raises_availability(
    states: list[State], excluded: list[tuple[int, int]], pol: Policies, at: int, length: int
) -> None:
    before = evaluate(states, excluded, pol)
    worse = list(states)
    for t in range(at, min(LENGTH, at + length)):
        worse[t] = State.DOWN
    after = evaluate(worse, excluded, pol)
    if before.availability is not None:
        assert after.availability is not None and after.availability <= before.availability


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(per_ms, ranges, policies, st.data())
def test_excluding_down_time_never_lowers_availability(
    states: list[State], excluded: list[tuple[int, int]], pol: Policies, data: st.DataObject
) -> None:
    before = evaluate(states, excluded, pol)
    down_ms = [t for t, s in enumerate(states) if pol.counts_as(Bucket(s.value)) == "down"]
    chosen = data.draw(st.lists(st.sampled_from(down_ms), unique=True)) if down_ms else []
    after = evaluate(states, [*excluded, *((t, t + 1) for t in chosen)], pol)
    if after.availability is not None:
        assert before.availability is not None and after.availability >= before.availability
    else:  # everything counted was down and is now excluded
        assert before.availability in (None, 0)


@settings(max_examples=100, deadline=None)
@given(per_ms, ranges, policies, st.integers(1, LENGTH - 1))
def test_down_time_is_additive_across_a_period_boundary(
    states: list[State], excluded: list[tuple[int, int]], pol: Policies, boundary: int
) -> None:
    merged = merge_ranges(excluded)
    spans = spans_of(states)
    whole = BucketTotals.of(bucketize(spans, 0, LENGTH, merged))
    first = BucketTotals.of(bucketize(spans, 0, boundary, merged))
    second = BucketTotals.of(bucketize(spans, boundary, LENGTH, merged))
    for bucket in Bucket:
        assert first.ms(bucket) + second.ms(bucket) == whole.ms(bucket)
    both = [availability_of(t, pol, TARGET) for t in (first, second)]
    total = availability_of(whole, pol, TARGET)
    assert both[0].counted_down_ms + both[1].counted_down_ms == total.counted_down_ms


@settings(max_examples=100, deadline=None)
@given(per_ms, ranges, policies, st.sampled_from([7, 10, 13]), st.integers(1, 3))
def test_counting_partial_slices_is_never_kinder(
    states: list[State], excluded: list[tuple[int, int]], pol: Policies, unit: int, min_run: int
) -> None:
    buckets = bucketize(spans_of(states), 0, LENGTH, merge_ranges(excluded))
    ignore = count_slices(buckets, 0, LENGTH, pol, SliceCounting(unit, "ignore", min_run), TARGET)
    count = count_slices(buckets, 0, LENGTH, pol, SliceCounting(unit, "count", min_run), TARGET)
    assert ignore.total_slices == count.total_slices == -(-LENGTH // unit)
    assert ignore.excluded_slices == count.excluded_slices
    if count.availability is not None:
        assert ignore.availability is not None and 0 <= count.availability <= ignore.availability <= 1


def test_excluding_up_time_can_lower_availability() -> None:
    # 9 ms up, 1 ms down: 90 %. Exclude 5 ms of the up time: 4 up, 1 down: 80 %. This is why only excluding
    # *down* time is promised never to lower availability.
    states = [State.UP] * 9 + [State.DOWN] + [State.NO_DATA] * (LENGTH - 10)
    assert evaluate(states, [], Policies()).availability == Fraction(9, 10)
    assert evaluate(states, [(0, 5)], Policies()).availability == Fraction(4, 5)
