"""SLA alerts: which alert conditions hold at an instant, and which alerts start and resolve (pure).

Everything here is integer epoch ms and ``Fraction``; ``now_ms`` is always an argument. The glue that reads the
store is ``reports/alerts.py``; turning starts and resolves into events is the outbox's.

**Counted timeline.** The SLA's whole-scope buckets after exclusions, mapped by its policies to *counted up*,
*counted down* or *not counted* (excluded time, and no_data/unknown under ``exclude``). Time the timeline does not
cover is not counted.

**Burn rate** over the window ``[now - w, now)``: (counted down ms / counted ms in the window) / (1 - target), an
exact ``Fraction``. 1 spends the cycle's budget exactly by its end; 14.4 over 1 h spends 2 % of a 30-day budget.
None (never 0, never infinity) when the window has no counted time, and when the target is 100 % (no budget).

**At risk** (``sla_at_risk``), the SRE workbook's multi-window pairs: (1 h, 5 min, 14.4) and (6 h, 30 min, 6);
the short window is 1/12 of the long one. A pair fires when both windows' rates are >= the factor. It is a
three-valued AND: False as soon as one known rate is below the factor; True when both are known and at or above;
None (unknown) otherwise, i.e. a window without counted time neither starts nor resolves the alert: it keeps
its state until both windows speak again. With a 100 % target the pairs are never evaluated (never at risk).

**Breached** (``sla_breached``): the target can no longer be met, whatever the rest of the cycle holds:
counted down ms so far > (1 - target) x (counted ms so far + countable ms ahead), where *countable ms ahead* is the
rest of the cycle after ``now`` less the excluded time already known there (maintenance windows ahead). The best the
rest can do is count up throughout, and then the cycle ends at exactly the target when down == allowed: equal is
not breached, one ms more is. This is at least as early as the report's error budget going negative (that budget
also allows for time already passed without a count, which can no longer be counted); with a 100 % target the
allowance is 0, so the first counted down ms breaches. Once true it stays true for the cycle.

**Objective breached** (``objective_breached``): the cycle's error rate or latency objective is missed
(``sla/objectives.py``), judged only once the cycle holds ``min_samples`` results (error rate: definite results;
latency: results in the histogram). Fewer: None (it neither starts nor resolves).

Alerts are keyed by (kind, SLA, cycle label, pair or objective): ``step`` starts a key once when its condition
becomes True, and resolves it once when the condition becomes False. Open keys of the same SLA under another cycle
label resolve when the SLA is first evaluated in a new cycle (reason ``cycle_ended``): every cycle starts fresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from probe_agent.model import HOUR_MS, MINUTE_MS
from probe_agent.sla.availability import BucketSpan, Counted, Policies
from probe_agent.sla.evaluation import SlaEvaluation
from probe_agent.sla.objectives import ErrorRateResult, LatencyResult

DEFAULT_MIN_SAMPLES = 100


@dataclass(frozen=True, slots=True)
class CountedSpan:
    """``[start_ms, end_ms)`` counted as ``up`` or ``down``; ``None``: not counted."""

    start_ms: int
    end_ms: int
    counted: Counted | None

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"span [{self.start_ms}, {self.end_ms}) is empty or reversed")


def counted_spans(buckets: Iterable[BucketSpan], policies: Policies) -> tuple[CountedSpan, ...]:
    """The counted timeline of ``buckets`` under ``policies``, adjacent spans of one count merged."""
    out: list[CountedSpan] = []
    for b in buckets:
        counted = policies.counts_as(b.bucket)
        if out and out[-1].counted == counted and out[-1].end_ms == b.start_ms:
            out[-1] = CountedSpan(out[-1].start_ms, b.end_ms, counted)
        else:
            out.append(CountedSpan(b.start_ms, b.end_ms, counted))
    return tuple(out)


def counted_in(timeline: Sequence[CountedSpan], start_ms: int, end_ms: int) -> tuple[int, int]:
    """(counted ms, counted down ms) of ``timeline`` within ``[start_ms, end_ms)``."""
    counted = down = 0
    for s in timeline:
        ms = min(s.end_ms, end_ms) - max(s.start_ms, start_ms)
        if ms <= 0 or s.counted is None:
            continue
        counted += ms
        down += ms if s.counted == "down" else 0
    return counted, down


def burn_rate(timeline: Sequence[CountedSpan], target: Fraction, now_ms: int, window_ms: int) -> Fraction | None:
    """The burn rate over ``[now_ms - window_ms, now_ms)`` (see the module docstring); None without counted time
    in the window or without a budget (target 100 %)."""
    if target >= 1:
        return None
    counted, down = counted_in(timeline, now_ms - window_ms, now_ms)
    if not counted:
        return None
    return Fraction(down, counted) / (1 - target)


@dataclass(frozen=True, slots=True)
class BurnPair:
    """A long window confirmed by a short one, both at or above ``factor`` (windows in ms)."""

    name: str
    long_ms: int
    short_ms: int
    factor: Fraction


# The SRE workbook's page-level pair (2 % of a 30-day budget in 1 h) and ticket-level pair (5 % in 6 h).
PAIRS: tuple[BurnPair, ...] = (
    BurnPair("1h", HOUR_MS, 5 * MINUTE_MS, Fraction(72, 5)),
    BurnPair("6h", 6 * HOUR_MS, 30 * MINUTE_MS, Fraction(6)),
)
# How far back the pairs look: the timeline must cover at least this much before ``now``.
LOOKBACK_MS = max(p.long_ms for p in PAIRS)


class AlertKind(StrEnum):
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    OBJECTIVE_BREACHED = "objective_breached"


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """What an alert is about; ``detail`` is the pair name (``1h``, ``6h``), the objective (``error_rate``,
    ``latency``) or ``""`` for ``sla_breached``."""

    kind: AlertKind
    sla: str
    cycle: str
    detail: str = ""

    @property
    def id(self) -> str:
        """A stable text id, the same on every evaluation of the same alert (``kind:sla:cycle[:detail]``)."""
        return ":".join([self.kind.value, self.sla, self.cycle, *([self.detail] if self.detail else [])])


@dataclass(frozen=True, slots=True)
class PairReading:
    pair: BurnPair
    long_rate: Fraction | None
    short_rate: Fraction | None
    firing: bool | None


@dataclass(frozen=True, slots=True)
class BreachReading:
    """Counted down ms so far against what the whole cycle can allow at best (``allowed_ms``)."""

    down_ms: int
    allowed_ms: Fraction
    firing: bool


@dataclass(frozen=True, slots=True)
class ObjectiveReading:
    objective: Literal["error_rate", "latency"]
    samples: int
    value: Fraction | float | None  # error rate as a fraction of 1; latency percentile in ms
    firing: bool | None


Reading = PairReading | BreachReading | ObjectiveReading


@dataclass(frozen=True, slots=True)
class CycleSoFar:
    """The current cycle at ``now``: its label, counted ms and counted down ms so far, and the countable ms ahead
    (the rest of the cycle less the excluded time already known there)."""

    label: str
    counted_ms: int
    counted_down_ms: int
    ahead_ms: Fraction


def cycle_so_far(evaluation: SlaEvaluation) -> CycleSoFar:
    """The whole-SLA figures of ``evaluation`` (its cycle evaluated at ``now``) as ``sla_breached`` reads them.

    Countable ms ahead = the cycle's countable ms (its length less all its excluded time, what the error budget's
    allowance is taken of) - the countable ms already measured (``[start, now)`` less its excluded time). With a
    100 % target the budget says nothing of the excluded time, and it cannot matter (the allowance is 0): the ms
    ahead are then the rest of the cycle as it is.
    """
    overall = evaluation.overall
    totals = overall.availability.buckets
    target = evaluation.target
    if target < 1:
        ahead = overall.budget.allowed_ms / (1 - target) - (totals.total_ms - totals.excluded_ms)
    else:
        ahead = Fraction(evaluation.period.end_ms - evaluation.measured_end_ms)
    return CycleSoFar(
        evaluation.full_period.label,
        overall.availability.counted_ms,
        overall.availability.counted_down_ms,
        ahead,
    )


@dataclass(frozen=True, slots=True)
class AlertInputs:
    """What one SLA's alerts are judged on at one instant (``reports/alerts.py`` reads it from the store).

    ``timeline`` must cover at least ``[now - LOOKBACK_MS, now)`` (time it leaves out is not counted);
    ``error_rate``/``latency``: the cycle's objectives, None when the SLA has none.
    """

    sla: str
    target: Fraction
    cycle: CycleSoFar
    timeline: tuple[CountedSpan, ...]
    error_rate: ErrorRateResult | None = None
    latency: LatencyResult | None = None


@dataclass(frozen=True, slots=True)
class SlaAlerts:
    """One SLA's alert conditions at ``now_ms``: each key with its reading (``reading.firing``: None = unknown)."""

    sla: str
    cycle: str
    now_ms: int
    readings: Mapping[AlertKey, Reading]


