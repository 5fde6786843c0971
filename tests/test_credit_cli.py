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
