"""Service credits: what one billing cycle's availability and downtime pay under a contract's credit terms.

Pure: no I/O, no clock. Money is ``Decimal``; percentages are Decimal percents (``Decimal("99.9")`` is 99.9 %);
availability is an exact ``Fraction`` in [0, 1], or None when no time was counted. Internally everything is
computed with Fractions, so comparisons with tier boundaries are exact.

The computation, in this order (each step is written into ``CreditResult.steps`` with its numbers):

1. Charged fee: ``fee x covered / cycle length`` when ``prorate`` and the cycle is partial (monitoring started
   mid-cycle, or an explicit short cycle), else ``fee``; rounded half-up to ``rounding_places``.
2. Availability None (nothing counted): no credit, whatever else the inputs say.
3. Each configured model gives a percent of the charged fee:
   - ``tiers``: the tier with the lowest ``below`` that the availability is strictly under (exactly 99.9 % is not
     below 99.9 %); none: 0 %.
   - ``per_unit``: started units of downtime (of the downtime beyond the allowance when ``beyond_allowance``;
     exactly one unit is one unit, one millisecond more is two), times ``credit_percent``; or, with
     ``multiplier``, that many times the pro-rated charge for those units: ``multiplier x units x every /
     charged span x 100 %``, where the charged span is the covered part of the cycle when prorating, else the
     whole cycle (both give ``multiplier x units x every x fee / cycle length`` in money).
   - ``per_incident``: ``credit_percent`` for each incident strictly longer than ``longer_than_ms``.
   Every percent is kept as an exact fraction. One that is not a terminating decimal (only the multiplier can
   produce one) is *shown* rounded half-up to 10 decimal places, but nothing is computed from the shown figure.
4. ``combine``: ``sum`` adds the model percents, ``max`` takes the largest (ties: tiers, per_unit, per_incident).
5. ``cap``: the combined percent is limited to ``cap_percent`` (a percent of the charged fee).
6. Amount: ``charged fee x exact percent / 100``, rounded half-up to ``rounding_places``: the only rounding
   of money after the fee (UpCloud, 7 minutes of a 31-day cycle at 22.32: 22.32 x 50 x 7 / 44,640 = exactly
   0.175, paid 0.18; rounding the percent first would give 0.17499999... and pay 0.17).
7. Minimum payout: the credit is paid only when the rounded amount is strictly ABOVE ``minimum_payout`` (AWS:
   "paid only above 1 USD"); an amount equal to or below it pays 0, and ``percent`` is then 0 too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from probe_agent.sla.rounding import approx_percent as _approx_percent
from probe_agent.sla.rounding import exact_pct as _exact_pct
from probe_agent.sla.rounding import money as _money
from probe_agent.sla.rounding import pct as _pct
from probe_agent.sla.rounding import show_fraction as _show_fraction
from probe_agent.sla.rounding import show_fraction_percent as _show_fraction_percent
from probe_agent.sla.rounding import tidy as _tidy
from probe_agent.sla.rounding import tidy_fraction as _tidy_f
from probe_agent.units import duration_human, duration_text

Combine = Literal["sum", "max"]
ModelName = Literal["tiers", "per_unit", "per_incident"]

_HUNDRED = Fraction(100)

# ISO 4217 currencies whose minor unit is not 1/100. Everything else rounds to 2 places.
_MINOR_UNIT_PLACES = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF"),
        0,
    ),
    "XPF": 0,
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def currency_places(currency: str) -> int:
    """Decimal places of the currency's minor unit (ISO 4217): JPY 0, KWD 3, EUR/USD and unknown codes 2."""
    return _MINOR_UNIT_PLACES.get(currency.upper(), 2)


@dataclass(frozen=True, slots=True)
class Tier:
    """Credit ``credit_percent`` of the fee when availability is strictly below ``below_percent``."""

    below_percent: Decimal
    credit_percent: Decimal

    def __post_init__(self) -> None:
        if not Decimal(0) < self.below_percent <= Decimal(100):
            raise ValueError(f"tier below {self.below_percent}%: must be in (0, 100]")
        if self.credit_percent < 0:
            raise ValueError(f"tier below {self.below_percent}%: the credit must not be negative")


