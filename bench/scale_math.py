"""The pure arithmetic of bench_scale.py: spacing error, the bounded rate search, the many-core projection.

No I/O and no clock here, so tests/bench/test_scale_math.py can check that each figure is what it claims to be.

- **Spacing error**: for each endpoint, the time between consecutive grid probes (stored result timestamps)
  minus its interval, as an absolute value in ms. A probe that starts late shows twice (the gap before it is
  long, the one after short); a skipped slot shows as one gap of two intervals (an error of one interval), so a
  p99 under 250 ms at any interval of a second or more also says that almost nothing was skipped. Skipped slots
  are counted apart too: ``round(gap / interval) - 1`` per gap.
- **Rate search**: bisection over probes/s between the highest rate that passed and the lowest that failed,
  growing (or shrinking) by a factor until both are known, within a fixed number of steps.
- **Projection**: see :func:`project_rate`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..1) of an ascending sequence; NaN when it is empty."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class Spacing:
    """Spacing figures over every consecutive pair of one endpoint's grid probes, all endpoints pooled."""

    gaps: int  # consecutive pairs measured
    p50_ms: float  # |gap - interval|, NaN when there are no gaps
    p99_ms: float
    max_ms: float
    skipped_slots: int  # grid slots with no probe between two stored ones


def spacing(ts_by_endpoint: Mapping[str, Iterable[float]], interval_s: float) -> Spacing:
    """Spacing figures from each endpoint's probe start times in seconds (any order; sorted here).

    Timestamps are wall-clock starts (a stored result's ts, 1 ms resolution): only differences are used, so the
    clock's offset does not matter. An endpoint with fewer than two probes contributes nothing.
    """
    if not interval_s > 0:
        raise ValueError(f"interval must be positive, got {interval_s}")
    errors: list[float] = []
    skipped = 0
    for stamps in ts_by_endpoint.values():
        ordered = sorted(stamps)
        for before, after in itertools.pairwise(ordered):
            gap = after - before
            errors.append(abs(gap - interval_s) * 1000)
            skipped += max(round(gap / interval_s) - 1, 0)
    errors.sort()
    return Spacing(
        gaps=len(errors),
        p50_ms=percentile(errors, 0.5),
        p99_ms=percentile(errors, 0.99),
        max_ms=errors[-1] if errors else math.nan,
        skipped_slots=skipped,
    )


class RateSearch:
    """The highest rate (probes/s) that passes, found in at most ``max_steps`` trials.

    Start at ``start``; while nothing has failed, multiply the best pass by ``growth``; while nothing has passed,
    divide the lowest failure by ``growth``; once bracketed, try the midpoint. Stop early when the bracket is
    narrower than ``resolution`` (a fraction of the pass). :attr:`best` is the highest rate that passed (None if
    none did). Usage: ``while (rate := search.next_rate()) is not None: search.record(rate, passed)``.
    """

    def __init__(self, start: float, *, max_steps: int, growth: float = 1.4, resolution: float = 0.05) -> None:
        if not start > 0 or max_steps < 1 or not growth > 1 or not resolution > 0:
            raise ValueError("want start > 0, max_steps >= 1, growth > 1, resolution > 0")
        self.start = start
        self.max_steps = max_steps
        self.growth = growth
        self.resolution = resolution
        self.trials: list[tuple[float, bool]] = []

    @property
    def best(self) -> float | None:
        passed = [rate for rate, ok in self.trials if ok]
        return max(passed) if passed else None

    @property
    def lowest_failure(self) -> float | None:
        failed = [rate for rate, ok in self.trials if not ok]
        return min(failed) if failed else None

    def next_rate(self) -> float | None:
        """The next rate to try, or None when the steps are used up or the bracket is narrow enough."""
        if len(self.trials) >= self.max_steps:
            return None
        lo, hi = self.best, self.lowest_failure
        if lo is None and hi is None:
            return self.start
        if hi is None:
            assert lo is not None
            return lo * self.growth
        if lo is None:
            return hi / self.growth
        if hi - lo <= self.resolution * lo:
            return None
        return (lo + hi) / 2

    def record(self, rate: float, passed: bool) -> None:
        self.trials.append((rate, passed))


def cpu_ms_per_probe(cpu_s: float, probes: int) -> float:
    """CPU milliseconds spent per stored probe; NaN when nothing was stored."""
    return 1000 * cpu_s / probes if probes > 0 else math.nan


def project_rate(cores: int, cpu_ms_total: float, cpu_ms_main: float, usable: float) -> float:
    """Probes/s a machine with ``cores`` cores would sustain, from CPU per probe measured here.

        rate = usable x min(cores x 1000 / cpu_ms_total, 1000 / cpu_ms_main)

    ``cpu_ms_total``: CPU ms per probe over the agent's whole process tree (main + probe workers).
    ``cpu_ms_main``: the part spent in the main process (folds and the single store writer), which is one
    process whatever the core count, so it caps the rate at one core's worth: with ``workers: 1`` the two are
    equal and the projection does not grow with cores. ``usable``: the fraction of a busy core at which spacing
    still held on this machine (measured, <= 1), since a core at 100 % has queues, not spacing. Assumes the
    targets run elsewhere and that CPU per probe does not change with the number of workers (the scaling table
    shows whether it does).
    """
    if cores < 1 or not cpu_ms_total > 0 or not cpu_ms_main > 0 or not 0 < usable <= 1:
        raise ValueError("want cores >= 1, positive CPU per probe and 0 < usable <= 1")
    return usable * min(cores * 1000 / cpu_ms_total, 1000 / cpu_ms_main)
