"""Claim deadlines: the last moment a credit for a cycle can still be claimed. Pure: no clock.

Two forms of ``claim_window``:

- a duration (``60d``): counted from the end of the cycle. Whole days are calendar days on the wall clock of the
  zone ``period_end`` carries (midnight stays midnight across a DST change: 60d from 1 Oct 00:00 Europe/Amsterdam
  is 30 Nov 00:00, although that is 60 x 24 h + 1 h of elapsed time); the rest (``36h`` = 1 day + 12 h) is
  elapsed time. A contract that counts from the incident instead can pass the incident's end as ``period_end``.
- ``cycles: N``: by the end of the N-th billing cycle after the cycle (AWS: "by the end of the second billing
  cycle after the incident" is ``cycles: 2``); the calendar maths is the caller's ``next_period_end``.

The deadline is the first instant that is too late: a claim made strictly before it is in time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from probe_agent.model import DAY_MS
from probe_agent.units import duration_text


@dataclass(frozen=True, slots=True)
class ClaimWithin:
    """Claim within ``duration_ms`` of the end of the cycle (whole days are calendar days)."""

    duration_ms: int

    def __post_init__(self) -> None:
        if self.duration_ms <= 0:
            raise ValueError("a claim window must be positive")


@dataclass(frozen=True, slots=True)
class ClaimCycles:
    """Claim by the end of the ``cycles``-th billing cycle after the cycle."""

    cycles: int

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ValueError("a claim window in cycles must be at least 1")


ClaimWindow = ClaimWithin | ClaimCycles


def claim_deadline(
    period_end: datetime, window: ClaimWindow, next_period_end: Callable[[datetime], datetime]
) -> datetime:
    """The claim deadline for the cycle that ends at ``period_end`` (an aware datetime, in the SLA's zone).

    ``next_period_end(end)`` gives the end of the cycle that starts at ``end``; it is used only for
    ``ClaimCycles`` and must move strictly forward. The result carries ``period_end``'s time zone.
    Raises ValueError for a naive datetime or a ``next_period_end`` that does not advance.
    """
    _require_aware(period_end, "period_end")
    zone = period_end.tzinfo
    if isinstance(window, ClaimWithin):
        days, rest_ms = divmod(window.duration_ms, DAY_MS)
        # Aware + timedelta moves the wall clock (calendar days); the UTC round trip turns a wall time that
        # falls in a DST gap or fold into a real instant before the elapsed remainder is added.
        on_wall = (period_end + timedelta(days=days)).astimezone(UTC)
        return (on_wall + timedelta(milliseconds=rest_ms)).astimezone(zone)
    end = period_end
    for _ in range(window.cycles):
        following = next_period_end(end)
        _require_aware(following, "next_period_end(...)")
        if following <= end:
            raise ValueError(f"next_period_end({end.isoformat()}) = {following.isoformat()} does not advance")
        end = following
    return end.astimezone(zone)


def claim_window_text(window: ClaimWindow) -> str:
    """The window in words, for reports: ``within 60d of the end of the cycle`` / ``by the end of ...``."""
    if isinstance(window, ClaimCycles):
        return f"by the end of the {_ordinal(window.cycles)} billing cycle after the cycle"
    return f"within {duration_text(window.duration_ms)} of the end of the cycle"


def _ordinal(n: int) -> str:
    words = {1: "first", 2: "second", 3: "third"}
    if n in words:
        return words[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value!r} is naive: every datetime in probe-agent carries a time zone")
