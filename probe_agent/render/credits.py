"""``credits``' views: one row per SLA report with its credit, and every step of each credit's computation."""

from __future__ import annotations

from typing import Any

from probe_agent.render.csvout import to_csv
from probe_agent.render.markdown import md_table
from probe_agent.render.table import format_table
from probe_agent.reports.json_types import ReportDoc
from probe_agent.units import pct

_HEADERS = ["SLA", "CYCLE", "AVAILABILITY", "TARGET", "CREDIT %", "AMOUNT", "RULE", "CLAIM BY"]


def credit_rows(docs: list[ReportDoc]) -> list[dict[str, Any]]:
    """The part of each report document that ``credits`` shows (its JSON output, one object per SLA); ``credit``
    is None when the SLA has no credit terms."""
    rows = []
    for d in docs:
        rows.append(
            {
                "sla": d["sla"],
                "customer": d["customer"],
                "cycle": d["cycle"],
                "availability_percent": d["availability_percent"],
                "availability_exact": d["availability_exact"],
                "target_percent": d["target_percent"],
                "met": d["met"],
                "credit": d.get("credit") or None,
                "claim_deadline": d["claim_deadline"],
                "closed": d.get("closed"),
            }
        )
    return rows


def _cells(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            r["sla"],
            r["cycle"]["label"],
            pct(r["availability_percent"]),
            pct(r["target_percent"], 3),
            (r["credit"] or {}).get("percent", "-"),
            f"{r['credit']['amount']} {r['credit']['currency']}" if r["credit"] else "no credit terms",
            (r["credit"] or {}).get("rule", "-") + (" (provisional)" if (r["credit"] or {}).get("provisional") else ""),
            r["claim_deadline"] or "-",
        )
        for r in rows
    ]


def credits_csv(rows: list[dict[str, Any]]) -> str:
    return to_csv(_HEADERS, _cells(rows))


def credits_markdown(rows: list[dict[str, Any]]) -> str:
    """The table, then each credit's steps as a numbered list under the SLA's heading."""
    steps = "\n\n".join(
        f"### {r['sla']}\n\n" + "\n".join(f"1. {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
    )
    return md_table(_HEADERS, _cells(rows)) + ("\n\n" + steps if steps else "") + "\n"


def credits_table(rows: list[dict[str, Any]]) -> str:
    """The table, then each credit's steps, indented under the SLA's id."""
    steps = "\n\n".join(
        f"{r['sla']}:\n" + "\n".join(f"  {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
    )
    return format_table(_HEADERS, _cells(rows)) + ("\n\n" + steps if steps else "")
