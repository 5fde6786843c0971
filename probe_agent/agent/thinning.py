"""Even thinning under overload: which grid slots the scheduler leaves out on purpose, so the shed slots are spread
evenly over endpoints instead of falling on whoever comes due while the waiting queue is full.

The controller keeps one fraction, ``keep`` (of grid slots run, in ``(0, 1]``), set from two rates:
- the demand: grid slots per second of every endpoint (``demand_per_s``, kept by the scheduler: the sum of
  1 / interval), and
- the ceiling, measured: grid probes started per second over a period (at least ``_MIN_STARTS`` starts, or
  ``_MAX_PERIODS`` periods) in which the queue overflowed (a grid probe was shed because the queue was full, or
  it waited past its grace) and no slot stood idle: then probing ran flat out all along.
After such a period, ``keep`` = ``_MARGIN`` x ceiling / demand (never raised this way), so the queue drains and
the rate stays at the ceiling; after a period that both overflowed and idled (bursts), ``keep`` eases by
``_EASE``. After a period in which a slot was thinned, or a probe finished, while a concurrency
slot stood free with nothing waiting, ``keep`` rises (by ``_RISE`` and a tenth of what it lacks of 1): probing
the ceiling again, back to 1 when the overload is over.
(A fixed step that cut ``keep`` at every overflowing period overshot: thinning only takes effect as each endpoint
comes due, up to one interval later, so cuts piled up and throughput fell to a quarter of the ceiling.)

Each endpoint has a credit: at each of its grid slots it gains ``keep``; the slot runs when the credit reaches 1
(which it then spends), else it is thinned. So an endpoint runs ``keep`` of its slots, evenly (every other slot at
``keep`` = 0.5), and none starves: its credit rises at every slot. The starting credit is a stable hash of the
key, independent of its phase (a credit that followed the phase put every endpoint of one half of the interval in
the same round: the load came in halves, idle then overflowing, and throughput fell to 70 % of the ceiling). Times
are the scheduler's clock, in seconds.
"""

from __future__ import annotations

import hashlib

_MARGIN = 0.98  # of the measured ceiling: a little under it, so the queue drains instead of overflowing again
_RISE = 0.02  # keep += _RISE + _RECOVER x (1 - keep) per idle period: from 0.01 back over 0.9 in ~16 periods,
_RECOVER = 0.1  # so a stall that collapsed the measured ceiling (a blocked loop, a hung target) soon heals;
# 0.2 swung keep so that one run in ten came a slot late at 3x the ceiling
_EASE = 0.97  # keep *= _EASE after a period that both overflowed and idled (bursty, not saturated)
_MIN_STARTS = 50  # grid starts a ceiling is measured over, unless the period has grown to _MAX_PERIODS
_MAX_PERIODS = 10
_FLOOR = 0.01  # keep never falls below: every endpoint runs at least one slot in a hundred


def thinning_credit(key: str) -> float:
    """An endpoint's starting credit in ``[0, 1)``: BLAKE2b of its key with its own personalisation, so it does not
    follow the scheduler's phase hash."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=b"thinning").digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


class Thinning:
    """The ``keep`` fraction and its adjustment; see the module docstring."""

    __slots__ = ("_grid_starts", "_idle", "_overflow", "_period_start", "demand_per_s", "keep", "period_s", "thinned")

    def __init__(self, period_s: float = 1.0) -> None:
        self.keep = 1.0
        self.period_s = period_s
        self.demand_per_s = 0.0  # grid slots per second over all endpoints; the scheduler keeps it
        self.thinned = 0  # grid slots left out on purpose since start
        self._overflow = False
        self._idle = False
        self._grid_starts = 0
        self._period_start: float | None = None

    def note_overflow(self) -> None:
        self._overflow = True

    def note_idle(self) -> None:
        if self.keep < 1.0:
            self._idle = True

    def note_grid_start(self) -> None:
        self._grid_starts += 1

    def adjust(self, now: float) -> None:
        """Apply what was noted since the period began, once ``period_s`` has passed. Overflow wins over idle in
        the same period (the queue overflowing is the harm; a free slot is only a missed probe)."""
        if self._period_start is None:
            self._period_start = now
            return
        elapsed = now - self._period_start
        if elapsed < self.period_s:
            return
        if self._overflow and self._grid_starts < _MIN_STARTS and elapsed < _MAX_PERIODS * self.period_s:
            return  # too few starts to measure a ceiling by: a longer period (a slow probe rate, tests)
        if self._overflow and not self._idle and self.demand_per_s > 0:
            ceiling = self._grid_starts / elapsed  # saturated all period: this is the ceiling
            self.keep = min(max(_MARGIN * ceiling / self.demand_per_s, _FLOOR), self.keep)
        elif self._overflow:
            self.keep = max(self.keep * _EASE, _FLOOR)  # bursts past the queue between idle moments
        elif self._idle:
            self.keep = min(self.keep + _RISE + (1.0 - self.keep) * _RECOVER, 1.0)
        self._overflow = self._idle = False
        self._grid_starts = 0
        self._period_start = now

    def admit(self, credit: float) -> tuple[bool, float]:
        """One grid slot of an endpoint whose credit is ``credit``: (run it?, the new credit)."""
        if self.keep >= 1.0:
            return True, 0.0
        credit += self.keep
        if credit >= 1.0:
            return True, credit - 1.0
        self.thinned += 1
        return False, credit
