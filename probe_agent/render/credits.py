"""``credits``' views: one row per SLA report with its credit, and every step of each credit's computation."""

from __future__ import annotations

from typing import Any

from probe_agent.render.csvout import to_csv
from probe_agent.render.markdown import md_table
from probe_agent.render.table import format_table
from probe_agent.reports.json_types import CreditRowJson
from probe_agent.units import pct

_HEADERS = ["SLA", "CYCLE", "AVAILABILITY", "COVERAGE", "TARGET", "CREDIT", "AMOUNT", "STANDING", "RULE", "CLAIM BY"]


def _cells(rows: list[CreditRowJson]) -> list[tuple[Any, ...]]:
    return [_cell_row(r) for r in rows]


def _cell_row(r: CreditRowJson) -> tuple[Any, ...]:
    c = r["credit"]
    return (
        r["sla"],
        r["cycle"]["label"],
        pct(r["availability_percent"]),
        pct(r.get("coverage_percent"), 2, missing="-") + (" LOW" if r.get("coverage_warnings") else ""),
        pct(r["target_percent"], 3),
        "-" if c is None else f"{c['percent']}%",
        "no credit terms" if c is None else f"{c['amount']} {c['currency']}",
        _standing(r),
        "-" if c is None else c["rule"],
        r["claim_deadline"] or "-",
    )


def _standing(r: CreditRowJson) -> str:
    """Whether the figure can still change: ``PROVISIONAL`` while the cycle runs, ``closed`` once stored by
    ``cycle close`` (immutable), ``final`` for a finished cycle not closed yet."""
    c = r["credit"]
    if c is None:
        return "-"
    if c.get("provisional"):  # a credit stored by an older version has no "provisional"
        return "PROVISIONAL"
    return "closed" if r.get("closed") else "final"


def credits_csv(rows: list[CreditRowJson]) -> str:
    return to_csv(_HEADERS, _cells(rows))


def credits_markdown(rows: list[CreditRowJson]) -> str:
    """The table, then each credit's steps as a numbered list under the SLA's heading."""
    steps = "\n\n".join(
        f"### {r['sla']}\n\n" + "\n".join(f"1. {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
    )
    return md_table(_HEADERS, _cells(rows)) + ("\n\n" + steps if steps else "") + "\n"


def credits_table(rows: list[CreditRowJson]) -> str:
    """The table, then each credit's steps, indented under the SLA's id."""
    steps = "\n\n".join(
        f"{r['sla']}:\n" + "\n".join(f"  {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
    )
    low = "\n".join(f"  - {r['sla']}: {w}" for r in rows for w in r.get("coverage_warnings", []))
    return (
        format_table(_HEADERS, _cells(rows))
        + ("\n\n" + steps if steps else "")
        + (f"\n\nCoverage warnings:\n{low}" if low else "")
    )