@dataclass(frozen=True, slots=True)
class PerUnit:
    """Per started ``every_ms`` of downtime: ``credit_percent`` of the fee, or ``multiplier`` x its charge.

    Exactly one of ``credit_percent`` and ``multiplier`` is set.
    """

    every_ms: int
    credit_percent: Decimal | None = None
    multiplier: Decimal | None = None
    beyond_allowance: bool = True

    def __post_init__(self) -> None:
        if self.every_ms <= 0:
            raise ValueError("per_unit: every must be positive")
        if (self.credit_percent is None) == (self.multiplier is None):
            raise ValueError("per_unit needs exactly one of credit (a percent) or multiplier")
        if self.credit_percent is not None and self.credit_percent < 0:
            raise ValueError("per_unit: the credit must not be negative")
        if self.multiplier is not None and self.multiplier <= 0:
            raise ValueError("per_unit: the multiplier must be positive")


@dataclass(frozen=True, slots=True)
class PerIncident:
    """``credit_percent`` of the fee for each incident strictly longer than ``longer_than_ms``."""

    longer_than_ms: int
    credit_percent: Decimal

    def __post_init__(self) -> None:
        if self.longer_than_ms < 0 or self.credit_percent < 0:
            raise ValueError("per_incident: longer_than and credit must not be negative")


@dataclass(frozen=True, slots=True)
class CreditTerms:
    """A contract's credit terms. ``fee`` is per full cycle in ``currency``; percents are of the charged fee.

    ``tiers`` may be given in any order. ``cap_percent`` None: no cap. ``minimum_payout`` None: none.
    ``rounding_places``: decimals of the amounts (see ``currency_places`` for the currency's own).
    """

    fee: Decimal
    currency: str
    tiers: tuple[Tier, ...] = ()
    per_unit: PerUnit | None = None
    per_incident: PerIncident | None = None
    combine: Combine = "max"
    cap_percent: Decimal | None = None
    minimum_payout: Decimal | None = None
    rounding_places: int = 2
    prorate: bool = True

    def __post_init__(self) -> None:
        if not self.fee.is_finite() or self.fee < 0:
            raise ValueError("the fee must be a non-negative amount")
        if self.combine not in ("sum", "max"):
            raise ValueError("combine is sum or max")
        belows = [t.below_percent for t in self.tiers]
        if len(set(belows)) != len(belows):
            raise ValueError("two tiers have the same `below`")
        if self.cap_percent is not None and self.cap_percent < 0:
            raise ValueError("the cap must not be negative")
        if self.minimum_payout is not None and self.minimum_payout < 0:
            raise ValueError("the minimum payout must not be negative")
        if not 0 <= self.rounding_places <= 6:
            raise ValueError("rounding_places must be 0 to 6")


@dataclass(frozen=True, slots=True)
class CreditInputs:
    """What the SLA core measured for one cycle.

    ``downtime_ms``: counted-down time (with slice counting: the down slices' total length). ``allowance_ms``: the
    error budget, (1 - target) x (cycle - excluded). ``incident_durations_ms``: whole incidents, start to end.
    ``period_ms``: the full cycle's length; ``covered_period_ms``: the part the fee is prorated to (monitoring
    started mid-cycle, or an explicit short cycle); equal to ``period_ms`` for a full cycle.
    """

    availability: Fraction | None
    downtime_ms: int
    allowance_ms: int
    incident_durations_ms: tuple[int, ...]
    period_ms: int
    covered_period_ms: int

    def __post_init__(self) -> None:
        if self.availability is not None and not 0 <= self.availability <= 1:
            raise ValueError(f"availability {self.availability} is outside [0, 1]")
        if self.period_ms <= 0:
            raise ValueError("the cycle must have a positive length")
        if not 0 <= self.covered_period_ms <= self.period_ms:
            raise ValueError("the covered part of the cycle must be within 0 and the cycle's length")
        if not 0 <= self.downtime_ms <= self.period_ms:
            raise ValueError("downtime must be within 0 and the cycle's length")
        if self.allowance_ms < 0 or any(d < 0 for d in self.incident_durations_ms):
            raise ValueError("allowance and incident durations must not be negative")


@dataclass(frozen=True, slots=True)
class CreditComponent:
    """What one configured model gave, before combining, capping and the minimum payout.

    ``exact`` is the percent as a fraction (what is computed with); ``percent`` is how it is shown (equal to it
    unless it is not a terminating decimal, then rounded half-up to 10 places).
    """

    model: ModelName
    percent: Decimal
    rule: str
    exact: Fraction


