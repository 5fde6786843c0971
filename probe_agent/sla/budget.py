"""The error budget of a cycle: how much counted-down time the target allows, and how fast it is being used.

- allowed = (1 - target) x (total - excluded), over the WHOLE cycle (excluded includes maintenance still
  ahead);
- used = counted-down ms so far; remaining = allowed - used (negative once the budget is blown);
- elapsed = (now - start) / (end - start), clamped to [0, 1];
- burn rate = used / (allowed x elapsed): 1 means the budget runs out exactly at the cycle end. None when
  allowed x elapsed is 0 (a 100 % target, a fully excluded cycle, or a cycle that has not started);
- projection: if down time keeps accruing at the rate so far, the cycle ends with used / elapsed down ms, so
  the projected availability = 1 - (used / elapsed) / (total - excluded) = 1 - burn rate x (1 - target),
  floored at 0. It assumes every non-excluded ms of the rest of the cycle is counted. None when elapsed is 0
  or everything is excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from probe_agent.sla.periods import Period


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """Budget figures in milliseconds (``Fraction`` where the target makes them non-integral)."""

    allowed_ms: Fraction
    used_ms: int
    remaining_ms: Fraction
    elapsed: Fraction
    burn_rate: Fraction | None
    projected_availability: Fraction | None

    @property
    def exhausted(self) -> bool:
        return self.remaining_ms < 0


def elapsed_fraction(period: Period, now_ms: int) -> Fraction:
    """Share of ``period`` elapsed at ``now_ms``, clamped to [0, 1]."""
    done = min(max(now_ms - period.start_ms, 0), period.duration_ms)
    return Fraction(done, period.duration_ms)


def error_budget(period: Period, excluded_ms: int, target: Fraction, used_ms: int, now_ms: int) -> ErrorBudget:
    """The budget of ``period`` given its excluded ms over the whole cycle and the counted-down ms so far."""
    if not 0 <= target <= 1:
        raise ValueError("target must be a fraction in [0, 1]")
    countable = period.duration_ms - excluded_ms
    allowed = (1 - target) * countable
    elapsed = elapsed_fraction(period, now_ms)
    burn = used_ms / (allowed * elapsed) if allowed * elapsed else None
    projected: Fraction | None = None
    if elapsed and countable > 0:
        projected = max(Fraction(0), 1 - (used_ms / elapsed) / countable)
    return ErrorBudget(
        allowed_ms=allowed,
        used_ms=used_ms,
        remaining_ms=allowed - used_ms,
        elapsed=elapsed,
        burn_rate=None if burn is None else Fraction(burn),
        projected_availability=projected,
    )
