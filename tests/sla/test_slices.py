"""Slice counting: partial minutes ignored vs counted, excluded slices, min_run, a short last slice."""

from __future__ import annotations

from fractions import Fraction

import pytest

from probe_agent.model import State
from probe_agent.sla.availability import Policies, bucketize
from probe_agent.sla.slices import PartialRule, SliceCounting, SliceResult, count_slices
from probe_agent.sla.timeline import Span

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