@dataclass(frozen=True, slots=True)
class CreditResult:
    """The credit for one cycle. ``percent`` is of ``charged_fee`` and is what is paid (0 below the minimum).

    ``percent_exact`` is the exact fraction the amount was computed from; ``percent`` shows it (rounded to 10
    places only when it is not a terminating decimal).
    """

    percent: Decimal
    amount: Decimal
    currency: str
    charged_fee: Decimal
    rule: str
    steps: tuple[str, ...]
    components: tuple[CreditComponent, ...] = field(default_factory=tuple)
    capped: bool = False
    below_minimum: bool = False
    percent_exact: Fraction = Fraction(0)


def compute_credit(terms: CreditTerms, inputs: CreditInputs) -> CreditResult:
    """The credit for one cycle, with every step of the computation (see the module docstring for the order)."""
    places = terms.rounding_places
    cur = terms.currency
    steps: list[str] = []
    charged = _charged_fee(terms, inputs, steps)
    if inputs.availability is None:
        rule = "no time was counted in this cycle (availability unknown): no credit"
        steps.append(rule)
        return CreditResult(_tidy(Decimal(0)), _money(Fraction(0), places), cur, charged, rule, tuple(steps))
    steps.append(f"availability {_show_fraction_percent(inputs.availability * _HUNDRED)}")

    components = _components(terms, inputs, steps)
    if not components:
        rule = "the terms have no credit model: no credit"
        steps.append(rule)
        return CreditResult(_tidy(Decimal(0)), _money(Fraction(0), places), cur, charged, rule, tuple(steps))

    paying = [c for c in components if c.percent > 0]
    if terms.combine == "sum":
        combined = sum((c.exact for c in components), Fraction(0))
        rule = " + ".join(c.rule for c in paying)
        steps.append(f"combine sum: {' + '.join(_pct(c.percent) for c in components)} = {_pct(_tidy_f(combined))}")
    else:
        best = max(components, key=lambda c: c.exact)  # max() keeps the first of equals: the documented tie order
        combined = best.exact
        rule = best.rule if best.percent > 0 else ""
        steps.append(f"combine max of {', '.join(_pct(c.percent) for c in components)} = {_pct(best.percent)}")
    if not paying:
        rule = "; ".join(c.rule for c in components) + ": no credit"

    capped = terms.cap_percent is not None and combined > Fraction(terms.cap_percent)
    if terms.cap_percent is not None:
        if capped:
            combined = Fraction(terms.cap_percent)
            rule += f"; capped at {_pct(terms.cap_percent)}"
            steps.append(f"cap {_pct(terms.cap_percent)} of the fee: capped to {_pct(terms.cap_percent)}")
        else:
            steps.append(f"cap {_pct(terms.cap_percent)} of the fee: not reached")
    percent = _tidy_f(combined)
    # From the exact fraction, rounded once: the shown percent may itself be rounded (multiplier model).
    exact_amount = Fraction(charged) * combined / _HUNDRED
    amount = _money(exact_amount, places)
    unrounded = "" if Fraction(amount) == exact_amount else f" = {_show_fraction(exact_amount)} {cur}"
    steps.append(
        f"amount = {charged} {cur} x {_exact_pct(combined)}{unrounded} = {amount} {cur}"
        f" (rounded half-up to {places} decimal places)"
    )

    below_minimum = False
    if terms.minimum_payout is not None:
        minimum = terms.minimum_payout
        if amount > minimum:
            steps.append(f"minimum payout: {amount} {cur} is above {minimum} {cur}: paid")
        elif amount > 0:
            below_minimum = True
            steps.append(f"minimum payout: paid only above {minimum} {cur}; {amount} {cur} is not: credit 0")
            rule += f"; {amount} {cur} is not above the minimum payout of {minimum} {cur}: no credit"
            amount = _money(Fraction(0), places)
            percent = _tidy(Decimal(0))
            combined = Fraction(0)
    steps.append(f"credit: {amount} {cur} ({_pct(percent)} of {charged} {cur})")
    return CreditResult(
        percent, amount, cur, charged, rule, tuple(steps), tuple(components), capped, below_minimum, combined
    )


