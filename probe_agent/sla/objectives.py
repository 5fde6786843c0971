"""Objectives besides availability: a latency percentile and an error rate.

Latency: the percentile comes from a ``LatencyHistogram`` of up/degraded results (re-checks included) and is
the upper edge of the bucket that holds it, so it is never below the true value. The objective "p99 below
300 ms" is met iff that edge is <= ``below_ms``: the true percentile is then at most ``below_ms`` for certain
(the edge may overstate it by up to 5 %, so a borderline case can read as missed, never as met wrongly). Empty: met
is None.

Error rate = down results / definite results (up + degraded + down), re-checks excluded, unknown excluded; met
iff it is strictly below ``below_percent``. No definite results: rate and met are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from probe_agent.latency import LatencyHistogram


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    percentile: float
    below_ms: float

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError("latency percentile must be in (0, 100]")
        if self.below_ms <= 0:
            raise ValueError("latency threshold must be positive")


@dataclass(frozen=True, slots=True)
class LatencyResult:
    objective: LatencyObjective
    samples: int
    value_ms: float | None
    met: bool | None


def latency_result(objective: LatencyObjective, histogram: LatencyHistogram) -> LatencyResult:
    value = histogram.percentile(objective.percentile)
    return LatencyResult(
        objective=objective,
        samples=histogram.total,
        value_ms=value,
        met=None if value is None else value <= objective.below_ms,
    )


@dataclass(frozen=True, slots=True)
class ResultCounts:
    """Non-re-check probe results by outcome (unknown is carried for the report, never in the rate)."""

    up: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0

    @property
    def definite(self) -> int:
        return self.up + self.degraded + self.down


@dataclass(frozen=True, slots=True)
class ErrorRateResult:
    below_percent: Fraction
    counts: ResultCounts
    rate: Fraction | None  # a fraction in [0, 1], not a percent
    met: bool | None


def error_rate_result(counts: ResultCounts, below_percent: Fraction) -> ErrorRateResult:
    rate = Fraction(counts.down, counts.definite) if counts.definite else None
    return ErrorRateResult(
        below_percent=below_percent,
        counts=counts,
        rate=rate,
        met=None if rate is None else rate * 100 < below_percent,
    )