def breach_reading(target: Fraction, cycle: CycleSoFar) -> BreachReading:
    """``sla_breached``'s condition (see the module docstring): down > (1 - target) x (counted + ahead)."""
    allowed = (1 - target) * (cycle.counted_ms + cycle.ahead_ms)
    return BreachReading(cycle.counted_down_ms, allowed, cycle.counted_down_ms > allowed)


def pair_reading(pair: BurnPair, timeline: Sequence[CountedSpan], target: Fraction, now_ms: int) -> PairReading:
    """One pair's rates and its three-valued AND (see the module docstring)."""
    long_rate = burn_rate(timeline, target, now_ms, pair.long_ms)
    short_rate = burn_rate(timeline, target, now_ms, pair.short_ms)
    known = [r >= pair.factor for r in (long_rate, short_rate) if r is not None]
    firing: bool | None = False if not all(known) else (True if len(known) == 2 else None)
    return PairReading(pair, long_rate, short_rate, firing)


def error_rate_reading(result: ErrorRateResult, min_samples: int) -> ObjectiveReading:
    samples = result.counts.definite
    firing = None if samples < min_samples or result.met is None else not result.met
    return ObjectiveReading("error_rate", samples, result.rate, firing)


def latency_reading(result: LatencyResult, min_samples: int) -> ObjectiveReading:
    firing = None if result.samples < min_samples or result.met is None else not result.met
    return ObjectiveReading("latency", result.samples, result.value_ms, firing)