def _charged_fee(terms: CreditTerms, inputs: CreditInputs, steps: list[str]) -> Decimal:
    places = terms.rounding_places
    cur = terms.currency
    if terms.prorate and inputs.covered_period_ms < inputs.period_ms:
        charged = _money(Fraction(terms.fee) * inputs.covered_period_ms / inputs.period_ms, places)
        steps.append(
            f"fee {terms.fee} {cur} prorated to the covered {duration_human(inputs.covered_period_ms)} of the "
            f"{duration_human(inputs.period_ms)} cycle: {charged} {cur} (rounded half-up to {places} decimal places)"
        )
    else:
        charged = _money(Fraction(terms.fee), places)
        why = "" if inputs.covered_period_ms == inputs.period_ms else " (partial cycle, not prorated)"
        steps.append(f"fee {charged} {cur} for the cycle{why}")
    return charged


def _components(terms: CreditTerms, inputs: CreditInputs, steps: list[str]) -> list[CreditComponent]:
    assert inputs.availability is not None
    out: list[CreditComponent] = []
    if terms.tiers:
        out.append(_tier_component(terms.tiers, inputs.availability))
    if terms.per_unit is not None:
        out.append(_per_unit_component(terms.per_unit, inputs, terms.prorate))
    if terms.per_incident is not None:
        out.append(_per_incident_component(terms.per_incident, inputs.incident_durations_ms))
    steps.extend(f"{c.model}: {c.rule}" for c in out)
    return out


def _tier_component(tiers: tuple[Tier, ...], availability: Fraction) -> CreditComponent:
    measured = availability * _HUNDRED
    under = [t for t in tiers if measured < Fraction(t.below_percent)]
    # The exact fraction is in the availability step, once; the rule (shown in every view) keeps the rounded figure.
    shown = _approx_percent(measured)
    if not under:
        highest = max(t.below_percent for t in tiers)
        return CreditComponent("tiers", _tidy(Decimal(0)), f"{shown} is not below {_pct(highest)} -> 0%", Fraction(0))
    tier = min(under, key=lambda t: t.below_percent)
    percent = _tidy(tier.credit_percent)
    lower = [t.below_percent for t in tiers if t.below_percent < tier.below_percent]
    why = f"{shown} is not below {_pct(max(lower))}" if lower else f"availability {shown}"
    rule = f"tier below {_pct(tier.below_percent)} -> {_pct(percent)} ({why})"
    return CreditComponent("tiers", percent, rule, Fraction(tier.credit_percent))


def _per_unit_component(model: PerUnit, inputs: CreditInputs, prorate: bool) -> CreditComponent:
    if model.beyond_allowance:
        counted = max(0, inputs.downtime_ms - inputs.allowance_ms)
        what = (
            f"downtime {duration_text(inputs.downtime_ms)} - allowance {duration_text(inputs.allowance_ms)}"
            f" = {duration_text(counted)}"
        )
    else:
        counted = inputs.downtime_ms
        what = f"downtime {duration_text(counted)}"
    units = -(-counted // model.every_ms)  # started units: ceiling division
    head = f"{what}: {units} started unit(s) of {duration_text(model.every_ms)}"
    if model.credit_percent is not None:
        exact = units * Fraction(model.credit_percent)
        percent = _tidy_f(exact)
        return CreditComponent("per_unit", percent, f"{head} x {_pct(model.credit_percent)} -> {_pct(percent)}", exact)
    assert model.multiplier is not None
    span_ms = inputs.covered_period_ms if prorate else inputs.period_ms
    if span_ms == 0:
        return CreditComponent("per_unit", _tidy(Decimal(0)), f"{head}; nothing was charged -> 0%", Fraction(0))
    share = Fraction(units * model.every_ms, span_ms)
    exact = Fraction(model.multiplier) * share * _HUNDRED
    return CreditComponent(
        "per_unit",
        _tidy_f(exact),
        f"{head} = {_show_fraction_percent(share * _HUNDRED)} of the charged {duration_text(span_ms)}, "
        f"x {model.multiplier} -> {_exact_pct(exact)}",
        exact,
    )


def _per_incident_component(model: PerIncident, durations_ms: tuple[int, ...]) -> CreditComponent:
    count = sum(1 for d in durations_ms if d > model.longer_than_ms)
    exact = count * Fraction(model.credit_percent)
    percent = _tidy_f(exact)
    return CreditComponent(
        "per_incident",
        percent,
        f"{count} of {len(durations_ms)} incident(s) longer than {duration_text(model.longer_than_ms)} "
        f"x {_pct(model.credit_percent)} -> {_pct(percent)}",
        exact,
    )
