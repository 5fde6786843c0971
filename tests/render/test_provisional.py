"""A credit for a cycle still running is marked provisional in every view, not only in HTML: the report's text and
Markdown summary say so first, and ``credits`` has a STANDING column (PROVISIONAL, final, closed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from probe_agent.render.credits import credits_csv, credits_markdown, credits_table
from probe_agent.reports.json_types import CreditRowJson

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def row(provisional: bool, closed: bool = False) -> CreditRowJson:
    credit = {"percent": "10", "amount": "115.54", "currency": "EUR", "rule": "tier below 99.9% -> 10%",
              "steps": ["availability 99.5%"], "provisional": provisional}  # fmt: skip
    doc: dict[str, Any] = {
        "sla": "gold", "customer": None, "cycle": {"label": "2026-12"}, "availability_percent": 99.5,
        "availability_exact": "199/200", "target_percent": 99.9, "met": False, "credit": credit,
        "coverage_percent": 99.5, "coverage_warnings": [],
        "claim_deadline": "2027-02-28", "closed": {"closed_at": "x"} if closed else None,
    }  # fmt: skip
    return cast(CreditRowJson, doc)


def test_the_standing_column_in_every_format() -> None:
    rows = [row(True), row(False), row(False, closed=True)]
    table = credits_table(rows).splitlines()
    assert "STANDING" in table[0]
    assert [line.split()[8] for line in table[2:5]] == ["PROVISIONAL", "final", "closed"]
    assert credits_csv(rows).splitlines()[1].split(",")[7] == "PROVISIONAL"
    assert "| PROVISIONAL |" in credits_markdown(rows)


def test_the_report_summary_says_provisional_first() -> None:
    from probe_agent.render.report import summary_rows

    # the golden documents (tests/test_report_golden.py): September 2026 as of Sep 20 (running) and of Oct 5 (done)
    running = json.loads((GOLDEN / "gold-running.json").read_text())
    done = json.loads((GOLDEN / "gold-done.json").read_text())
    assert running["credit"]["provisional"] is True and done["credit"]["provisional"] is False
    assert dict(summary_rows(running))["Credit"].startswith("PROVISIONAL (the cycle is not over): 10% = 9.97 EUR (")
    assert not dict(summary_rows(done))["Credit"].startswith("PROVISIONAL")
