"""Credits through the CLI: multiplier amounts rounded once, and no credit for a window that is not a cycle.

Synthetic months (see ``tests/months.py``): hourly up results cover the whole month, and the minutes of an outage
are given one by one, so every figure below is counted by hand from the contract's arithmetic.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.months import every, import_rows, rows_for, run, utc, write_config

OCTOBER = (utc(2026, 10, 1), utc(2026, 11, 1))  # 31 days = 44,640 minutes
NOVEMBER = (utc(2026, 11, 1), utc(2026, 12, 1))  # 30 days = 720 hours


def outage(start: tuple[int, ...], minutes: int) -> list[tuple[object, str]]:
    """Down results every minute from ``start`` for ``minutes``, then the up result that ends the outage."""
    first = utc(*start)
    downs = [(first + timedelta(minutes=m), "down") for m in range(minutes)]
    return [*downs, (first + timedelta(minutes=minutes), "up")]


@pytest.mark.parametrize(
    ("preset", "fee", "minutes", "units", "exact", "amount"),
    [
        # 7 down minutes = 7 touched 1-minute slices (a run of 6+): 22.32 x 50 x 7 / 44,640 = 0.175 exactly.
        ("upcloud", "22.32", 7, 7, "0.175", "0.18"),
        # 10:00-10:05 is one whole 5-minute interval: 44.64 x 1 x 5 / 44,640 = 0.005 exactly.
        ("digitalocean-droplets", "44.64", 5, 1, "0.005", "0.01"),
    ],
)
def test_multiplier_credit_is_the_exact_amount_rounded_once(
    tmp_path: Path, preset: str, fee: str, minutes: int, units: int, exact: str, amount: str
) -> None:
    cfg = write_config(tmp_path, f'- {{id: gold, use: {preset}, services: [shop], credits: {{fee: "{fee}"}}}}')
    import_rows(tmp_path, cfg, rows_for(every(*OCTOBER, timedelta(hours=1)), outage((2026, 10, 10, 10, 0), minutes)))
    doc = run(cfg, "credits", "--sla", "gold", "--cycle", "2026-10", "--format", "json")
    credit = doc["credit"]
    assert credit["charged_fee"] == fee
    assert f"{units} started unit(s)" in credit["rule"]
    assert credit["amount"] == amount  # before: 0.17 and 0.00, from a percent rounded to 10 places first
    assert f"= {exact} EUR = {amount} EUR (rounded half-up to 2 decimal places)" in "\n".join(credit["steps"])


def gold(extra: str = "") -> str:
    return f"""
        - id: gold
          services: [shop]
          target: 99.9%
          cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
          credits:
            fee: "1200.00"
            tiers:
              - {{below: 99.9%, credit: 5%}}
              - {{below: 97%, credit: 10%}}
              - {{below: 95%, credit: 25%}}
            claim_window: 60d
        {extra}"""


@pytest.fixture
def november(tmp_path: Path) -> Path:
    """November with one 2-hour outage, Nov 3 10:00-12:00 (the rest up, hourly results)."""
    cfg = write_config(tmp_path, gold())
    down = [(utc(2026, 11, 3, 10), "down"), (utc(2026, 11, 3, 11), "down"), (utc(2026, 11, 3, 12), "up")]
    import_rows(tmp_path, cfg, rows_for(every(*NOVEMBER, timedelta(hours=1)), down))
    return cfg


def test_a_week_gets_availability_and_says_why_there_is_no_credit(november: Path) -> None:
    doc = run(november, "report", "--sla", "gold", "--from", "2026-11-02", "--to", "2026-11-09", "--format", "json")
    # 2 h down of 168 h: 166/168 = 98.809524 % (below 99.9 %, not below 97 %), but a week is not a billing cycle.
    assert doc["availability_exact"] == "83/84"
    assert doc["availability_percent"] == 98.809524
    assert doc["credit"] is None  # before: 5 % of the whole cycle's fee, 60.00 EUR, not provisional
    assert doc["claim_deadline"] is None
    reason = doc["no_credit_reason"]
    assert "is not a billing cycle of SLA gold" in reason
    assert "2026-11-01T00:00:00+00:00 to 2026-12-01T00:00:00+00:00" in reason
    assert "--cycle 2026-11" in reason
    for fmt in ("table", "markdown", "html"):
        assert "is not a billing cycle of SLA gold" in run(
            november, "report", "--sla", "gold", "--from", "2026-11-02", "--to", "2026-11-09", "--format", fmt
        )


def test_a_window_that_is_exactly_the_cycle_gets_the_cycles_credit(november: Path) -> None:
    # 2 h down of 720 h: 718/720 = 99.722222 %: the 5 % tier, 60.00 EUR, claim within 60 days of Dec 1.
    by_cycle = run(november, "report", "--sla", "gold", "--cycle", "2026-11", "--format", "json")
    by_window = run(november, "report", "--sla", "gold", "--from", "2026-11-01", "--to", "2026-12-01",
                    "--format", "json")  # fmt: skip
    for doc in (by_cycle, by_window):
        assert doc["availability_exact"] == "359/360"
        assert (doc["credit"]["percent"], doc["credit"]["amount"]) == ("5", "60.00")
        assert doc["credit"]["provisional"] is False
        assert doc["claim_deadline"] == "2027-01-30T00:00:00+00:00"
        assert doc["no_credit_reason"] is None


def test_an_sla_without_a_fee_says_so(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "- {id: gold, services: [shop], target: 99.9%}")
    import_rows(tmp_path, cfg, rows_for(every(*NOVEMBER, timedelta(hours=1)), []))
    doc = run(cfg, "report", "--sla", "gold", "--cycle", "2026-11", "--format", "json")
    assert doc["credit"] is None
    assert doc["no_credit_reason"] == "no credit: the SLA states no credit terms (credits.fee)"
