"""``reports.overlaps.resolve_pair``: how reports read overlapping stored intervals (properties and an example)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import State, StateInterval
from probe_agent.reports.overlaps import resolve_overlaps, resolve_pair
from probe_agent.sla.timeline import normalize

RANK = [State.DOWN, State.DEGRADED, State.UP, State.UNKNOWN, State.NO_DATA]


def iv(start: int, end: int, state: State, outage: int | None = None) -> StateInterval:
    return StateInterval("ams", "api", start, end, state, None, outage)


intervals = st.lists(
    st.builds(
        lambda start, length, state: iv(start, start + length, state),
        st.integers(0, 50),
        st.integers(1, 20),
        st.sampled_from(RANK),
    ),
    max_size=8,
)


def state_at(ivs: list[StateInterval], t: int) -> State | None:
    covering = [i.state for i in ivs if i.start_ms <= t < i.end_ms]
    return min(covering, key=RANK.index) if covering else None


@settings(max_examples=300, deadline=None)
@given(intervals, st.randoms(use_true_random=False))
def test_resolved_intervals_never_overlap_and_keep_the_worst_state_of_every_instant(
    ivs: list[StateInterval], rnd: random.Random
) -> None:
    out, overlap = resolve_pair(ivs)
    normalize(out)  # the SLA core accepts them: no overlap left
    for t in range(0, 72):
        assert state_at(out, t) == state_at(ivs, t)  # also: the same instants are covered, no more, no fewer
    shuffled = list(ivs)
    rnd.shuffle(shuffled)
    assert resolve_pair(shuffled) == (out, overlap)  # the order they were read in does not matter
    twice = sum(1 for t in range(0, 72) if sum(i.start_ms <= t < i.end_ms for i in ivs) > 1)
    assert (overlap.overlap_ms if overlap else 0) == twice


def test_disjoint_intervals_come_back_as_stored() -> None:
    ivs = [iv(10, 20, State.DOWN, 10), iv(0, 10, State.UP)]
    assert resolve_pair(ivs) == (sorted(ivs, key=lambda i: i.start_ms), None)


def test_a_tie_goes_to_the_interval_that_starts_first() -> None:
    """Two daemons' down intervals of one outage they dated differently: the earlier start speaks where both do."""
    out, overlap = resolve_pair([iv(270, 330, State.DOWN, 270), iv(245, 305, State.DOWN, 245)])
    assert out == [iv(245, 305, State.DOWN, 245), iv(305, 330, State.DOWN, 270)]
    assert overlap is not None and (overlap.start_ms, overlap.end_ms, overlap.overlap_ms) == (270, 305, 35)
    by_endpoint, found = resolve_overlaps({"api": [iv(0, 5, State.UP)], "web": []})
    assert by_endpoint == {"api": [iv(0, 5, State.UP)], "web": []} and found == []
