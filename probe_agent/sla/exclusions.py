"""Exclusion and maintenance windows: which ``[start_ms, end_ms)`` ranges leave the availability calculation.

Plain exclusions (agreed after the fact, e.g. customer-caused) always count. A maintenance window counts only
if it was announced at least its own ``notice_ms`` before it started, when that window requires notice (notice is
per window: one window's ``notice`` says nothing about another's); a window that was never announced, or announced
too late, stays in the calculation and the report says why. Objectives leave out the probe results of the same
excluded time (``objective_exclusions``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from probe_agent.model import DAY_MS
from probe_agent.sla.cron import expand
from probe_agent.units import duration_text

MAX_EXCLUSION_MS = 366 * DAY_MS
YEAR_9000_MS = 221_845_392_000_000  # as for report periods: later dates overflow calendar arithmetic


def check_exclusion_span(start_ms: int, end_ms: int) -> None:
    """Refuse (ValueError, with the reason) an exclusion ``[start_ms, end_ms)`` that cannot be a real one: outside
    1970 to 9000, or longer than 366 days. Excluded time is time the provider is not measured on: a typo such as
    0001-01-01 would silently excuse every outage in every cycle. A real exclusion is an event; a long arrangement
    is recorded one billing period at a time. ``end_ms <= start_ms`` is the caller's to word (it names its inputs).
    """
    if start_ms < 0 or end_ms >= YEAR_9000_MS:
        raise ValueError("an exclusion must lie between 1970 and 9000")
    if end_ms - start_ms > MAX_EXCLUSION_MS:
        raise ValueError(
            f"an exclusion may last at most 366 days (this one lasts {(end_ms - start_ms) / DAY_MS:.1f} days); "
            "record longer arrangements one billing period at a time"
        )


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
            ahead = duration_text(w.start_ms - w.announced_ms)
            decisions.append(WindowDecision(w, True, f"maintenance announced {ahead} ahead"))
        else:
            decisions.append(
                WindowDecision(
                    w,
                    False,
                    f"not excluded: announced {duration_text(w.start_ms - w.announced_ms)} ahead, notice requires "
                    f"{duration_text(notice_ms)}",
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


def intersect_ranges(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The merged ranges covered by both ``a`` and ``b`` (each merged first)."""
    out: list[tuple[int, int]] = []
    for s1, e1 in merge_ranges(a):
        for s2, e2 in merge_ranges(b):
            if min(e1, e2) > max(s1, s2):
                out.append((max(s1, s2), min(e1, e2)))
    return merge_ranges(out)


def objective_exclusions(
    services: Sequence[tuple[str, Sequence[str]]],
    sla_excluded: Sequence[tuple[int, int]],
    endpoint_exclusions: Mapping[str, Sequence[tuple[int, int]]],
    service_exclusions: Mapping[str, Sequence[tuple[int, int]]],
) -> dict[str, list[tuple[int, int]]]:
    """Per endpoint, the time whose probe results objectives leave out (latency samples and error-rate counts).

    ``services`` are the SLA's (name, endpoints); ``sla_excluded`` the SLA-wide excluded ranges (exclusions and
    the maintenance windows that count). An endpoint's results are left out while the whole SLA is excluded,
    while the endpoint itself is excluded, and while every service of the SLA that counts it is excluded: the
    same times at which it stops voting in the availability figures. Another endpoint's results meanwhile count.
    """
    out: dict[str, list[tuple[int, int]]] = {}
    names = sorted({e for _, endpoints in services for e in endpoints})
    for name in names:
        own = [service_exclusions.get(s, ()) for s, endpoints in services if name in endpoints]
        every_service = own[0] if own else ()
        for ranges in own[1:]:
            every_service = intersect_ranges(every_service, ranges)
        out[name] = merge_ranges([*sla_excluded, *endpoint_exclusions.get(name, ()), *every_service])
    return out


def pieces_by_member(
    ranges_by_member: Mapping[str, Sequence[tuple[int, int]]], start_ms: int, end_ms: int
) -> list[tuple[int, int, tuple[str, ...]]]:
    """Cut ``[start_ms, end_ms)`` where any member's ranges start or end, and give each piece that some member's
    ranges cover as (start, end, the members it covers, sorted); adjacent pieces with the same members are joined.

    So a store can read each piece once for all its members (an SLA-wide window is one read for every endpoint).
    """
    clipped = {m: [(max(s, start_ms), min(e, end_ms)) for s, e in merge_ranges(r)] for m, r in ranges_by_member.items()}
    clipped = {m: [(s, e) for s, e in r if e > s] for m, r in clipped.items()}
    cuts = sorted({t for r in clipped.values() for s, e in r for t in (s, e)})
    out: list[tuple[int, int, tuple[str, ...]]] = []
    for lo, hi in itertools.pairwise(cuts):
        members = tuple(sorted(m for m, r in clipped.items() if any(s <= lo and hi <= e for s, e in r)))
        if not members:
            continue
        if out and out[-1][1] == lo and out[-1][2] == members:
            out[-1] = (out[-1][0], hi, members)
        else:
            out.append((lo, hi, members))
    return out
