"""Slice counting: partial minutes ignored vs counted, excluded slices, min_run, a short last slice, and the
range's edges: the grid aligned to the cycle start, cut slices weighing their length, runs judged across edges."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import State
from probe_agent.sla.availability import Policies, bucketize
from probe_agent.sla.slices import OpenRun, PartialRule, SliceCounting, SliceResult, count_slices
from probe_agent.sla.timeline import Span, normalize

U, D, K = State.UP, State.DOWN, State.UNKNOWN
M = 60_000
TARGET = Fraction(1, 2)
DEFAULT = Policies()

# Six one-minute slices:
# 0: up | 1: half down, half up | 2: down | 3: excluded | 4: half excluded, half down
# 5: half excluded, quarter up, quarter down
SPANS = [
    Span(0, M, U),
    Span(M, M + M // 2, D),
    Span(M + M // 2, 2 * M, U),
    Span(2 * M, 5 * M, D),
    Span(5 * M, 5 * M + 45_000, U),
    Span(5 * M + 45_000, 6 * M, D),
]
EXCLUDED = [(3 * M, 4 * M + M // 2), (5 * M, 5 * M + 30_000)]


def slices(
    partial: PartialRule,
    min_run: int = 1,
    spans: list[Span] = SPANS,
    excluded: list[tuple[int, int]] = EXCLUDED,
    end: int = 6 * M,
    policies: Policies = DEFAULT,
) -> SliceResult:
    counting = SliceCounting(M, partial, min_run)
    return count_slices(bucketize(spans, 0, end, excluded), 0, end, policies, counting, TARGET)


def test_partial_minutes_ignored() -> None:
    result = slices("ignore")
    assert (result.up_slices, result.down_slices, result.excluded_slices) == (3, 2, 1)  # up: 0, 1, 5
    assert result.availability == Fraction(3, 5)


def test_partial_minutes_counted() -> None:
    result = slices("count")
    assert (result.up_slices, result.down_slices, result.excluded_slices) == (1, 4, 1)
    assert result.availability == Fraction(1, 5)
    assert result.met is False


def test_policy_excluded_unknown_makes_a_slice_excluded_or_judged_on_the_rest() -> None:
    spans = [Span(0, M, K), Span(M, M + 10_000, K), Span(M + 10_000, 2 * M, D)]
    result = slices("ignore", spans=spans, excluded=[], end=2 * M)
    assert (result.up_slices, result.down_slices, result.excluded_slices) == (0, 1, 1)
    counted_down = slices("ignore", spans=spans, excluded=[], end=2 * M, policies=Policies(unknown="up"))
    # Slice 1 now has 10 s of counted up time, so its down time is partial: up when partial minutes are ignored.
    assert (counted_down.up_slices, counted_down.down_slices) == (2, 0)


def test_min_run_forgives_short_runs_and_excluded_slices_do_not_break_runs() -> None:
    # down slices: 1 (run of 1), then 3-4 with 5 excluded and 6 down (run of 3 across the excluded slice)
    spans = [Span(0, M, U), Span(M, 2 * M, D), Span(2 * M, 3 * M, U), Span(3 * M, 7 * M, D), Span(7 * M, 8 * M, U)]
    result = slices("ignore", min_run=3, spans=spans, excluded=[(5 * M, 6 * M)], end=8 * M)
    assert result.short_runs_forgiven == 1
    assert (result.up_slices, result.down_slices, result.excluded_slices) == (4, 3, 1)
    stricter = slices("ignore", min_run=4, spans=spans, excluded=[(5 * M, 6 * M)], end=8 * M)
    assert (stricter.up_slices, stricter.down_slices, stricter.short_runs_forgiven) == (7, 0, 4)


def test_short_last_slice_is_judged_like_the_others() -> None:
    spans = [Span(0, 2 * M, U), Span(2 * M, 2 * M + 1000, D)]
    result = slices("ignore", spans=spans, excluded=[], end=2 * M + 1000)
    assert (result.up_slices, result.down_slices) == (2, 1)


def test_nothing_counted() -> None:
    result = slices("ignore", spans=[], excluded=[], end=3 * M)
    assert result.availability is None and result.met is None and result.excluded_slices == 3


def test_counting_validates() -> None:
    with pytest.raises(ValueError):
        SliceCounting(0)
    with pytest.raises(ValueError):
        SliceCounting(M, "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SliceCounting(M, "ignore", 0)


# --- Slices at the edges of the counted range (issue 8, problems 2, 3 and 5) ---


def test_slices_align_to_the_cycle_start_when_monitoring_starts_later() -> None:
    # Cycle from 0, monitoring from 30 s; down 10 min to 12 min. Aligned to the cycle: minutes 10 and 11 are down.
    # Aligned to the monitoring start they would be [9:30, 10:30) (half down: up), [10:30, 11:30) (down) and
    # [11:30, 12:30) (half down: up): one down slice.
    start, end = 30_000, 20 * M
    spans = [Span(start, 10 * M, U), Span(10 * M, 12 * M, D), Span(12 * M, end, U)]
    counting = SliceCounting(M, "ignore")
    result = count_slices(bucketize(spans, start, end, []), start, end, DEFAULT, counting, TARGET, origin_ms=0)
    assert (result.up_slices, result.down_slices) == (18, 2)
    # The first slice [30 s, 1 min) weighs its 30 s: up 17 min 30 s, down 2 min.
    assert (result.up_ms, result.down_ms) == (17 * M + 30_000, 2 * M)
    assert result.availability == Fraction(17 * M + 30_000, 19 * M + 30_000)


def test_a_slice_cut_short_by_the_range_end_weighs_its_actual_length() -> None:
    # A 90 s cycle of 1-minute slices: [0, 60 s) and [60 s, 90 s). Down throughout: 90 s of downtime, not 120 s.
    down = count_slices(bucketize([Span(0, 90_000, D)], 0, 90_000, []), 0, 90_000, DEFAULT, SliceCounting(M), TARGET)
    assert (down.down_slices, down.down_ms, down.availability) == (2, 90_000, Fraction(0))
    # Up the first minute, down the last 30 s: 60 s up of 90 s counted, not one slice of two.
    spans = [Span(0, M, U), Span(M, 90_000, D)]
    mixed = count_slices(bucketize(spans, 0, 90_000, []), 0, 90_000, DEFAULT, SliceCounting(M), TARGET)
    assert (mixed.up_slices, mixed.down_slices, mixed.availability) == (1, 1, Fraction(2, 3))


def across(
    spans: list[Span],
    start: int,
    end: int,
    lo: int,
    hi: int,
    min_run: int = 6,
    excluded: Sequence[tuple[int, int]] = (),
) -> SliceResult:
    """Slices of [start, end) with the data of [lo, hi) around it (UpCloud-like: partial count, min_run 6)."""
    buckets = bucketize(spans, lo, hi, excluded)
    return count_slices(
        buckets, start, end, DEFAULT, SliceCounting(M, "count", min_run), TARGET, origin_ms=start, context=(lo, hi)
    )


EDGE = 60 * M  # the boundary between two one-hour cycles
# An 8-minute interruption from 3 minutes before the edge to 5 minutes after it, up around it.
CROSSING = [Span(0, EDGE - 3 * M, U), Span(EDGE - 3 * M, EDGE + 5 * M, D), Span(EDGE + 5 * M, 2 * EDGE, U)]


def test_a_run_across_the_edge_is_judged_on_its_whole_length_and_counted_in_each_cycle() -> None:
    first = across(CROSSING, 0, EDGE, 0, 2 * EDGE)
    second = across(CROSSING, EDGE, 2 * EDGE, 0, 2 * EDGE)
    assert (first.down_slices, first.down_ms, first.short_runs_forgiven) == (3, 3 * M, 0)
    assert (second.down_slices, second.down_ms, second.short_runs_forgiven) == (5, 5 * M, 0)
    assert first.open_run is None and second.open_run is None
    # Without the data around each cycle, both halves were forgiven (the bug): 3 and 5 are each under 6.
    alone = [
        count_slices(bucketize(CROSSING, a, b, []), a, b, DEFAULT, SliceCounting(M, "count", 6), TARGET)
        for a, b in ((0, EDGE), (EDGE, 2 * EDGE))
    ]
    assert [r.down_slices for r in alone] == [0, 0]


def test_a_short_run_across_the_edge_is_forgiven_in_both_cycles() -> None:
    # 5 minutes in all (2 before, 3 after): shorter than 6 on its whole length.
    spans = [Span(0, EDGE - 2 * M, U), Span(EDGE - 2 * M, EDGE + 3 * M, D), Span(EDGE + 3 * M, 2 * EDGE, U)]
    first, second = across(spans, 0, EDGE, 0, 2 * EDGE), across(spans, EDGE, 2 * EDGE, 0, 2 * EDGE)
    assert (first.down_slices, first.short_runs_forgiven) == (0, 2)
    assert (second.down_slices, second.short_runs_forgiven) == (0, 3)


def test_excluded_time_after_the_edge_neither_breaks_nor_lengthens_a_run() -> None:
    # Down 3 minutes before the edge and on through a maintenance window [edge, edge + 30 min), then 2 more
    # minutes, then up: the run has 5 down slices, the window's 30 are excluded. Forgiven.
    spans = [Span(0, EDGE - 3 * M, U), Span(EDGE - 3 * M, EDGE + 32 * M, D), Span(EDGE + 32 * M, 2 * EDGE, U)]
    window = [(EDGE, EDGE + 30 * M)]
    assert across(spans, 0, EDGE, 0, 2 * EDGE, excluded=window).down_slices == 0
    # Three more down minutes after the window make it 8: counted, 3 in the first cycle.
    longer = [Span(0, EDGE - 3 * M, U), Span(EDGE - 3 * M, EDGE + 35 * M, D), Span(EDGE + 35 * M, 2 * EDGE, U)]
    assert across(longer, 0, EDGE, 0, 2 * EDGE, excluded=window).down_slices == 3
    assert across(longer, EDGE, 2 * EDGE, 0, 2 * EDGE, excluded=window).down_slices == 5


def test_a_short_run_open_at_the_end_of_the_data_counts_as_up_for_now_and_says_when_it_is_decided() -> None:
    # Down from 3 minutes before the edge; the data ends 30 s after the edge (still down). 4 slices so far
    # (the one in progress is down on its counted part); 2 more whole minutes decide: by edge + 3 min.
    spans = [Span(0, EDGE - 3 * M, U), Span(EDGE - 3 * M, EDGE + 30_000, D)]
    first = across(spans, 0, EDGE, 0, EDGE + 30_000)
    assert (first.down_slices, first.short_runs_forgiven) == (0, 3)
    assert first.open_run == OpenRun(start_ms=EDGE - 3 * M, down_slices=4, decided_by_ms=EDGE + 3 * M)
    # Data up to edge + 3 min, down throughout: 6 slices, counted; the run is no longer open.
    spans = [Span(0, EDGE - 3 * M, U), Span(EDGE - 3 * M, EDGE + 3 * M, D)]
    settled = across(spans, 0, EDGE, 0, EDGE + 3 * M)
    assert (settled.down_slices, settled.open_run) == (3, None)


def test_a_run_after_a_long_gap_before_the_edge_is_found_across_it() -> None:
    # Down 4 minutes, then a day without data (excluded by policy), then down 2 minutes across the edge: one run
    # of 6 (excluded slices do not break it), so the 2 minutes count, found through the gap.
    day = 1440 * M
    edge = 2 * day
    spans = [
        Span(0, day - 4 * M, U),
        Span(day - 4 * M, day, D),
        Span(edge - M, edge + M, D),
        Span(edge + M, 3 * day, U),
    ]
    first = across(spans, 0, edge, 0, 3 * day)
    second = across(spans, edge, 3 * day, 0, 3 * day)
    assert (first.down_slices, second.down_slices) == (5, 1)


HALF = 4  # slices per cycle in the property below
# Stretches of one state (long ones make whole slices excluded, which the walk across an edge skips at once).
stretches = st.lists(st.tuples(st.sampled_from([U, D, K, State.NO_DATA]), st.integers(1, 12)), max_size=12)
split_states = stretches.map(lambda runs: ([s for s, n in runs for _ in range(n)] + [U] * 32)[:32])


@settings(max_examples=300, deadline=None)
@given(split_states, st.integers(1, 5), st.sampled_from(["ignore", "count"]), st.integers(0, 2 * HALF * 4))
def test_two_adjacent_cycles_count_what_one_range_over_both_counts(
    states: list[State], min_run: int, partial: PartialRule, cut: int
) -> None:
    # Slices of 4 ms, two cycles of HALF slices; the data ends at ``cut``. Every run is counted (or forgiven) alike
    # whether the range is counted whole or as two cycles that see the data around them.
    unit, edge, end = 4, 4 * HALF, 8 * HALF
    spans = normalize(Span(t, t + 1, s) for t, s in enumerate(states) if s is not State.NO_DATA and t < cut)
    buckets = bucketize(spans, 0, cut, []) if cut else []
    counting = SliceCounting(unit, partial, min_run)
    whole = count_slices(buckets, 0, min(end, cut), DEFAULT, counting, TARGET, context=(0, cut))
    first = count_slices(buckets, 0, min(edge, cut), DEFAULT, counting, TARGET, context=(0, cut))
    second = count_slices(buckets, edge, max(edge, cut), DEFAULT, counting, TARGET, origin_ms=edge, context=(0, cut))
    assert first.down_slices + second.down_slices == whole.down_slices
    assert first.up_slices + second.up_slices == whole.up_slices
    assert first.down_ms + second.down_ms == whole.down_ms <= min(end, cut)


def test_an_up_part_after_a_gap_past_the_edge_closes_the_run() -> None:
    # Down 5 minutes up to the edge, no data for 10 min 30 s, up for 30 s, then down 2 minutes: the slice
    # [edge + 10 min, edge + 11 min) is judged on its counted part (up), so the run stays at 5 and is forgiven.
    spans = [
        Span(0, EDGE - 5 * M, U),
        Span(EDGE - 5 * M, EDGE, D),
        Span(EDGE + 10 * M + 30_000, EDGE + 11 * M, U),
        Span(EDGE + 11 * M, EDGE + 13 * M, D),
        Span(EDGE + 13 * M, 2 * EDGE, U),
    ]
    assert across(spans, 0, EDGE, 0, 2 * EDGE).down_slices == 0
    # Before the edge alike: the run after the edge is not lengthened by the one before the gap.
    spans = [
        Span(0, EDGE - 11 * M, U),
        Span(EDGE - 11 * M, EDGE - 9 * M, D),
        Span(EDGE - 9 * M, EDGE - 8 * M - 30_000, U),
        Span(EDGE, EDGE + 5 * M, D),
        Span(EDGE + 5 * M, 2 * EDGE, U),
    ]
    assert across(spans, EDGE, 2 * EDGE, 0, 2 * EDGE).down_slices == 0
