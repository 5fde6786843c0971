"""A mergeable latency histogram with logarithmic buckets no more than 5 % apart.

Bucket ``i`` (i >= 1) holds latencies in ``(BASE * RATIO**(i-1), BASE * RATIO**i]`` milliseconds; bucket 0 holds
everything at or below ``BASE``. A percentile is reported as the upper edge of the bucket that holds it, so it is
never below the true value and at most 5 % above it. Histograms merge by adding counts, which is what lets hourly
rollups answer a percentile over a whole billing cycle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BASE_MS = 0.1
RATIO = 1.05
_LOG_RATIO = math.log(RATIO)


def bucket_of(latency_ms: float) -> int:
    """The bucket index for a latency in milliseconds (negative values count as zero)."""
    if latency_ms <= BASE_MS:
        return 0
    index = math.ceil(math.log(latency_ms / BASE_MS) / _LOG_RATIO - 1e-9)
    return max(index, 1)


def upper_edge(index: int) -> float:
    """The upper edge, in milliseconds, of bucket ``index``."""
    return BASE_MS * RATIO**index


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

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percentile(self, p: float) -> float | None:
        """The upper bucket edge at or above the p-th percentile (0 < p <= 100); None when empty.

        Uses the nearest-rank definition: the smallest value with at least p % of observations at or below it.
        """
        if not 0 < p <= 100:
            raise ValueError("percentile must be in (0, 100]")
        total = self.total
        if total == 0:
            return None
        rank = math.ceil(p / 100 * total)
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return upper_edge(b)
        return upper_edge(max(self.counts))  # unreachable: rank <= total

    def count_at_or_below(self, threshold_ms: float) -> int:
        """Observations in buckets whose upper edge is at or below the threshold (a conservative count)."""
        return sum(n for b, n in self.counts.items() if upper_edge(b) <= threshold_ms * (1 + 1e-12))

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
