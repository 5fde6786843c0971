"""The contract presets in probe_agent/contracts: they load, say where they come from, and pay what their source
says."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from probe_agent.config.loader import load_config
from probe_agent.config.sla_schema import Sla
from probe_agent.config.values import parse_duration_ms, parse_percent
from probe_agent.config.yamlsource import load_yaml
from probe_agent.sla.credits import (
    CreditInputs,
    CreditTerms,
    PerIncident,
    PerUnit,
    Tier,
    compute_credit,
    currency_places,
)

PRESETS = Path(__file__).resolve().parents[2] / "probe_agent" / "contracts"
NAMES = sorted(p.stem for p in PRESETS.glob("*.yaml"))
MIN = 60_000
HOUR = 3_600_000
MONTH = 30 * 86_400_000
TINY = Fraction(1, 10**12)


def load(name: str) -> dict[str, Any]:
    path = PRESETS / f"{name}.yaml"
    data, _, problems = load_yaml(path.read_text(encoding="utf-8"), str(path))
    assert not problems, problems
    assert isinstance(data, dict)
    return data


def header_of(name: str) -> str:
    """The comment lines at the top of a preset, joined into one line."""
    lines = (PRESETS / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    head = [line.removeprefix("#").strip() for line in lines[: next(i for i, x in enumerate(lines) if x[:1] != "#")]]
    return " ".join(head)


def terms_of(preset: dict[str, Any], fee: str) -> CreditTerms:
    """CreditTerms from a preset's raw YAML (percent strings such as "99.99%" -> Decimal("99.99"))."""
    credits = preset["credits"]
    unit = credits.get("per_unit")
    incident = credits.get("per_incident")
    currency = credits.get("currency", "EUR")
    return CreditTerms(
        fee=Decimal(fee),
        currency=currency,
        tiers=tuple(Tier(parse_percent(t["below"]), parse_percent(t["credit"])) for t in credits.get("tiers", ())),
        per_unit=None
        if unit is None
        else PerUnit(
            every_ms=parse_duration_ms(unit["every"]),
            credit_percent=None if "credit" not in unit else parse_percent(unit["credit"]),
            multiplier=None if "multiplier" not in unit else Decimal(str(unit["multiplier"])),
            beyond_allowance=unit.get("beyond_allowance", True),
        ),
        per_incident=None
        if incident is None
        else PerIncident(parse_duration_ms(incident["longer_than"]), parse_percent(incident["credit"])),
        combine=credits.get("combine", "max"),
        cap_percent=None if "cap" not in credits else parse_percent(credits["cap"]),
        minimum_payout=None if "minimum_payout" not in credits else Decimal(credits["minimum_payout"]),
        rounding_places=currency_places(currency),
        prorate=credits.get("proration", True),
    )


def credit_at(terms: CreditTerms, availability: Fraction, downtime_ms: int = 0) -> Decimal:
    inputs = CreditInputs(availability, downtime_ms, 0, (), MONTH, MONTH)
    return compute_credit(terms, inputs).percent


def test_the_six_presets_exist() -> None:
    assert NAMES == [
        "aws-ec2-instance",
        "aws-ec2-region",
        "azure-virtual-machines",
        "digitalocean-droplets",
        "google-compute-engine",
        "upcloud",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_preset_loads_names_its_source_and_validates_as_an_sla(name: str) -> None:
    header = header_of(name)
    assert "Source:" in header
    assert "check the terms of your own contract" in header
    preset = load(name)
    assert set(preset["source"]) == {"url", "version", "verified"}
    assert preset["source"]["version"]
    assert preset["notes"]
    assert "fee" not in preset["credits"]  # the fee is the user's
    sla = Sla.model_validate({**preset, "id": "s", "endpoints": ["e"]})
    assert sla.credits is not None and sla.source is not None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("aws-ec2-instance", ["unverified"]),
        ("google-compute-engine", ["current table unverified"]),
        ("digitalocean-droplets", ["disagree", "docs"]),
        ("upcloud", ["unverified"]),
    ],
)
def test_doubtful_sources_say_so(name: str, words: list[str]) -> None:
    preset = load(name)
    assert preset["source"]["verified"] is False
    header = header_of(name).lower()
    for word in words:
        assert word in preset["source"]["version"]
        assert word in header or word in preset["notes"].lower()


@pytest.mark.parametrize("name", [n for n in NAMES if load(n)["credits"].get("tiers")])
def test_tiers_are_sorted_and_pay_at_their_boundaries(name: str) -> None:
    tiers = load(name)["credits"]["tiers"]
    belows = [parse_percent(t["below"]) for t in tiers]
    assert belows == sorted(belows, reverse=True)
    terms = terms_of(load(name), "1000.00")
    paid_above = Decimal(0)  # what the next higher tier pays: exactly at a boundary is not below it
    for tier in tiers:
        below = Fraction(parse_percent(tier["below"])) / 100
        assert credit_at(terms, below) == paid_above
        assert credit_at(terms, below - TINY) == parse_percent(tier["credit"])
        paid_above = parse_percent(tier["credit"])


