"""Timeline algebra: sorted, non-overlapping ``[start_ms, end_ms)`` spans of one state, clipped and combined.

A *member timeline* is what one agent saw of one endpoint, or one endpoint's merged view, or a service's.
Combining is a single sweep over every member's boundaries (O(total spans x log total spans)); at each instant
the combined state depends only on how many members are in each state, so the rules below are functions of
those counts.

Combination rules, for ``n`` members at one instant (``up``/``degraded``/``down`` are *definite* states):

- ``all``: down if any member is down; up if all are up, degraded if all are up or degraded and one is
  degraded; otherwise no_data if any member has no data, else unknown (no_data is the worse of the two).
- ``any``: up if any member is up, else degraded if any is degraded; down only if all are down; otherwise
  unknown, except that when *every* member has no data the result is no_data (nobody saw anything: a gap, not
  a doubt).
- ``quorum k``: down if at least k members are down; up/degraded if more than n-k are up or degraded (up when
  the up members alone are more than n-k, else degraded); otherwise unknown (all no_data: no_data).
  ``quorum 1`` is ``all`` for down and up; ``quorum n`` is ``any``.
- ``vantage`` (across the agents that probe one endpoint): among the agents with a definite state, down only
  if all of them see it down, else up if any sees it up, else degraded; with no definite state, unknown if any
  agent says unknown, else no_data. One agent's network trouble (unknown) never turns the endpoint down.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from probe_agent.model import State, StateInterval

RuleKind = Literal["all", "any", "quorum", "vantage"]

# Index order of the per-state counters used by the sweep.
_STATES: tuple[State, ...] = (State.UP, State.DEGRADED, State.DOWN, State.UNKNOWN, State.NO_DATA)
_INDEX = {state: i for i, state in enumerate(_STATES)}
_UP, _DEG, _DOWN, _UNK, _NODATA = range(5)
_MASKED = 5  # combine_masked: the member is excluded here and does not vote


@dataclass(frozen=True, slots=True)
class Span:
    """One state over ``[start_ms, end_ms)`` (epoch ms). Empty or reversed spans are rejected."""

    start_ms: int
    end_ms: int
    state: State

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"span [{self.start_ms}, {self.end_ms}) is empty or reversed")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class CombineRule:
    """How member states combine at one instant: ``all``, ``any``, ``quorum`` (with ``k``) or ``vantage``."""

    kind: RuleKind
    k: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "quorum":
            if self.k is None or self.k < 1:
                raise ValueError("quorum needs k >= 1")
        elif self.k is not None:
            raise ValueError(f"rule {self.kind!r} takes no k")


ALL = CombineRule("all")
ANY = CombineRule("any")
VANTAGE = CombineRule("vantage")


def quorum(k: int) -> CombineRule:
    return CombineRule("quorum", k)


def normalize(spans: Iterable[Span | StateInterval]) -> list[Span]:
    """Sorted spans with adjacent equal states merged; zero-length intervals are dropped.

    Raises ValueError if two spans overlap (one timeline never holds two states at once: that is a store bug,
    and silently picking one would change a figure that decides money).
    """
    items = sorted(
        ((s.start_ms, s.end_ms, s.state) for s in spans if s.end_ms > s.start_ms),
        key=lambda t: t[0],
    )
    out: list[Span] = []
    for start, end, state in items:
        if out:
            last = out[-1]
            if start < last.end_ms:
                raise ValueError(f"overlapping spans: [{last.start_ms}, {last.end_ms}) and [{start}, {end})")
            if start == last.end_ms and state == last.state:
                out[-1] = Span(last.start_ms, end, state)
                continue
        out.append(Span(start, end, State(state)))
    return out


def clip(spans: Sequence[Span], start_ms: int, end_ms: int) -> list[Span]:
    """``spans`` (normalized) restricted to ``[start_ms, end_ms)``, every hole filled with ``no_data``.

    The result covers the range exactly, with no two adjacent spans in the same state. An empty range gives
    an empty list.
    """
    if end_ms <= start_ms:
        return []
    out: list[Span] = []

    def emit(a: int, b: int, state: State) -> None:
        if out and out[-1].state == state and out[-1].end_ms == a:
            out[-1] = Span(out[-1].start_ms, b, state)
        else:
            out.append(Span(a, b, state))

    # First span that can reach past start_ms: spans are sorted and disjoint, so ends are sorted too.
    i = bisect.bisect_right([s.end_ms for s in spans], start_ms)
    cursor = start_ms
    while i < len(spans) and spans[i].start_ms < end_ms:
        span = spans[i]
        if span.start_ms > cursor:
            emit(cursor, span.start_ms, State.NO_DATA)
            cursor = span.start_ms
        stop = min(span.end_ms, end_ms)
        if stop > cursor:
            emit(cursor, stop, span.state)
            cursor = stop
        i += 1
    if cursor < end_ms:
        emit(cursor, end_ms, State.NO_DATA)
    return out


def _decide(rule: CombineRule, c: list[int], n: int) -> State:
    """The combined state for per-state member counts ``c`` (indexed as ``_STATES``) of ``n`` members."""
    kind = rule.kind
    if kind == "all":
        if c[_DOWN]:
            return State.DOWN
        if c[_UP] + c[_DEG] == n:
            return State.DEGRADED if c[_DEG] else State.UP
        return State.NO_DATA if c[_NODATA] else State.UNKNOWN
    if kind == "any":
        if c[_UP]:
            return State.UP
        if c[_DEG]:
            return State.DEGRADED
        if c[_DOWN] == n:
            return State.DOWN
        return State.NO_DATA if c[_NODATA] == n else State.UNKNOWN
    if kind == "quorum":
        k = rule.k if rule.k is not None else n
        if c[_DOWN] >= k:
            return State.DOWN
        if c[_UP] + c[_DEG] > n - k:
            return State.UP if c[_UP] > n - k else State.DEGRADED
        return State.NO_DATA if c[_NODATA] == n else State.UNKNOWN
    # vantage: only agents with a definite state vote.
    if c[_UP] + c[_DEG] + c[_DOWN]:
        if c[_UP]:
            return State.UP
        if c[_DEG]:
            return State.DEGRADED
        return State.DOWN
    return State.UNKNOWN if c[_UNK] else State.NO_DATA


def combine(members: Sequence[Sequence[Span]], rule: CombineRule, start_ms: int, end_ms: int) -> list[Span]:
    """The combined timeline of ``members`` (each normalized) over ``[start_ms, end_ms)`` under ``rule``.

    Each member is clipped first, so its holes are no_data. No members at all gives one no_data span. A
    ``quorum`` k larger than the number of members is treated as k = n (down only if all are down). The one sweep
    is ``combine_masked``'s, with no member masked.
    """
    return combine_masked(members, [()] * len(members), rule, start_ms, end_ms)[0]


def _masked_pieces(spans: Sequence[Span], mask: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``spans`` as (start, end, state index), with the parts inside ``mask`` (sorted, merged) as ``_MASKED``."""
    out: list[tuple[int, int, int]] = []
    j = 0
    for span in spans:
        cursor = span.start_ms
        while cursor < span.end_ms:
            while j < len(mask) and mask[j][1] <= cursor:
                j += 1
            if j < len(mask) and mask[j][0] <= cursor:
                stop = min(span.end_ms, mask[j][1])
                out.append((cursor, stop, _MASKED))
            else:
                stop = min(span.end_ms, mask[j][0]) if j < len(mask) else span.end_ms
                out.append((cursor, stop, _INDEX[span.state]))
            cursor = stop
    return out


