"""A mergeable latency histogram with logarithmic buckets no more than 5 % apart.

Bucket ``i`` holds latencies in ``(BASE * RATIO**(i-1), BASE * RATIO**i]`` milliseconds, for ``i`` from
``MIN_INDEX + 1`` upwards; the lowest bucket, ``MIN_INDEX``, holds everything at or below its upper edge
``BASE * RATIO**MIN_INDEX`` (about 0.00097 ms, just under 1 µs; negative values count as zero). So every latency
from 1 µs up lands in a bucket whose edges are at most 5 % apart, loopback-fast targets included; bucket indices
from 1 up are what they have always been (bucket 0 used to hold everything at or below 0.1 ms, and its upper edge
is still 0.1 ms, so a histogram stored before the lower buckets existed reads no lower than it did).

A percentile is reported as the upper edge of the bucket that holds it, so it is never below the true value and at
most 5 % above it (below 1 µs: the floor's edge). Histograms merge by adding counts, which is what lets hourly
rollups answer a percentile over a whole billing cycle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

BASE_MS = 0.1
RATIO = 1.05
MIN_INDEX = -95  # upper edge 0.1 * 1.05**-95 ~ 0.00097 ms: the floor bucket holds every latency under 1 µs
_LOG_RATIO = math.log(RATIO)


def bucket_of(latency_ms: float) -> int:
    """The bucket index for a latency in milliseconds: the lowest ``i`` with ``latency_ms <= upper_edge(i)``.

    Everything at or below the floor edge (zero and negative values included) is bucket ``MIN_INDEX``.
    """
    if latency_ms <= upper_edge(MIN_INDEX):
        return MIN_INDEX
    index = max(math.ceil(math.log(latency_ms / BASE_MS) / _LOG_RATIO), MIN_INDEX + 1)
    # The logarithm can be off by an ulp at an edge: settle against the edges themselves, so that a latency is
    # never put in a bucket whose upper edge is below it (the reported value would then be below the truth).
    while upper_edge(index) < latency_ms:
        index += 1
    while index - 1 > MIN_INDEX and upper_edge(index - 1) >= latency_ms:
        index -= 1
    return index


def upper_edge(index: int) -> float:
    """The upper edge, in milliseconds, of bucket ``index``."""
    return BASE_MS * RATIO**index


def nearest_rank(p: float | Fraction | Decimal, n: int) -> int:
    """The nearest rank of the ``p``-th percentile (0 < p <= 100) among ``n`` > 0 sorted values, 1-based.

    rank = ceil(p x n / 100), computed exactly: a float ``p`` is read as the decimal it prints as (99.9 is 999/10,
    never the binary 99.900000000000005684...), and the product is never rounded, so p99.9 of 1,000 values is rank
    999 and p7 of 100 values rank 7.
    """
    if n <= 0:
        raise ValueError("the nearest rank needs at least one value")
    return math.ceil(_exact_percent(p) * n / 100)


def _exact_percent(p: float | Fraction | Decimal) -> Fraction:
    """``p`` as an exact fraction in (0, 100]; a float is read through its shortest repr (99.9 -> 999/10)."""
    exact = Fraction(repr(p)) if isinstance(p, float) else Fraction(p)
    if not 0 < exact <= 100:
        raise ValueError("percentile must be in (0, 100]")
    return exact


@dataclass
class LatencyHistogram:
    """Counts per bucket index. Plain data: JSON-serialisable through ``to_dict``/``from_dict``."""

    counts: dict[int, int] = field(default_factory=dict)

    def add(self, latency_ms: float, n: int = 1) -> None:
        b = bucket_of(latency_ms)
        self.counts[b] = self.counts.get(b, 0) + n

    def merge(self, other: LatencyHistogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n

    def subtract(self, other: LatencyHistogram) -> None:
        """Remove ``other``'s samples, which must be part of this histogram (e.g. the results in excluded time).

        A sample is removed from its own bucket; when that bucket holds too few, from the nearest buckets that
        hold some (the higher first on a tie): a stored rollup may hold a sample one bucket away from where it is
        put today, in the rare case the older bucketing put a latency within 1e-9 of an edge on its other side.
        Raises ValueError when this histogram holds fewer samples than ``other``.
        """
        if other.total > self.total:
            raise ValueError(f"cannot remove {other.total} samples from a histogram of {self.total}")
        for b, n in sorted(other.counts.items()):
            while n:
                nearest = min(self.counts, key=lambda k: (abs(k - b), -k))
                taken = min(n, self.counts[nearest])
                n -= taken
                if taken == self.counts[nearest]:
                    del self.counts[nearest]
                else:
                    self.counts[nearest] -= taken

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percentile(self, p: float | Fraction | Decimal) -> float | None:
        """The upper bucket edge at or above the p-th percentile (0 < p <= 100); None when empty.

        Nearest rank: the smallest value with at least p % of observations at or below it, i.e. the value of rank
        ``nearest_rank(p, total)`` in ascending order (exact arithmetic, see there).
        """
        _exact_percent(p)  # validates p even when there is nothing to rank
        total = self.total
        if total == 0:
            return None
        rank = nearest_rank(p, total)
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return upper_edge(b)
        return upper_edge(max(self.counts))  # unreachable: rank <= total

    def to_dict(self) -> dict[str, int]:
        return {str(b): n for b, n in sorted(self.counts.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> LatencyHistogram:
        return cls({int(b): int(n) for b, n in data.items()})

    @classmethod
    def of(cls, latencies: Iterable[float]) -> LatencyHistogram:
        h = cls()
        for value in latencies:
            h.add(value)
        return h
