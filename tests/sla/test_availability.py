"""Buckets, policies and exact availability; exclusion and maintenance-notice decisions."""

from __future__ import annotations

from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from probe_agent.model import State
from probe_agent.sla.availability import (
    Bucket,
    BucketSpan,
    BucketTotals,
    Policies,
    availability_of,
    bucketize,
)
from probe_agent.sla.exclusions import (
    MaintenanceWindow,
    decide_windows,
    excluded_ranges,
    merge_ranges,
    overlap_ms,
    recurring_windows,
)
from probe_agent.sla.timeline import Span

U, G, D, K, N = State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN, State.NO_DATA
# [0, 1000): up 0-400, down 400-600, unknown 600-700, nothing 700-800, degraded 800-900, up 900-1000.
TIMELINE = [Span(0, 400, U), Span(400, 600, D), Span(600, 700, K), Span(800, 900, G), Span(900, 1000, U)]
EXCLUDED = [(500, 650)]  # a maintenance window over the end of the outage and the start of the unknown span


def test_buckets_of_a_hand_timeline() -> None:
    buckets = bucketize(TIMELINE, 0, 1000, EXCLUDED)
    assert buckets == [
        BucketSpan(0, 400, Bucket.UP),
        BucketSpan(400, 500, Bucket.DOWN),
        BucketSpan(500, 650, Bucket.EXCLUDED),
        BucketSpan(650, 700, Bucket.UNKNOWN),
        BucketSpan(700, 800, Bucket.NO_DATA),
        BucketSpan(800, 900, Bucket.DEGRADED),
        BucketSpan(900, 1000, Bucket.UP),
    ]
    assert BucketTotals.of(buckets) == BucketTotals(
        total_ms=1000, up_ms=500, degraded_ms=100, down_ms=100, unknown_ms=50, no_data_ms=100, excluded_ms=150
    )


@pytest.mark.parametrize(
    ("policies", "up", "down"),
    [
        (Policies(), 600, 100),  # up 500 + degraded 100 | down 100
        (Policies(degraded_counts_as="down"), 500, 200),
        (Policies(unknown="down"), 600, 150),
        (Policies(unknown="up", no_data="up"), 750, 100),
        (Policies(no_data="down", degraded_counts_as="down"), 500, 300),
    ],
)
def test_policies_map_buckets(policies: Policies, up: int, down: int) -> None:
    result = availability_of(BucketTotals.of(bucketize(TIMELINE, 0, 1000, EXCLUDED)), policies, Fraction(9, 10))
    assert (result.counted_up_ms, result.counted_down_ms) == (up, down)
    assert result.availability == Fraction(up, up + down)
    assert result.met is (Fraction(up, up + down) >= Fraction(9, 10))
    assert result.coverage == Fraction(700, 850)  # (up + degraded + down) / (total - excluded), policy-free


def test_met_is_exact_at_the_target() -> None:
    totals = BucketTotals(total_ms=1000, up_ms=999, down_ms=1)
    assert availability_of(totals, Policies(), Fraction(999, 1000)).met is True
    assert availability_of(totals, Policies(), Fraction(999_000_001, 10**9)).met is False


def test_nothing_counted_gives_null_availability_and_met() -> None:
    result = availability_of(BucketTotals(total_ms=100, no_data_ms=60, excluded_ms=40), Policies(), Fraction(1, 2))
    assert result.availability is None and result.met is None
    assert result.coverage == 0
    all_excluded = availability_of(BucketTotals(total_ms=100, excluded_ms=100), Policies(), Fraction(1, 2))
    assert all_excluded.coverage is None


def test_bucketize_with_several_exclusions_inside_one_span() -> None:
    buckets = bucketize([Span(0, 100, D)], 0, 100, [(10, 20), (30, 40), (90, 200)])
    assert [(b.start_ms, b.end_ms, b.bucket) for b in buckets] == [
        (0, 10, Bucket.DOWN),
        (10, 20, Bucket.EXCLUDED),
        (20, 30, Bucket.DOWN),
        (30, 40, Bucket.EXCLUDED),
        (40, 90, Bucket.DOWN),
        (90, 100, Bucket.EXCLUDED),
    ]


def test_policies_validate() -> None:
    with pytest.raises(ValueError):
        Policies(unknown="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Policies(degraded_counts_as="exclude")  # type: ignore[arg-type]


def test_notice_rule() -> None:
    hour = 3_600_000
    windows = [
        MaintenanceWindow(100 * hour, 101 * hour, 52 * hour, "on time", notice_ms=48 * hour),  # exactly 48 h ahead
        MaintenanceWindow(200 * hour, 201 * hour, 190 * hour, "late", notice_ms=48 * hour),
        MaintenanceWindow(300 * hour, 301 * hour, None, "never", notice_ms=48 * hour),
    ]
    decisions = decide_windows(windows)
    assert [d.excluded for d in decisions] == [True, False, False]
    assert "notice requires" in decisions[1].reason and "never announced" in decisions[2].reason
    without_notice = [MaintenanceWindow(w.start_ms, w.end_ms, w.announced_ms, w.label) for w in windows]
    assert all(d.excluded for d in decide_windows(without_notice))
    assert excluded_ranges([(0, 10)], decisions) == [(0, 10), (100 * hour, 101 * hour)]


def test_merge_and_overlap() -> None:
    assert merge_ranges([(5, 10), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert overlap_ms([(0, 4), (5, 12)], 2, 8) == 5


def test_recurring_windows_and_notice() -> None:
    hour = 3_600_000
    day = 24 * hour
    # Daily 01:00-02:00 UTC over three days; the rule was announced at hour 0 with 48 h notice required.
    windows = recurring_windows(
        "0 1 * * *", hour, 0, 3 * day, ZoneInfo("UTC"), announced_ms=0, label="nightly", notice_ms=48 * hour
    )
    assert [(w.start_ms, w.end_ms) for w in windows] == [(d * day + hour, d * day + 2 * hour) for d in range(3)]
    decisions = decide_windows(windows)
    # Only the third night starts 48 h or more after the announcement.
    assert [d.excluded for d in decisions] == [False, False, True]
