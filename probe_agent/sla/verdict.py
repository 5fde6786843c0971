"""What a cycle's figures mean so far, in one word (pure): ``verdict`` and when a projection is worth showing.

A cycle in progress is not a verdict: two minutes in, "met: no" with the whole budget left says nothing. So:

- while the cycle runs: ``breached`` once the target can no longer be met, whatever the rest of the cycle holds
  (``sla_breached``'s condition, ``sla/alerts.py``: counted down > (1 - target) x (counted + countable ahead));
  else ``at_risk`` while a burn-rate pair fires (``sla_at_risk``'s condition: (1 h, 5 min) at 14.4x or (6 h,
  30 min) at 6x); else ``on_track``;
- once it has ended: ``met`` or ``missed`` (``met`` of the report, unchanged);
- None when nothing was counted (availability is null: no verdict either).

The projection (availability at the cycle's end if the rest burns as so far) is extrapolated from what has passed,
so it is shown only once 10 % of the cycle and at least 24 h have passed since its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from fractions import Fraction

from probe_agent.model import DAY_MS
from probe_agent.sla.alerts import PAIRS, CountedSpan, breach_reading, cycle_so_far, pair_reading
from probe_agent.sla.evaluation import SlaEvaluation

PROJECTION_MIN_SHARE = Fraction(1, 10)
PROJECTION_MIN_MS = DAY_MS


class Verdict(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    MISSED = "missed"


def verdict(
    evaluation: SlaEvaluation, *, complete: bool, now_ms: int, timeline: Sequence[CountedSpan]
) -> Verdict | None:
    """The verdict of ``evaluation`` at ``now_ms``; ``timeline`` is the SLA's counted timeline up to ``now_ms``
    (at least the last 6 h, as the alerts read it), used only while the cycle runs (``complete`` False)."""
    met = evaluation.overall.met
    if met is None:
        return None
    if complete:
        return Verdict.MET if met else Verdict.MISSED
    target = evaluation.target
    if breach_reading(target, cycle_so_far(evaluation)).firing:
        return Verdict.BREACHED
    if target < 1 and any(pair_reading(p, timeline, target, now_ms).firing for p in PAIRS):
        return Verdict.AT_RISK
    return Verdict.ON_TRACK


def projection_shown(cycle_start_ms: int, cycle_end_ms: int, now_ms: int) -> bool:
    """Whether enough of the cycle has passed at ``now_ms`` to extrapolate: 10 % of it and at least 24 h."""
    passed = min(now_ms, cycle_end_ms) - cycle_start_ms
    return passed >= PROJECTION_MIN_MS and passed >= PROJECTION_MIN_SHARE * (cycle_end_ms - cycle_start_ms)
