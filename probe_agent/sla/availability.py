"""Buckets and availability: every instant of a period in exactly one bucket, then policies, then exact maths.

Precedence: ``excluded`` > ``no_data`` > ``unknown`` > ``down`` > ``degraded`` > ``up``. A timeline holds one
state per instant, so in practice only ``excluded`` overrides: an excluded range takes the instant whatever
its state.

Policies then map buckets to *counted up*, *counted down* or *not counted*: ``unknown`` and ``no_data``
default to not counted (``exclude``), ``degraded`` to up. Excluded time is never counted.

- availability = counted_up / (counted_up + counted_down), a ``Fraction``; None when nothing is counted.
- met = availability >= target (exact); None when availability is None.
- coverage = (up + degraded + down) / (total - excluded); None when everything is excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from probe_agent.sla.rounding import display_percent, tidy
from probe_agent.sla.timeline import Span, clip

BucketPolicy = Literal["exclude", "up", "down"]
Counted = Literal["up", "down"]


class Bucket(StrEnum):
    EXCLUDED = "excluded"
    NO_DATA = "no_data"
    UNKNOWN = "unknown"
    DOWN = "down"
    DEGRADED = "degraded"
    UP = "up"


@dataclass(frozen=True, slots=True)
class BucketSpan:
    start_ms: int
    end_ms: int
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class Policies:
    """How ``unknown``, ``no_data`` and ``degraded`` time counts (see the module docstring for defaults)."""

    unknown: BucketPolicy = "exclude"
    no_data: BucketPolicy = "exclude"
    degraded_counts_as: Counted = "up"

    def __post_init__(self) -> None:
        for name in ("unknown", "no_data"):
            if getattr(self, name) not in ("exclude", "up", "down"):
                raise ValueError(f"policy {name} must be exclude, up or down")
        if self.degraded_counts_as not in ("up", "down"):
            raise ValueError("degraded_counts_as must be up or down")

    def counts_as(self, bucket: Bucket) -> Counted | None:
        """``up``, ``down`` or None (not counted) for one bucket."""
        if bucket is Bucket.UP:
            return "up"
        if bucket is Bucket.DOWN:
            return "down"
        if bucket is Bucket.DEGRADED:
            return self.degraded_counts_as
        if bucket is Bucket.UNKNOWN:
            return None if self.unknown == "exclude" else self.unknown
        if bucket is Bucket.NO_DATA:
            return None if self.no_data == "exclude" else self.no_data
        return None


def bucketize(
    spans: Sequence[Span], start_ms: int, end_ms: int, excluded: Sequence[tuple[int, int]]
) -> list[BucketSpan]:
    """The buckets of ``[start_ms, end_ms)``: ``spans`` clipped (holes: no_data) minus ``excluded`` ranges.

    The result covers the range exactly, in order; adjacent spans of one bucket are merged.
    """
    out: list[BucketSpan] = []

    def emit(a: int, b: int, bucket: Bucket) -> None:
        if b <= a:
            return
        if out and out[-1].bucket is bucket and out[-1].end_ms == a:
            out[-1] = BucketSpan(out[-1].start_ms, b, bucket)
        else:
            out.append(BucketSpan(a, b, bucket))

    j = 0
    for span in clip(spans, start_ms, end_ms):
        bucket = Bucket(span.state.value)
        cursor = span.start_ms
        while j < len(excluded) and excluded[j][1] <= cursor:
            j += 1
        k = j
        while cursor < span.end_ms:
            if k < len(excluded) and excluded[k][0] < span.end_ms:
                ex_start, ex_end = excluded[k]
                emit(cursor, max(cursor, ex_start), bucket)
                emit(max(cursor, ex_start), min(ex_end, span.end_ms), Bucket.EXCLUDED)
                cursor = min(ex_end, span.end_ms)
                if ex_end <= span.end_ms:
                    k += 1
            else:
                emit(cursor, span.end_ms, bucket)
                cursor = span.end_ms
    return out


@dataclass(frozen=True, slots=True)
class BucketTotals:
    """Milliseconds per bucket; ``total_ms`` is their sum (the length of the range bucketed)."""

    total_ms: int = 0
    up_ms: int = 0
    degraded_ms: int = 0
    down_ms: int = 0
    unknown_ms: int = 0
    no_data_ms: int = 0
    excluded_ms: int = 0

    @classmethod
    def of(cls, spans: Sequence[BucketSpan]) -> BucketTotals:
        ms = dict.fromkeys(Bucket, 0)
        for s in spans:
            ms[s.bucket] += s.end_ms - s.start_ms
        return cls(
            total_ms=sum(ms.values()),
            up_ms=ms[Bucket.UP],
            degraded_ms=ms[Bucket.DEGRADED],
            down_ms=ms[Bucket.DOWN],
            unknown_ms=ms[Bucket.UNKNOWN],
            no_data_ms=ms[Bucket.NO_DATA],
            excluded_ms=ms[Bucket.EXCLUDED],
        )

    def ms(self, bucket: Bucket) -> int:
        return {
            Bucket.UP: self.up_ms,
            Bucket.DEGRADED: self.degraded_ms,
            Bucket.DOWN: self.down_ms,
            Bucket.UNKNOWN: self.unknown_ms,
            Bucket.NO_DATA: self.no_data_ms,
            Bucket.EXCLUDED: self.excluded_ms,
        }[bucket]


@dataclass(frozen=True, slots=True)
class Availability:
    """The time-based figures of one scope (service or SLA) over the measured part of a period."""

    buckets: BucketTotals
    policies: Policies
    counted_up_ms: int
    counted_down_ms: int
    availability: Fraction | None
    met: bool | None
    coverage: Fraction | None

    @property
    def counted_ms(self) -> int:
        return self.counted_up_ms + self.counted_down_ms


def availability_of(totals: BucketTotals, policies: Policies, target: Fraction) -> Availability:
    """Counted up/down, availability, met and coverage from bucket totals (``target`` in [0, 1])."""
    counted = {"up": 0, "down": 0}
    for bucket in Bucket:
        as_ = policies.counts_as(bucket)
        if as_ is not None:
            counted[as_] += totals.ms(bucket)
    up, down = counted["up"], counted["down"]
    value = Fraction(up, up + down) if up + down else None
    measured = totals.total_ms - totals.excluded_ms
    coverage = Fraction(totals.up_ms + totals.degraded_ms + totals.down_ms, measured) if measured else None
    return Availability(
        buckets=totals,
        policies=policies,
        counted_up_ms=up,
        counted_down_ms=down,
        availability=value,
        met=None if value is None else value >= target,
        coverage=coverage,
    )


def coverage_warning(availability: Availability, threshold: Fraction) -> str | None:
    """A warning when coverage is below ``threshold`` (a fraction in [0, 1]), else None.

    It states how the time without a definite result (no_data and unknown) was counted, as shares of the cycle
    less excluded time (coverage's own base): presumed available (policy ``up``: a contract preset counts what its
    contract counts), counted as down, or left out of the availability (``exclude``).
    """
    coverage = availability.coverage
    if coverage is None or coverage >= threshold:
        return None
    totals, policies = availability.buckets, availability.policies
    base = totals.total_ms - totals.excluded_ms
    ms = {"up": 0, "down": 0, "exclude": 0}
    for bucket, policy in ((Bucket.NO_DATA, policies.no_data), (Bucket.UNKNOWN, policies.unknown)):
        ms[policy] += totals.ms(bucket)

    def share(part: int) -> str:
        return f"{tidy(display_percent(Fraction(part, base) * 100))}%"

    how = f"{share(ms['up'])} of the cycle was presumed available"
    how += f" (no_data: {policies.no_data}, unknown: {policies.unknown})"
    if ms["down"]:
        how += f", {share(ms['down'])} was counted as down"
    if ms["exclude"]:
        how += f", {share(ms['exclude'])} was left out of the availability"
    unseen = totals.no_data_ms + totals.unknown_ms
    limit = tidy(display_percent(threshold * 100))
    return (
        f"coverage {share(base - unseen)} is below the SLA's coverage_warning of {limit}%: "
        f"{share(unseen)} of the cycle had no definite result; {how}"
    )


def excluded_warning(availability: Availability) -> str | None:
    """A warning when half or more of the measured time is excluded (maintenance windows and exclusions), else None.

    Excluded time is time the provider is not measured on, so a mostly excluded cycle says little, and a wholly
    excluded one nothing: availability is null then, and without this the report would not say why.
    """
    totals = availability.buckets
    if totals.total_ms == 0 or 2 * totals.excluded_ms < totals.total_ms:
        return None
    if totals.excluded_ms == totals.total_ms:
        return "all of the measured time is excluded (maintenance windows and exclusions): there is no availability"
    share = tidy(display_percent(Fraction(totals.excluded_ms, totals.total_ms) * 100))
    return (
        f"{share}% of the measured time is excluded (maintenance windows and exclusions): "
        "the figures speak for the rest only"
    )
