"""Slice counting: availability as the share of good fixed-length slices (e.g. minutes), as cloud SLAs do.

**The grid.** Slices of ``unit_ms`` align to the cycle start (``origin_ms``), also when monitoring began
mid-cycle: the slice that holds the monitoring start is then cut there. A slice cut short by an edge of the
counted range (the monitoring start, the cycle's end when the cycle is not a whole number of slices, or "now" in a
running cycle) is judged on its counted part like any other and **weighs its actual length**: availability = the
up slices' total length / the up and down slices' total length, and the downtime that per-unit credits count is
the down slices' total length (``down_ms``), so it never exceeds the range. When every slice is whole this is up
slices / (up + down slices) and down slices x unit.

**Judging a slice.** Within a slice, only *counted* time matters (policies applied: excluded time and
policy-excluded unknown/no_data are ignored):

- no counted time at all: the slice is **excluded** (neither up nor down);
- no counted-down time: **up**;
- some counted-down time: with ``partial: count`` **down**; with ``partial: ignore`` down only if *all* of its
  counted time is down (a partial bad minute is not a downtime minute, as in Google's SLAs), else up.

A slice partly excluded is therefore judged on its counted part alone: half maintenance and half down is a
down slice under either setting; half maintenance, a quarter up and a quarter down is down only with
``partial: count``.

**min_run**: a run of consecutive down slices shorter than ``min_run`` counts as up. Excluded slices neither
break nor lengthen a run (a maintenance window inside an outage does not split it). A run is judged on its
**whole length, across the range's edges**: when ``context`` gives the buckets around the range, a run that
touches the range's start or end is followed outside it (before the range on slices aligned backward from its
start, after it on slices aligned forward from its end, i.e. the next cycle's start) until an up slice, until it
is long enough, or until the data ends. A run long enough counts in each range for its slices inside that range;
two adjacent cycles thus judge a run across their shared edge alike. Reaching the start of the data closes a run.
A short run with no up slice after it up to the end of the data counts as up for now (``open_run``): it may
become a counted run once more data exists.

availability = up length / (up length + down length); None when no slice is counted.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Literal

from probe_agent.sla.availability import BucketSpan, Policies

PartialRule = Literal["ignore", "count"]


@dataclass(frozen=True, slots=True)
class SliceCounting:
    """The ``slices`` counting method: slice length in ms, partial-slice rule, shortest counted down run."""

    unit_ms: int = 60_000
    partial: PartialRule = "ignore"
    min_run: int = 1

    def __post_init__(self) -> None:
        if self.unit_ms <= 0:
            raise ValueError("slice unit must be positive")
        if self.partial not in ("ignore", "count"):
            raise ValueError("partial must be ignore or count")
        if self.min_run < 1:
            raise ValueError("min_run must be at least 1")


@dataclass(frozen=True, slots=True)
class OpenRun:
    """A down run touching the range, shorter than ``min_run``, with no up slice after it up to the data's end.

    It counts as up for now. ``start_ms``: the start of its first down slice (before the range if it began there);
    ``down_slices``: its down slices so far, on both sides of the range's edges; ``decided_by_ms``: the end of its
    last down slice plus one unit per down slice it still lacks: if it goes on without a pause it counts from then,
    an up slice before then forgives it. Still open after that (no data after it), it stays forgiven.
    """

    start_ms: int
    down_slices: int
    decided_by_ms: int


@dataclass(frozen=True, slots=True)
class SliceResult:
    counting: SliceCounting
    up_slices: int
    down_slices: int
    excluded_slices: int
    short_runs_forgiven: int  # down slices that counted as up because their run was shorter than min_run
    availability: Fraction | None
    met: bool | None
    up_ms: int  # the up slices' total length in ms (a slice cut short by the range's edge weighs its length)
    down_ms: int  # the down slices' total length in ms: the downtime per-unit credits count
    open_run: OpenRun | None = None

    @property
    def total_slices(self) -> int:
        return self.up_slices + self.down_slices + self.excluded_slices


_EXCLUDED, _UP, _DOWN = 0, 1, 2


def slice_bounds(start_ms: int, end_ms: int, unit_ms: int, origin_ms: int) -> list[tuple[int, int]]:
    """The slices of ``[start_ms, end_ms)`` on the grid ``origin_ms + k * unit_ms``, the first and last cut at the
    range's edges (a range that starts off the grid, e.g. at the monitoring start, starts with a short slice)."""
    if end_ms <= start_ms:
        return []
    first_end = min(origin_ms + ((start_ms - origin_ms) // unit_ms + 1) * unit_ms, end_ms)
    edges = [start_ms, *range(first_end, end_ms, unit_ms), end_ms]
    return list(pairwise(edges))


def _judge(up_ms: int, down_ms: int, partial: PartialRule) -> int:
    if up_ms + down_ms == 0:
        return _EXCLUDED
    if down_ms == 0:
        return _UP
    return _DOWN if partial == "count" or up_ms == 0 else _UP


def classify_slices(
    buckets: Sequence[BucketSpan],
    start_ms: int,
    end_ms: int,
    policies: Policies,
    counting: SliceCounting,
    origin_ms: int | None = None,
) -> list[int]:
    """Per slice of ``[start_ms, end_ms)`` (see ``slice_bounds``; ``origin_ms`` defaults to ``start_ms``;
    ``buckets`` cover the range): 0 excluded, 1 up, 2 down (before min_run)."""
    bounds = slice_bounds(start_ms, end_ms, counting.unit_ms, start_ms if origin_ms is None else origin_ms)
    return _classify(buckets, bounds, policies, counting)


def _classify(
    buckets: Sequence[BucketSpan], bounds: list[tuple[int, int]], policies: Policies, counting: SliceCounting
) -> list[int]:
    if not bounds:
        return []
    start_ms, end_ms = bounds[0][0], bounds[-1][1]
    # Every slice after the first starts on the grid, one unit apart: a time's slice is found by arithmetic.
    first_end, unit = bounds[0][1], counting.unit_ms
    ends = [b for _, b in bounds]
    up = [0] * len(bounds)
    down = [0] * len(bounds)
    for b in buckets:
        as_ = policies.counts_as(b.bucket)
        if as_ is None:
            continue
        target = up if as_ == "up" else down
        a, z = max(b.start_ms, start_ms), min(b.end_ms, end_ms)
        i = 0 if a < first_end else 1 + (a - first_end) // unit
        while a < z:
            stop = ends[i] if ends[i] < z else z
            target[i] += stop - a
            a, i = stop, i + 1
    return [_judge(u, d, counting.partial) for u, d in zip(up, down, strict=True)]


class _Outside:
    """Slices outside the range, judged one at a time from the context buckets (for runs across the edges)."""

    def __init__(self, buckets: Sequence[BucketSpan], policies: Policies, counting: SliceCounting) -> None:
        self.buckets = buckets
        self.starts = [b.start_ms for b in buckets]
        self.policies = policies
        self.counting = counting

    def judge(self, lo: int, hi: int) -> int:
        up = down = 0
        i = max(bisect_right(self.starts, lo) - 1, 0)
        while i < len(self.buckets) and self.buckets[i].start_ms < hi:
            b = self.buckets[i]
            length = min(b.end_ms, hi) - max(b.start_ms, lo)
            as_ = self.policies.counts_as(b.bucket) if length > 0 else None
            if as_ == "up":
                up += length
            elif as_ == "down":
                down += length
            i += 1
        return _judge(up, down, self.counting.partial)

    def uncounted_until(self, t: int, forward: bool) -> int | None:
        """Where the uncounted bucket holding ``t`` (forward) or ending at ``t`` (backward) ends (or starts)."""
        probe = t if forward else t - 1
        i = bisect_right(self.starts, probe) - 1
        if i < 0 or self.buckets[i].end_ms <= probe or self.policies.counts_as(self.buckets[i].bucket) is not None:
            return None
        return self.buckets[i].end_ms if forward else self.buckets[i].start_ms

    def walk_forward(self, edge: int, limit: int, need: int) -> tuple[int, bool, int | None]:
        """Down slices of a run going on past ``edge`` (slices aligned to it, the data ending at ``limit``), at most
        ``need``: (down slices, closed by an up slice or by being long enough, end of the last down slice)."""
        unit = self.counting.unit_ms
        found, last_end, a = 0, None, edge
        while found < need:
            if a >= limit:
                return found, False, last_end
            kind = self.judge(a, min(a + unit, limit))
            if kind == _UP:
                return found, True, last_end
            if kind == _DOWN:
                found, last_end = found + 1, a + unit
                a += unit
                continue
            until = self.uncounted_until(a + unit, forward=True)  # skip a long uncounted stretch whole
            a = max(a + unit, edge + (until - edge) // unit * unit) if until is not None else a + unit
        return found, True, last_end

    def walk_backward(self, edge: int, limit: int, need: int) -> tuple[int, int | None]:
        """Down slices of a run that began before ``edge`` (slices aligned to it, the data starting at ``limit``),
        at most ``need``: (down slices, start of the earliest one)."""
        unit = self.counting.unit_ms
        found, first_start, b = 0, None, edge
        while found < need and b > limit:
            lo = max(b - unit, limit)
            kind = self.judge(lo, b)
            if kind == _UP:
                break
            if kind == _DOWN:
                found, first_start = found + 1, lo
                b -= unit
                continue
            since = self.uncounted_until(lo, forward=False)
            b = min(b - unit, edge - (edge - since) // unit * unit) if since is not None else b - unit
        return found, first_start


def count_slices(
    buckets: Sequence[BucketSpan],
    start_ms: int,
    end_ms: int,
    policies: Policies,
    counting: SliceCounting,
    target: Fraction,
    *,
    origin_ms: int | None = None,
    context: tuple[int, int] | None = None,
) -> SliceResult:
    """Slice availability of the bucketed range ``[start_ms, end_ms)`` (see the module docstring).

    ``origin_ms``: where the slice grid starts (the cycle start; default ``start_ms``). ``context``: the range
    ``buckets`` cover around ``[start_ms, end_ms)`` (the data handed over), to judge runs across the edges; None:
    the buckets cover the range only and runs are judged inside it.
    """
    bounds = slice_bounds(start_ms, end_ms, counting.unit_ms, start_ms if origin_ms is None else origin_ms)
    kinds = _classify(buckets, bounds, policies, counting)
    forgiven = 0
    open_run: OpenRun | None = None
    if counting.min_run > 1:
        data_start, data_end = context if context is not None else (start_ms, end_ms)
        outside = _Outside(buckets, policies, counting)
        need = counting.min_run
        run: list[int] = []  # indices of the current run of down slices, skipping excluded ones
        up_before = False  # an up slice in the range before the current run: it does not touch the start
        for i, kind in enumerate([*kinds, None]):  # None: the range's end closes what the range holds of a run
            if kind == _DOWN:
                run.append(i)
                continue
            if kind == _EXCLUDED:
                continue
            if run:
                before, first = (0, None) if up_before else outside.walk_backward(start_ms, data_start, need - 1)
                after, closed, last_end = (
                    outside.walk_forward(end_ms, data_end, need - before - len(run))
                    if kind is None
                    else (0, True, None)
                )
                total = before + len(run) + after
                if total < need:
                    for j in run:
                        kinds[j] = _UP
                    forgiven += len(run)
                    if not closed:
                        decided = (bounds[run[-1]][1] if last_end is None else last_end) + (
                            need - total
                        ) * counting.unit_ms
                        start = bounds[run[0]][0] if first is None else first
                        open_run = OpenRun(start, total, decided)
            up_before = up_before or kind == _UP
            run = []
    up_ms, down_ms = _weigh(bounds, kinds, counting.unit_ms, _UP), _weigh(bounds, kinds, counting.unit_ms, _DOWN)
    value = Fraction(up_ms, up_ms + down_ms) if up_ms + down_ms else None
    return SliceResult(
        counting=counting,
        up_slices=kinds.count(_UP),
        down_slices=kinds.count(_DOWN),
        excluded_slices=kinds.count(_EXCLUDED),
        short_runs_forgiven=forgiven,
        availability=value,
        met=None if value is None else value >= target,
        up_ms=up_ms,
        down_ms=down_ms,
        open_run=open_run,
    )


def _weigh(bounds: list[tuple[int, int]], kinds: list[int], unit_ms: int, kind: int) -> int:
    """The total length of the slices of ``kind``: a unit each, less what the range's edges cut off the first and
    the last slice (the only ones that can be short)."""
    total = kinds.count(kind) * unit_ms
    for i in {0, len(kinds) - 1} if kinds else set():
        if kinds[i] == kind:
            total -= unit_ms - (bounds[i][1] - bounds[i][0])
    return total