@pytest.mark.parametrize(
    ("name", "table"),
    [
        (
            "aws-ec2-region",
            [("100", 0), ("99.99", 0), ("99.98", 10), ("99", 10), ("98.99", 30), ("95", 30), ("94", 100)],
        ),
        ("aws-ec2-instance", [("99.5", 0), ("99.49", 10), ("99", 10), ("98.9", 30), ("95", 30), ("94.99", 100)]),
        ("google-compute-engine", [("99.99", 0), ("99.985", 10), ("99", 10), ("98", 25), ("95", 25), ("90", 50)]),
        ("azure-virtual-machines", [("99.99", 0), ("99.9", 10), ("99", 10), ("97", 25), ("95", 25), ("0", 100)]),
    ],
)
def test_tier_presets_hand_table(name: str, table: list[tuple[str, int]]) -> None:
    terms = terms_of(load(name), "1000.00")
    for availability, percent in table:
        assert credit_at(terms, Fraction(availability) / 100) == percent, availability


def test_aws_region_pays_only_above_one_dollar() -> None:
    preset = load("aws-ec2-region")
    assert preset["credits"]["claim_window"] == {"cycles": 2}
    below_target = Fraction(9995, 10000)  # 10 %
    at_minimum = CreditInputs(below_target, 0, 0, (), MONTH, MONTH)
    result = compute_credit(terms_of(preset, "10.00"), at_minimum)
    assert (result.amount, result.currency, result.below_minimum) == (Decimal("0.00"), "USD", True)
    assert compute_credit(terms_of(preset, "10.10"), at_minimum).amount == Decimal("1.01")


def test_digitalocean_pays_the_lost_time_at_the_prorated_rate() -> None:
    terms = terms_of(load("digitalocean-droplets"), "432.00")  # 432.00 per 30 days = 0.05 per 5 minutes
    down = 2 * 5 * MIN
    inputs = CreditInputs(1 - Fraction(2, 8640), down, 0, (), MONTH, MONTH)
    result = compute_credit(terms, inputs)
    assert result.percent == Decimal("0.0231481481")
    assert result.amount == Decimal("0.10")
    # The other stored version, as the notes tell users to override it: 100 % below 99.99 %.
    other = CreditTerms(Decimal("432.00"), "EUR", tiers=(Tier(Decimal("99.99"), Decimal("100")),))
    assert compute_credit(other, inputs).amount == Decimal("432.00")


def test_upcloud_pays_fifty_times_the_charge_and_caps_at_the_fee() -> None:
    terms = terms_of(load("upcloud"), "720.00")  # 720.00 per 30 days = 1.00 per hour of charges
    six_minutes = CreditInputs(1 - Fraction(6, 43200), 6 * MIN, 0, (6 * MIN,), MONTH, MONTH)
    assert compute_credit(terms, six_minutes).amount == Decimal("5.00")  # 6 min = 0.10 of charges, x 50
    long = CreditInputs(1 - Fraction(15, 720), 15 * HOUR, 0, (15 * HOUR,), MONTH, MONTH)
    result = compute_credit(terms, long)
    assert (result.amount, result.capped) == (Decimal("720.00"), True)
    assert load("upcloud")["counting"] == {"method": "slices", "unit": "1m", "partial": "count", "min_run": 6}


def test_a_config_builds_on_a_preset_and_overrides_it(tmp_path: Path) -> None:
    """Through the real loader: `use:` a preset file, give the fee, replace DigitalOcean's credit model."""
    preset = PRESETS / "digitalocean-droplets.yaml"
    config = tmp_path / "probe-agent.yaml"
    config.write_text(
        "endpoints:\n"
        "  - {id: web, http: 'https://www.example.com/'}\n"
        "slas:\n"
        f"  - {{id: do, use: '{preset}', endpoints: [web],\n"
        "     credits: {fee: '432.00', currency: USD, per_unit: null, tiers: [{below: 99.99%, credit: 100%}]}}\n",
        encoding="utf-8",
    )
    sla = load_config(config).config.slas[0]
    assert sla.target == Decimal("99.99")
    assert sla.credits is not None
    assert (sla.credits.fee, sla.credits.currency, sla.credits.per_unit) == (Decimal("432.00"), "USD", None)
    assert [(t.below, t.credit) for t in sla.credits.tiers] == [(Decimal("99.99"), Decimal("100"))]
    assert sla.credits.claim_window is not None  # kept from the preset
    assert sla.counting.unit == 5 * MIN
