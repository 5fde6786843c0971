"""Exclusion and maintenance windows: which ``[start_ms, end_ms)`` ranges leave the availability calculation.

Plain exclusions (agreed after the fact, e.g. customer-caused) always count. A maintenance window counts only
if it was announced at least its own ``notice_ms`` before it started, when that window requires notice (notice is
per window: one window's ``notice`` says nothing about another's); a window that was never announced, or announced
too late, stays in the calculation and the report says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from probe_agent.sla.cron import expand


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A maintenance window ``[start_ms, end_ms)``; ``announced_ms``: when it was announced (None: never);
    ``notice_ms``: how long before its start it must have been announced (None: no notice required)."""

    start_ms: int
    end_ms: int
    announced_ms: int | None = None
    label: str = ""
    notice_ms: int | None = None

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"maintenance window {self.label!r}: end must be after start")


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """Whether a maintenance window is excluded, and the reason in words for the report."""

    window: MaintenanceWindow
    excluded: bool
    reason: str


def recurring_windows(
    cron: str,
    duration_ms: int,
    start_ms: int,
    end_ms: int,
    tz: ZoneInfo,
    *,
    announced_ms: int | None = None,
    label: str = "",
    notice_ms: int | None = None,
) -> list[MaintenanceWindow]:
    """The windows of a recurring maintenance rule that overlap ``[start_ms, end_ms)`` (see ``cron.expand``).

    ``announced_ms`` is when the recurring rule was announced (e.g. when it entered the contract); every window
    it generates counts as announced then and carries the rule's ``notice_ms``, so the notice rule compares the
    announcement with each window's start.
    """
    return [
        MaintenanceWindow(s, e, announced_ms=announced_ms, label=label, notice_ms=notice_ms)
        for s, e in expand(cron, duration_ms, start_ms, end_ms, tz)
    ]


def decide_windows(windows: Iterable[MaintenanceWindow]) -> list[WindowDecision]:
    """Decide each window against its own notice rule (``notice_ms`` None: no notice required, excluded).

    With a notice rule, a window is excluded iff ``announced_ms <= start_ms - notice_ms`` (announced exactly
    ``notice`` ahead is in time); never announced (``announced_ms`` None) is not in time.
    """
    decisions: list[WindowDecision] = []
    for w in sorted(windows, key=lambda w: (w.start_ms, w.end_ms)):
        notice_ms = w.notice_ms
        if notice_ms is None:
            decisions.append(WindowDecision(w, True, "maintenance (no notice required)"))
        elif w.announced_ms is None:
            decisions.append(WindowDecision(w, False, "not excluded: never announced"))
        elif w.announced_ms <= w.start_ms - notice_ms:
            decisions.append(WindowDecision(w, True, f"maintenance announced {w.start_ms - w.announced_ms} ms ahead"))
        else:
            decisions.append(
                WindowDecision(
                    w,
                    False,
                    f"not excluded: announced {w.start_ms - w.announced_ms} ms ahead, notice requires {notice_ms} ms",
                )
            )
    return decisions


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint union of half-open ranges; empty ranges are dropped and touching ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def excluded_ranges(
    exclusions: Iterable[tuple[int, int]], decisions: Sequence[WindowDecision] = ()
) -> list[tuple[int, int]]:
    """The merged ranges that are excluded: every plain exclusion plus the maintenance windows that count."""
    ranges = list(exclusions)
    ranges.extend((d.window.start_ms, d.window.end_ms) for d in decisions if d.excluded)
    return merge_ranges(ranges)


def overlap_ms(ranges: Sequence[tuple[int, int]], start_ms: int, end_ms: int) -> int:
    """Milliseconds of the merged ``ranges`` inside ``[start_ms, end_ms)``."""
    return sum(max(0, min(e, end_ms) - max(s, start_ms)) for s, e in ranges)