def evaluate_alerts(inputs: AlertInputs, now_ms: int, *, min_samples: int = DEFAULT_MIN_SAMPLES) -> SlaAlerts:
    """Every alert condition of one SLA at ``now_ms`` (``min_samples``: results before objectives are judged)."""
    if min_samples < 1:
        raise ValueError("min_samples must be at least 1")
    if not 0 <= inputs.target <= 1:
        raise ValueError("target must be a fraction in [0, 1]")
    sla, label = inputs.sla, inputs.cycle.label
    readings: dict[AlertKey, Reading] = {
        AlertKey(AlertKind.SLA_BREACHED, sla, label): breach_reading(inputs.target, inputs.cycle)
    }
    if inputs.target < 1:  # a 100 % target has no budget to burn: sla_breached alone speaks for it
        for pair in PAIRS:
            key = AlertKey(AlertKind.SLA_AT_RISK, sla, label, pair.name)
            readings[key] = pair_reading(pair, inputs.timeline, inputs.target, now_ms)
    objectives: list[ObjectiveReading] = []
    if inputs.error_rate is not None:
        objectives.append(error_rate_reading(inputs.error_rate, min_samples))
    if inputs.latency is not None:
        objectives.append(latency_reading(inputs.latency, min_samples))
    for o in objectives:
        readings[AlertKey(AlertKind.OBJECTIVE_BREACHED, sla, label, o.objective)] = o
    return SlaAlerts(sla, label, now_ms, readings)
