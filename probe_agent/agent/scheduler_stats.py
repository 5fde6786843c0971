"""The scheduler's figures: a typed snapshot (:class:`SchedulerStats`) and its recent-window percentiles.

Counters are totals since the scheduler was built; percentiles are nearest-rank over the last ``stats_window``
probes, in milliseconds. Times are the scheduler's monotonic clock; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Nearest-rank percentiles in milliseconds over the recent window; all ``None`` when there is no sample."""

    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, samples_s: deque[float]) -> Percentiles:
        if not samples_s:
            return cls(0, None, None, None)
        ordered = sorted(samples_s)
        n = len(ordered)

        def rank(p: float) -> float:
            return ordered[max(math.ceil(p * n) - 1, 0)] * 1000.0

        return cls(n, rank(0.50), rank(0.99), ordered[-1] * 1000.0)


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """A snapshot. Counters are totals since the scheduler was built; percentiles cover the recent window."""

    endpoints: int
    dispatched: int  # probes admitted: started at once or queued for a concurrency slot
    in_flight: int  # probes running now (holding their concurrency slots)
    waiting: int  # dispatched probes waiting for a global or per-host slot (re-checks included)
    max_in_flight: int
    skipped_slots: int  # grid slots coalesced because the previous probe (or the loop) overran them
    probe_errors: int  # exceptions raised by probes (bugs)
    lateness: Percentiles  # dispatch time - due time
    queue_wait: Percentiles  # dispatch -> start: waiting for the concurrency limits (and for the task to start)
    # Fields added for overload; new keys only, the ones above keep their names and meaning.
    max_waiting: int  # the configured bound on ``waiting``
    waiting_rechecks: int  # of ``waiting``, the re-checks (may pass the bound; see the module docstring)
    waiting_peak: int  # the most probes waiting at once since the scheduler was built
    shed_slots: int  # grid slots not run: the waiting queue was full, or they waited past grace (in ``skipped_slots``)
    start_lateness: Percentiles  # start time - due time: lateness and queue wait together, what a probe sees

    def as_flat_dict(self) -> dict[str, int | float]:
        """One level of keys for logs and metrics: ``lateness_p99_ms`` etc. An empty window reads 0.0 ms; its
        ``*_samples`` count (0) tells it apart from a measured zero."""
        flat: dict[str, int | float] = {}
        for name, value in asdict(self).items():
            if isinstance(value, dict):
                flat[f"{name}_samples"] = value["count"]
                for part in ("p50_ms", "p99_ms", "max_ms"):
                    flat[f"{name}_{part}"] = 0.0 if value[part] is None else value[part]
            else:
                flat[name] = value
        return flat