def combine_masked(
    members: Sequence[Sequence[Span]],
    masks: Sequence[Sequence[tuple[int, int]]],
    rule: CombineRule,
    start_ms: int,
    end_ms: int,
) -> tuple[list[Span], list[tuple[int, int]]]:
    """Like ``combine``, but a member does not vote while inside its mask (an exclusion scoped to that member).

    The rule applies to the members left (a quorum k larger than them becomes all of them). Where every member is
    masked the combined state is no_data and the range is returned as the second value: the caller excludes it.
    ``masks[i]`` must be sorted and non-overlapping.
    """
    if end_ms <= start_ms:
        return [], []
    n = len(members)
    if n == 0:
        return [Span(start_ms, end_ms, State.NO_DATA)], []
    # The sweep: per-state member counts (plus _MASKED), changed at each member's boundaries (time, old, new).
    counts = [0] * 6
    events: list[tuple[int, int, int]] = []
    for member, mask in zip(members, masks, strict=True):
        pieces = _masked_pieces(clip(member, start_ms, end_ms), mask)
        prev = pieces[0][2]
        counts[prev] += 1
        for a, _, idx in pieces[1:]:
            if idx != prev:
                events.append((a, prev, idx))
                prev = idx
    events.sort()

    def decide() -> State | None:
        active = n - counts[_MASKED]
        if active == 0:
            return None
        effective = rule
        if rule.kind == "quorum" and (rule.k or n) > active:
            effective = quorum(active)
        return _decide(effective, counts, active)

    out: list[Span] = []
    masked: list[tuple[int, int]] = []
    cursor, state = start_ms, decide()
    i, total = 0, len(events)

    def close(stop: int) -> None:
        if state is None:
            masked.append((cursor, stop))
        out.append(Span(cursor, stop, State.NO_DATA if state is None else state))

    while i < total:
        t = events[i][0]
        while i < total and events[i][0] == t:
            _, old, new = events[i]
            counts[old] -= 1
            counts[new] += 1
            i += 1
        new_state = decide()
        if new_state != state:
            close(t)
            cursor, state = t, new_state
    close(end_ms)
    return out, masked
