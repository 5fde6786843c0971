"""Timeline algebra: normalize, clip, and the combination rules against a per-instant reference."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import State, StateInterval
from probe_agent.sla.timeline import (
    ALL,
    ANY,
    VANTAGE,
    CombineRule,
    Span,
    clip,
    combine,
    combine_masked,
    normalize,
    quorum,
)

U, G, D, K, N = State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN, State.NO_DATA


def reference(rule: CombineRule, states: tuple[State, ...]) -> State:
    """The rules of design.md written out the slow, obvious way, one instant at a time."""
    n = len(states)
    ups, degs, downs = states.count(U), states.count(G), states.count(D)
    if n == 0 or states.count(N) == n:
        return N
    if rule.kind == "all":
        if downs:
            return D
        if ups + degs == n:
            return G if degs else U
        return N if N in states else K
    if rule.kind == "any":
        if ups:
            return U
        if degs:
            return G
        return D if downs == n else K
    if rule.kind == "quorum":
        assert rule.k is not None
        k = min(rule.k, n)
        if downs >= k:
            return D
        if ups + degs > n - k:
            return U if ups > n - k else G
        return K
    definite = [s for s in states if s in (U, G, D)]
    if definite:
        if all(s is D for s in definite):
            return D
        return U if U in definite else G
    return K


@pytest.mark.parametrize(
    ("states", "all_", "any_", "q2", "vantage"),
    [
        ((U, U, U), U, U, U, U),
        ((U, G, U), G, U, U, U),
        ((U, D, U), D, U, U, U),  # one of three down: q2 says up (2 up > 3-2)
        ((D, D, U), D, U, D, U),
        ((D, D, D), D, D, D, D),
        ((D, K, U), D, U, K, U),  # q2: 1 down, 1 up, not more than n-k=1: unknown
        ((D, K, K), D, K, K, D),  # vantage: only the agent with data votes
        ((D, N, N), D, K, K, D),
        ((U, N, U), N, U, U, U),  # all: a gap in one member is no_data, never up
        ((U, K, U), K, U, U, U),
        ((K, N, U), N, U, K, U),
        ((K, N, N), N, K, K, K),
        ((N, N, N), N, N, N, N),
        ((G, G, D), D, G, G, G),
    ],
)
def test_rule_table(states: tuple[State, ...], all_: State, any_: State, q2: State, vantage: State) -> None:
    members = [[Span(0, 10, s)] if s is not N else [] for s in states]
    for rule, expected in ((ALL, all_), (ANY, any_), (quorum(2), q2), (VANTAGE, vantage)):
        assert combine(members, rule, 0, 10) == [Span(0, 10, expected)], rule
        assert reference(rule, states) is expected, rule


def test_reference_agrees_with_combine_on_every_state_mix() -> None:
    for n in (1, 2, 3):
        for states in itertools.product((U, G, D, K, N), repeat=n):
            members = [[Span(0, 5, s)] for s in states]
            for rule in (ALL, ANY, VANTAGE, quorum(1), quorum(2), quorum(3)):
                assert combine(members, rule, 0, 5) == [Span(0, 5, reference(rule, states))], (rule, states)


def test_normalize_sorts_merges_and_accepts_state_intervals() -> None:
    spans = normalize(
        [
            StateInterval("a", "e", 10, 20, D, "connect_refused", 10),
            Span(0, 10, U),
            StateInterval("a", "e", 20, 30, D, None, 10),
            Span(40, 40 + 1, U),
        ]
    )
    assert spans == [Span(0, 10, U), Span(10, 30, D), Span(40, 41, U)]


def test_normalize_rejects_overlaps() -> None:
    with pytest.raises(ValueError, match="overlapping"):
        normalize([Span(0, 10, U), Span(5, 15, D)])


def test_span_rejects_empty() -> None:
    with pytest.raises(ValueError):
        Span(5, 5, U)


def test_clip_fills_holes_with_no_data() -> None:
    spans = normalize([Span(10, 20, U), Span(30, 40, D), Span(40, 50, U)])
    assert clip(spans, 0, 60) == [
        Span(0, 10, N),
        Span(10, 20, U),
        Span(20, 30, N),
        Span(30, 40, D),
        Span(40, 50, U),
        Span(50, 60, N),
    ]
    assert clip(spans, 15, 35) == [Span(15, 20, U), Span(20, 30, N), Span(30, 35, D)]
    assert clip([], 0, 5) == [Span(0, 5, N)]
    assert clip(spans, 5, 5) == []


def test_combine_edge_cases() -> None:
    assert combine([], ALL, 0, 10) == [Span(0, 10, N)]
    # quorum k above n behaves as k = n
    assert combine([[Span(0, 10, D)], [Span(0, 10, U)]], quorum(5), 0, 10) == [Span(0, 10, U)]
    with pytest.raises(ValueError):
        CombineRule("quorum")
    with pytest.raises(ValueError):
        CombineRule("all", 2)


states = st.sampled_from([U, G, D, K, N])


@st.composite
def timelines(draw: st.DrawFn, length: int = 60) -> list[Span]:
    cuts = sorted(set(draw(st.lists(st.integers(1, length - 1), max_size=8))))
    bounds = [0, *cuts, length]
    out = []
    for a, b in itertools.pairwise(bounds):
        s = draw(states)
        if s is not N:  # leave holes: clip must turn them into no_data
            out.append(Span(a, b, s))
    return normalize(out)


rules = st.sampled_from([ALL, ANY, VANTAGE, quorum(1), quorum(2), quorum(3)])


@settings(max_examples=150, deadline=None)
@given(st.lists(timelines(), min_size=1, max_size=4), rules)
def test_combine_matches_the_pointwise_reference(members: list[list[Span]], rule: CombineRule) -> None:
    combined = combine(members, rule, 0, 60)
    assert combined[0].start_ms == 0 and combined[-1].end_ms == 60
    for a, b in itertools.pairwise(combined):
        assert a.end_ms == b.start_ms and a.state is not b.state
    clipped = [clip(m, 0, 60) for m in members]
    for t in range(60):
        at = tuple(next(s.state for s in m if s.start_ms <= t < s.end_ms) for m in clipped)
        got = next(s.state for s in combined if s.start_ms <= t < s.end_ms)
        assert got is reference(rule, at), (t, at)


@st.composite
def masks(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Sorted, disjoint masked ranges inside [0, 60)."""
    cuts = sorted(set(draw(st.lists(st.integers(0, 60), max_size=6))))
    return [(a, b) for a, b in itertools.pairwise(cuts) if draw(st.booleans())]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(timelines(), masks()), min_size=1, max_size=4), rules)
def test_combine_masked_matches_the_pointwise_reference(
    members: list[tuple[list[Span], list[tuple[int, int]]]], rule: CombineRule
) -> None:
    """The one sweep (``combine`` is it with no masks): at every instant, the members outside their masks vote
    under the rule (a quorum larger than them shrinks to all of them); where all are masked, no_data, and that
    instant is returned as masked."""
    combined, masked = combine_masked([m for m, _ in members], [k for _, k in members], rule, 0, 60)
    assert combined[0].start_ms == 0 and combined[-1].end_ms == 60
    clipped = [(clip(m, 0, 60), k) for m, k in members]
    for t in range(60):
        voting = tuple(
            next(s.state for s in m if s.start_ms <= t < s.end_ms)
            for m, k in clipped
            if not any(a <= t < b for a, b in k)
        )
        got = next(s.state for s in combined if s.start_ms <= t < s.end_ms)
        in_masked = any(a <= t < b for a, b in masked)
        if not voting:
            assert got is N and in_masked, t
            continue
        assert not in_masked, t
        effective = quorum(len(voting)) if rule.kind == "quorum" and (rule.k or 0) > len(voting) else rule
        assert got is reference(effective, voting), (t, voting)
