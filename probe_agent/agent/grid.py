"""One endpoint's grid on the scheduler's monotonic clock: its phase (a stable hash of its key), its slots, and
the mutable state the scheduler keeps per endpoint (``Entry``). Slots are at ``phase + k * interval_s`` for integer
``k``, anchored at 0 of the clock, so every scheduler in every process puts an endpoint on the same grid.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from probe_agent.agent.thinning import thinning_credit


class ProbeJob(Protocol):
    """Performs one probe. Returns ``None`` for "back to the regular grid", or a delay in seconds meaning "re-check
    this long after this probe finished" (``retry_interval`` while suspect or down)."""

    def __call__(self) -> Awaitable[float | None]: ...


def phase_offset(key: str, interval_s: float) -> float:
    """The endpoint's phase in seconds, in ``[0, interval_s)``, from BLAKE2b of its key.

    Stable across processes and Python versions (unlike ``hash``, which is salted per process). The fraction of
    the interval depends only on the key, so changing an endpoint's interval keeps its relative position.
    Raises ValueError for an interval that is not a positive finite number.
    """
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval must be a positive number of seconds, got {interval_s!r}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    # 53 bits divide exactly into a float in [0, 1); 64 bits could round up to 1.0.
    fraction = (int.from_bytes(digest, "big") >> 11) / float(1 << 53)
    offset = fraction * interval_s
    # The product can still round up to interval_s itself.
    return offset if offset < interval_s else math.nextafter(interval_s, 0.0)


@dataclass(frozen=True, slots=True)
class ScheduledEndpoint:
    """What the scheduler needs to know about one endpoint.

    ``key`` is the endpoint id (stable across reloads). ``host`` groups endpoints for the per-host limit;
    ``None`` means no per-host limit.
    """

    key: str
    interval_s: float
    host: str | None
    run: ProbeJob
    # A grid probe still waiting for a slot ``grace_s`` after its due time is shed: by then the previous result's
    # coverage (interval + grace) has lapsed, so starting it late buys a gap anyway. None: it waits as long as needed.
    grace_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"endpoint {self.key!r}: interval must be a positive number, got {self.interval_s!r}")
        if self.grace_s is not None and not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ValueError(f"endpoint {self.key!r}: grace must be a number >= 0, got {self.grace_s!r}")


class Entry:
    """Mutable scheduling state of one endpoint. ``generation`` invalidates stale heap items (lazy deletion)."""

    __slots__ = ("credit", "ep", "generation", "last_start", "on_grid", "phase")

    def __init__(self, ep: ScheduledEndpoint) -> None:
        self.ep = ep
        self.phase = phase_offset(ep.key, ep.interval_s)
        self.generation = 0
        self.on_grid = True  # whether the pending due time is a grid slot (False: a re-check)
        self.last_start = -math.inf  # when its last probe started (scheduler clock): overload fairness
        self.credit = thinning_credit(ep.key)  # even thinning: a second stable hash, so skips spread over phases

    def slot_after(self, t: float, *, strictly: bool) -> float:
        """The first grid slot after ``t`` (or at ``t`` when not ``strictly``)."""
        interval = self.ep.interval_s
        k = math.floor((t - self.phase) / interval)
        slot = self.phase + k * interval
        # Computed from k each time (never accumulated), so no drift; the loop only absorbs float rounding.
        while slot < t or (strictly and slot == t):
            k += 1
            slot = self.phase + k * interval
        return slot
