"""Credit models: hand-computed tables for every model, and properties of the whole computation."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.reports.document import credit_json
from probe_agent.reports.json_numbers import percent
from probe_agent.sla.credits import (
    CreditInputs,
    CreditTerms,
    PerIncident,
    PerUnit,
    Tier,
    compute_credit,
    currency_places,
)

D = Decimal
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
MONTH = 30 * DAY
TINY = Fraction(1, 10**12)
README_TIERS = (Tier(D("99.9"), D("5")), Tier(D("97"), D("10")), Tier(D("95"), D("25")))
README = Path(__file__).resolve().parents[2] / "probe_agent" / "contracts" / "README.md"


def inputs(
    availability: Fraction | None,
    *,
    downtime_ms: int = 0,
    allowance_ms: int = 0,
    incidents: tuple[int, ...] = (),
    period_ms: int = MONTH,
    covered_ms: int | None = None,
) -> CreditInputs:
    return CreditInputs(
        availability=availability,
        downtime_ms=downtime_ms,
        allowance_ms=allowance_ms,
        incident_durations_ms=incidents,
        period_ms=period_ms,
        covered_period_ms=period_ms if covered_ms is None else covered_ms,
    )


def tiered(fee: str = "1200.00", **kw: object) -> CreditTerms:
    return CreditTerms(fee=D(fee), currency="EUR", tiers=README_TIERS, **kw)  # type: ignore[arg-type]


def test_readme_worked_example() -> None:
    result = compute_credit(tiered(), inputs(Fraction(97, 100)))
    assert result.amount == D("60.00")
    assert str(result.amount) == "60.00"
    assert result.percent == 5
    assert result.rule == "tier below 99.9% -> 5% (97% is not below 97%)"
    readme = README.read_text(encoding="utf-8")
    assert "5 % of 1,200.00 EUR = 60.00 EUR" in readme
    assert "\n".join(result.steps) in readme  # the README shows the real steps, not a paraphrase
    below = compute_credit(tiered(), inputs(Fraction(9699, 10000)))
    assert below.amount == D("120.00")


@pytest.mark.parametrize(
    ("availability", "percent"),
    [
        (Fraction(1), 0),
        (Fraction(999, 1000) + TINY, 0),
        (Fraction(999, 1000), 0),  # exactly 99.9 % is not below 99.9 %
        (Fraction(999, 1000) - TINY, 5),
        (Fraction(97, 100) + TINY, 5),
        (Fraction(97, 100), 5),
        (Fraction(97, 100) - TINY, 10),
        (Fraction(95, 100) + TINY, 10),
        (Fraction(95, 100), 10),
        (Fraction(95, 100) - TINY, 25),
        (Fraction(0), 25),
    ],
)
def test_tier_boundaries(availability: Fraction, percent: int) -> None:
    result = compute_credit(tiered(), inputs(availability))
    assert result.percent == percent
    assert result.amount == D(1200) * percent / 100


def test_tiers_in_any_order_pick_the_lowest_below() -> None:
    shuffled = CreditTerms(fee=D("1200.00"), currency="EUR", tiers=tuple(reversed(README_TIERS)))
    assert compute_credit(shuffled, inputs(Fraction(96, 100))).percent == 10
    assert compute_credit(shuffled, inputs(Fraction(94, 100))).percent == 25


def test_no_data_means_no_credit_and_says_why() -> None:
    terms = tiered(per_incident=PerIncident(HOUR, D("10")))
    result = compute_credit(terms, inputs(None, incidents=(5 * HOUR,)))
    assert result.amount == D("0.00")
    assert result.percent == 0
    assert "no time was counted" in result.rule


def test_above_every_tier_says_so() -> None:
    result = compute_credit(tiered(), inputs(Fraction(9995, 10000)))
    assert result.amount == D("0.00")
    assert "99.95% is not below 99.9%" in result.rule
    assert result.rule.endswith("no credit")


def test_availability_that_is_not_a_short_decimal_is_shown_rounded_and_exact() -> None:
    # Rounded half-up to 6 decimals like the report's availability_percent; the exact fraction is what compares.
    result = compute_credit(tiered(), inputs(Fraction(97, 100) - TINY))
    assert "~97.000000% is not below 95%" in result.rule and "exactly" not in result.rule
    # the exact fraction appears once: in the availability step
    assert sum("(exactly 969999999999/10000000000 %)" in step for step in result.steps) == 1
    assert result.percent == 10  # 96.9999999999 % is below 97 %


def test_availability_in_the_steps_is_rounded_like_availability_percent() -> None:
    """19m45.877s down in 30 days: 100 - 1,185,877 / 25,920,000 = 99.954248572... %: both show 99.954249."""
    availability = 1 - Fraction(1_185_877, MONTH)
    result = compute_credit(tiered(), inputs(availability, downtime_ms=1_185_877))
    assert "availability ~99.954249% (exactly" in result.steps[1]
    assert percent(availability) == 99.954249


@settings(max_examples=300, deadline=None)
@given(availability=st.fractions(min_value=0, max_value=1, max_denominator=10**12))
def test_a_credit_step_shows_availability_as_availability_percent_does(availability: Fraction) -> None:
    step = compute_credit(tiered(), inputs(availability)).steps[1]
    shown = step.removeprefix("availability ").removeprefix("~").split("%")[0]
    reported = percent(availability)
    assert reported is not None and Decimal(shown) == Decimal(repr(reported))


@pytest.mark.parametrize(
    ("fee", "cap", "percent", "amount", "capped"),
    [
        ("1200.00", "50", "50", "600.00", True),  # 25 + 3 x 10 = 55 -> 50
        ("1200.00", "55", "55", "660.00", False),  # exactly at the cap: not capped
        ("1200.00", "60", "55", "660.00", False),
        ("1200.00", "0", "0", "0.00", True),
    ],
)
def test_cap(fee: str, cap: str, percent: str, amount: str, capped: bool) -> None:
    terms = tiered(fee, per_incident=PerIncident(4 * HOUR, D("10")), combine="sum", cap_percent=D(cap))
    result = compute_credit(terms, inputs(Fraction(90, 100), incidents=(5 * HOUR, 5 * HOUR, 5 * HOUR)))
    assert (result.percent, result.amount, result.capped) == (D(percent), D(amount), capped)


@pytest.mark.parametrize(
    ("fee", "amount", "paid"),
    [
        ("9.90", "0.99", False),
        ("10.00", "1.00", False),  # exactly the minimum: "paid only above" it
        ("10.10", "1.01", True),
        ("10.05", "1.01", True),  # 1.005 rounds half-up to 1.01, which is above 1.00
    ],
)
def test_minimum_payout_is_strictly_above(fee: str, amount: str, paid: bool) -> None:
    terms = CreditTerms(fee=D(fee), currency="USD", tiers=(Tier(D("99.99"), D("10")),), minimum_payout=D("1.00"))
    result = compute_credit(terms, inputs(Fraction(99, 100)))
    assert result.below_minimum is not paid
    assert result.amount == (D(amount) if paid else D("0.00"))
    assert result.percent == (10 if paid else 0)
    assert any(amount in step for step in result.steps)


@pytest.mark.parametrize(
    ("period_ms", "covered_ms", "prorate", "charged", "amount"),
    [
        (30 * DAY, 30 * DAY, True, "1200.00", "60.00"),
        (30 * DAY, 10 * DAY, True, "400.00", "20.00"),
        # 1200 x 10/31 = 387.0967.. -> 387.10; x 5 % = 19.355 -> 19.36 (half-up, from the rounded fee)
        (31 * DAY, 10 * DAY, True, "387.10", "19.36"),
        (31 * DAY, 10 * DAY, False, "1200.00", "60.00"),
        (30 * DAY, 0, True, "0.00", "0.00"),
    ],
)
def test_proration(period_ms: int, covered_ms: int, prorate: bool, charged: str, amount: str) -> None:
    result = compute_credit(
        tiered(prorate=prorate), inputs(Fraction(98, 100), period_ms=period_ms, covered_ms=covered_ms)
    )
    assert (result.charged_fee, result.amount) == (D(charged), D(amount))


@pytest.mark.parametrize(
    ("currency", "places", "fee", "percent", "amount"),
    [
        ("JPY", 0, "12345", 5, "617"),  # 617.25
        ("JPY", 0, "12345", 10, "1235"),  # 1234.5 -> half-up
        ("KWD", 3, "100.005", 10, "10.001"),  # 10.0005 -> half-up
        ("EUR", 2, "0.05", 10, "0.01"),  # 0.005 -> half-up
    ],
)
def test_rounding_to_the_minor_unit(currency: str, places: int, fee: str, percent: int, amount: str) -> None:
    assert currency_places(currency) == places
    terms = CreditTerms(fee=D(fee), currency=currency, tiers=(Tier(D(100), D(percent)),), rounding_places=places)
    result = compute_credit(terms, inputs(Fraction(1, 2)))
    assert str(result.amount) == amount


ALLOWANCE = 43 * MIN + 12_000  # 0.1 % of 30 days


@pytest.mark.parametrize(
    ("downtime_ms", "beyond", "percent"),
    [
        (0, True, 0),
        (ALLOWANCE, True, 0),
        (ALLOWANCE + 1, True, 5),  # one started unit
        (ALLOWANCE + 30 * MIN, True, 5),  # exactly one unit
        (ALLOWANCE + 30 * MIN + 1, True, 10),
        (ALLOWANCE + 10 * HOUR, True, 100),
        (1, False, 5),
        (30 * MIN, False, 5),
        (ALLOWANCE, False, 10),  # 43m12s: two started half hours
    ],
)
def test_per_unit_percent(downtime_ms: int, beyond: bool, percent: int) -> None:
    terms = CreditTerms(
        fee=D("1200.00"), currency="EUR", per_unit=PerUnit(30 * MIN, D("5"), None, beyond_allowance=beyond)
    )
    availability = 1 - Fraction(downtime_ms, MONTH)
    result = compute_credit(terms, inputs(availability, downtime_ms=downtime_ms, allowance_ms=ALLOWANCE))
    assert result.percent == percent
    assert result.amount == D(12) * percent


@pytest.mark.parametrize(
    ("downtime_ms", "covered_ms", "percent", "amount"),
    [
        (1, MONTH, D("6.9444444444"), "50.00"),  # 1 h of 720 h at 1.00/h, x 50
        (HOUR, MONTH, D("6.9444444444"), "50.00"),
        (90 * MIN, MONTH, D("13.8888888889"), "100.00"),  # 2 started hours
        (HOUR, 15 * DAY, D("13.8888888889"), "50.00"),  # prorated fee 360.00: same 50x the hourly charge
        (15 * HOUR, MONTH, D("104.1666666667"), "750.00"),  # no cap: more than the fee
    ],
)
def test_per_unit_multiplier(downtime_ms: int, covered_ms: int, percent: Decimal, amount: str) -> None:
    terms = CreditTerms(fee=D("720.00"), currency="EUR", per_unit=PerUnit(HOUR, None, D("50"), beyond_allowance=False))
    availability = 1 - Fraction(downtime_ms, covered_ms)
    result = compute_credit(terms, inputs(availability, downtime_ms=downtime_ms, covered_ms=covered_ms))
    assert (result.percent, str(result.amount)) == (percent, amount)


@pytest.mark.parametrize(
    ("fee", "every_ms", "multiplier", "downtime_ms", "exact", "amount"),
    [
        # UpCloud, October (44,640 min), fee 22.32, a 7-minute interruption: 22.32 x 50 x 7 / 44,640 = 0.175
        ("22.32", MIN, "50", 7 * MIN, Fraction(175, 1000), "0.18"),
        # DigitalOcean, October, fee 44.64, one lost 5-minute interval: 44.64 x 1 x 5 / 44,640 = 0.005
        ("44.64", 5 * MIN, "1", 5 * MIN, Fraction(5, 1000), "0.01"),
    ],
)
def test_multiplier_amount_is_the_exact_fraction_rounded_once(
    fee: str, every_ms: int, multiplier: str, downtime_ms: int, exact: Fraction, amount: str
) -> None:
    october = 31 * DAY
    terms = CreditTerms(fee=D(fee), currency="EUR", per_unit=PerUnit(every_ms, None, D(multiplier), False))
    result = compute_credit(terms, inputs(1 - Fraction(downtime_ms, october), downtime_ms=downtime_ms,
                                          period_ms=october))  # fmt: skip
    assert Fraction(result.charged_fee) * result.percent_exact / 100 == exact
    assert str(result.amount) == amount
    assert f"= {exact.numerator / exact.denominator} EUR = {amount} EUR (rounded half-up" in result.steps[-2]
    assert credit_json(result, provisional=False)["percent_exact"] == str(result.percent_exact)


def test_per_unit_multiplier_without_proration_uses_the_whole_cycle() -> None:
    terms = CreditTerms(fee=D("720.00"), currency="EUR", per_unit=PerUnit(HOUR, None, D("50"), False), prorate=False)
    result = compute_credit(terms, inputs(Fraction(1, 2), downtime_ms=HOUR, covered_ms=15 * DAY))
    assert (result.charged_fee, result.amount) == (D("720.00"), D("50.00"))


@pytest.mark.parametrize(
    ("incidents", "percent"),
    [
        ((), 0),
        ((4 * HOUR,), 0),  # exactly the limit is not longer than it
        ((4 * HOUR + 1,), 10),
        ((4 * HOUR + 1, 5 * HOUR, HOUR, 4 * HOUR), 20),
    ],
)
def test_per_incident(incidents: tuple[int, ...], percent: int) -> None:
    terms = CreditTerms(fee=D("1200.00"), currency="EUR", per_incident=PerIncident(4 * HOUR, D("10")))
    assert compute_credit(terms, inputs(Fraction(99, 100), incidents=incidents)).percent == percent


@pytest.mark.parametrize(("combine", "percent", "amount"), [("max", 15, "180.00"), ("sum", 30, "360.00")])
def test_sum_stacks_max_takes_the_largest(combine: str, percent: int, amount: str) -> None:
    terms = tiered(
        per_unit=PerUnit(30 * MIN, D("5"), None, beyond_allowance=False),
        per_incident=PerIncident(4 * HOUR, D("10")),
        combine=combine,
    )
    # 98 %: tier 5 %; 90 minutes down: 3 units x 5 % = 15 %; one incident over 4 h: 10 %
    result = compute_credit(terms, inputs(Fraction(98, 100), downtime_ms=90 * MIN, incidents=(5 * HOUR,)))
    assert (result.percent, str(result.amount)) == (D(percent), amount)
    assert [c.model for c in result.components] == ["tiers", "per_unit", "per_incident"]
    assert [c.percent for c in result.components] == [5, 15, 10]


def test_steps_and_json_carry_the_numbers() -> None:
    terms = tiered(cap_percent=D("50"), minimum_payout=D("1.00"))
    result = compute_credit(terms, inputs(Fraction(96, 100), period_ms=31 * DAY, covered_ms=10 * DAY))
    text = "\n".join(result.steps)
    for figure in ("1200.00 EUR", "387.10 EUR", "96%", "tier below 97% -> 10%", "38.71 EUR", "half-up"):
        assert figure in text
    data = credit_json(result, provisional=False)
    assert data["amount"] == "38.71"
    assert data["percent"] == "10"
    assert data["components"] == [{"model": "tiers", "percent": "10", "rule": result.components[0].rule}]


@pytest.mark.parametrize(
    "build",
    [
        lambda: PerUnit(HOUR, D("5"), D("2")),
        lambda: PerUnit(HOUR, None, None),
        lambda: PerUnit(0, D("5"), None),
        lambda: Tier(D("0"), D("5")),
        lambda: Tier(D("101"), D("5")),
        lambda: CreditTerms(D("-1"), "EUR"),
        lambda: CreditTerms(D("1"), "EUR", tiers=(Tier(D("99"), D("5")), Tier(D("99.0"), D("10")))),
        lambda: inputs(Fraction(3, 2)),
        lambda: inputs(Fraction(1), covered_ms=MONTH + 1),
        lambda: inputs(Fraction(1), downtime_ms=-1),
        lambda: inputs(Fraction(1), incidents=(-1,)),
    ],
)
def test_bad_terms_and_inputs_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


# --- properties --------------------------------------------------------------------------------------------------

percents = st.decimals(min_value=0, max_value=100, places=2)


@st.composite
def credit_terms(draw: st.DrawFn) -> CreditTerms:
    belows = draw(st.lists(st.decimals(min_value="0.01", max_value=100, places=3), max_size=4, unique=True))
    # A lower `below` pays at least as much as a higher one, as in every real schedule.
    credits = sorted(draw(st.lists(percents, min_size=len(belows), max_size=len(belows))), reverse=True)
    tiers = tuple(Tier(b, c) for b, c in zip(sorted(belows), credits, strict=True))
    per_unit = draw(
        st.none()
        | st.builds(
            PerUnit,
            every_ms=st.sampled_from([MIN, 5 * MIN, 30 * MIN, HOUR]),
            credit_percent=percents,
            multiplier=st.none(),
            beyond_allowance=st.booleans(),
        )
        | st.builds(
            PerUnit,
            every_ms=st.sampled_from([MIN, HOUR]),
            credit_percent=st.none(),
            multiplier=st.decimals(min_value="0.5", max_value=100, places=1),
            beyond_allowance=st.booleans(),
        )
    )
    return CreditTerms(
        fee=draw(st.decimals(min_value=0, max_value=10**6, places=2)),
        currency="EUR",
        tiers=tiers,
        per_unit=per_unit,
        per_incident=draw(st.none() | st.builds(PerIncident, st.just(HOUR), percents)),
        combine=draw(st.sampled_from(["sum", "max"])),
        cap_percent=draw(st.none() | percents),
        minimum_payout=draw(st.none() | st.decimals(min_value=0, max_value=50, places=2)),
        prorate=draw(st.booleans()),
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    terms=credit_terms(),
    counted_ms=st.integers(min_value=1, max_value=MONTH),
    downtimes=st.tuples(st.integers(0, MONTH), st.integers(0, MONTH)),
    allowance_ms=st.integers(0, 5 * HOUR),
    covered_ms=st.integers(1, MONTH),
)
def test_credit_never_decreases_as_availability_drops(
    terms: CreditTerms, counted_ms: int, downtimes: tuple[int, int], allowance_ms: int, covered_ms: int
) -> None:
    less, more = sorted(min(d, counted_ms) for d in downtimes)

    def credit(down_ms: int) -> Decimal:
        availability = Fraction(counted_ms - down_ms, counted_ms)
        data = CreditInputs(availability, down_ms, allowance_ms, (2 * HOUR,), MONTH, max(covered_ms, counted_ms))
        return compute_credit(terms, data).amount

    assert credit(more) >= credit(less)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    terms=credit_terms(),
    availability=st.none() | st.fractions(min_value=0, max_value=1, max_denominator=10**9),
    downtime_ms=st.integers(0, MONTH),
    incidents=st.lists(st.integers(0, 10 * HOUR), max_size=5),
    covered_ms=st.integers(0, MONTH),
)
def test_credit_is_bounded_and_is_fee_times_percent(
    terms: CreditTerms, availability: Fraction | None, downtime_ms: int, incidents: list[int], covered_ms: int
) -> None:
    data = CreditInputs(availability, downtime_ms, 0, tuple(incidents), MONTH, covered_ms)
    result = compute_credit(terms, data)
    assert result.amount >= 0 and result.percent >= 0
    if terms.cap_percent is not None:
        assert result.percent <= terms.cap_percent
    if availability is None:
        assert result.amount == 0
    # amount == charged fee x percent / 100, rounded half-up; the charged fee is the prorated fee, rounded
    share = Fraction(covered_ms, MONTH) if terms.prorate else Fraction(1)
    charged = math.floor(Fraction(terms.fee) * share * 100 + Fraction(1, 2))
    assert result.charged_fee == Decimal(charged) / 100
    # ... from the exact percent, rounded once (the shown percent is rounded to 10 places when it must be)
    expected = math.floor(Fraction(charged, 100) * result.percent_exact + Fraction(1, 2))
    assert result.amount == Decimal(expected) / 100
    assert abs(Fraction(result.percent) - result.percent_exact) <= Fraction(1, 2 * 10**10)
    if terms.minimum_payout is not None and result.amount > 0:
        assert result.amount > terms.minimum_payout
    assert result.amount.as_tuple().exponent == -2
