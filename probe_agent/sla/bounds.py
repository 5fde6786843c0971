"""Measurement bounds: how far the measured downtime can be from the truth, given the probe interval.

A probe sees a state change only at its next probe, so every observed change (an outage start or end) is
uncertain by up to one probe interval. With ``c`` observed changes inside the measured range:

- min downtime = max(0, counted_down - c x interval), max downtime = min(counted, counted_down + c x
  interval);
- the availability range is [(counted - max) / counted, (counted - min) / counted] (None when nothing is
  counted).

An incident contributes its start if the start lies inside the range and its end if it is resolved and the end
lies inside the range; a start or end cut by the range edge is not an observed change. The counted total is
held fixed: the bound moves time between counted-up and counted-down, it does not invent counted time.

Resolution warnings: a probe interval longer than the slice unit cannot tell one bad slice from the next
(5-minute probes against 1-minute slices), and a probe interval longer than ``max_incident_duration`` cannot
tell whether an incident was over the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from probe_agent.sla.incidents import Incident
from probe_agent.units import duration_text


@dataclass(frozen=True, slots=True)
class DowntimeBounds:
    interval_ms: int
    changes: int
    min_down_ms: int
    max_down_ms: int
    min_availability: Fraction | None
    max_availability: Fraction | None


def observed_changes(incidents: Sequence[Incident], start_ms: int, end_ms: int) -> int:
    """Outage starts and (resolved) ends strictly inside ``(start_ms, end_ms)``; see the module docstring."""
    changes = 0
    for inc in incidents:
        if start_ms < inc.start_ms < end_ms:
            changes += 1
        if not inc.ongoing and start_ms < inc.end_ms < end_ms:
            changes += 1
    return changes


def downtime_bounds(counted_down_ms: int, counted_ms: int, changes: int, interval_ms: int) -> DowntimeBounds:
    """Min/max downtime and the availability range for ``changes`` observed state changes."""
    if interval_ms < 0 or changes < 0:
        raise ValueError("interval and changes must not be negative")
    slack = changes * interval_ms
    low = max(0, counted_down_ms - slack)
    high = min(counted_ms, counted_down_ms + slack)
    return DowntimeBounds(
        interval_ms=interval_ms,
        changes=changes,
        min_down_ms=low,
        max_down_ms=high,
        min_availability=Fraction(counted_ms - high, counted_ms) if counted_ms else None,
        max_availability=Fraction(counted_ms - low, counted_ms) if counted_ms else None,
    )


def resolution_warnings(
    interval_ms: int, slice_unit_ms: int | None = None, max_incident_ms: int | None = None
) -> list[str]:
    """Human-readable warnings when the probe interval is too coarse for what the SLA counts."""
    warnings: list[str] = []
    if slice_unit_ms is not None and interval_ms > slice_unit_ms:
        warnings.append(
            f"probe interval {duration_text(interval_ms)} is longer than the {duration_text(slice_unit_ms)} slice: "
            "single bad slices cannot be resolved"
        )
    if max_incident_ms is not None and interval_ms > max_incident_ms:
        warnings.append(
            f"probe interval {duration_text(interval_ms)} is longer than max_incident_duration "
            f"{duration_text(max_incident_ms)}: "
            "incidents near the limit cannot be resolved"
        )
    return warnings
