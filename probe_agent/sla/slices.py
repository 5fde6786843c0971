"""Slice counting: availability as the share of good fixed-length slices (e.g. minutes), as cloud SLAs do.

Slices of ``unit_ms`` are aligned to the period start; the last slice is shorter when the range is not a whole
number of units, and is judged the same way. Within a slice, only *counted* time matters (policies applied:
excluded time and policy-excluded unknown/no_data are ignored):

- no counted time at all: the slice is **excluded** (neither up nor down);
- no counted-down time: **up**;
- some counted-down time: with ``partial: count`` **down**; with ``partial: ignore`` down only if *all* of its
  counted time is down (a partial bad minute is not a downtime minute, as in Google's SLAs), else up.

A slice partly excluded is therefore judged on its counted part alone: half maintenance and half down is a
down slice under either setting; half maintenance, a quarter up and a quarter down is down only with
``partial: count``.

``min_run``: a run of consecutive down slices shorter than ``min_run`` counts as up. Excluded slices neither
break nor lengthen a run (a maintenance window inside an outage does not split it). A short run that reaches
the end of the measured range counts as up for now; it may become a counted run once more data exists.

availability = up slices / (up slices + down slices); None when no slice is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
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
class SliceResult:
    counting: SliceCounting
    up_slices: int
    down_slices: int
    excluded_slices: int
    short_runs_forgiven: int  # down slices that counted as up because their run was shorter than min_run
    availability: Fraction | None
    met: bool | None

    @property
    def total_slices(self) -> int:
        return self.up_slices + self.down_slices + self.excluded_slices


_EXCLUDED, _UP, _DOWN = 0, 1, 2


def classify_slices(
    buckets: Sequence[BucketSpan], start_ms: int, end_ms: int, policies: Policies, counting: SliceCounting
) -> list[int]:
    """Per slice of ``[start_ms, end_ms)`` (``buckets`` cover it): 0 excluded, 1 up, 2 down (before min_run)."""
    if end_ms <= start_ms:
        return []
    unit = counting.unit_ms
    n = -(-(end_ms - start_ms) // unit)
    up = [0] * n
    down = [0] * n
    for b in buckets:
        as_ = policies.counts_as(b.bucket)
        if as_ is None:
            continue
        target = up if as_ == "up" else down
        a, z = max(b.start_ms, start_ms), min(b.end_ms, end_ms)
        i = (a - start_ms) // unit
        while a < z:
            slice_end = start_ms + (i + 1) * unit
            stop = min(z, slice_end)
            target[i] += stop - a
            a, i = stop, i + 1
    out: list[int] = []
    for u, d in zip(up, down, strict=True):
        if u + d == 0:
            out.append(_EXCLUDED)
        elif d == 0:
            out.append(_UP)
        elif counting.partial == "count" or u == 0:
            out.append(_DOWN)
        else:
            out.append(_UP)
    return out


def count_slices(
    buckets: Sequence[BucketSpan],
    start_ms: int,
    end_ms: int,
    policies: Policies,
    counting: SliceCounting,
    target: Fraction,
) -> SliceResult:
    """Slice availability of the bucketed range ``[start_ms, end_ms)`` (see the module docstring)."""
    kinds = classify_slices(buckets, start_ms, end_ms, policies, counting)
    forgiven = 0
    if counting.min_run > 1:
        run: list[int] = []  # indices of the current run of down slices, skipping excluded ones
        for i, kind in enumerate([*kinds, _UP]):  # a sentinel up slice closes the last run
            if kind == _DOWN:
                run.append(i)
            elif kind == _UP:
                if 0 < len(run) < counting.min_run:
                    for j in run:
                        kinds[j] = _UP
                    forgiven += len(run)
                run = []
    ups, downs = kinds.count(_UP), kinds.count(_DOWN)
    value = Fraction(ups, ups + downs) if ups + downs else None
    return SliceResult(
        counting=counting,
        up_slices=ups,
        down_slices=downs,
        excluded_slices=kinds.count(_EXCLUDED),
        short_runs_forgiven=forgiven,
        availability=value,
        met=None if value is None else value >= target,
    )
