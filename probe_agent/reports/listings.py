"""The documents of the listing commands: ``credits`` (one row per SLA report) and ``exclusions list``.

Their views are in ``render/credits.py`` and ``render/exclusions.py``; the JSON output is these rows as they are.
"""

from __future__ import annotations

from probe_agent.model import iso
from probe_agent.reports.json_types import CreditRowJson, ExclusionRowJson, ReportDoc
from probe_agent.store.rows import Exclusion


def credit_rows(docs: list[ReportDoc]) -> list[CreditRowJson]:
    """The part of each report document that ``credits`` shows (its JSON output, one object per SLA); ``credit``
    is None when the SLA has no credit terms."""
    return [
        {
            "sla": d["sla"],
            "customer": d["customer"],
            "cycle": d["cycle"],
            "availability_percent": d["availability_percent"],
            "availability_exact": d["availability_exact"],
            "target_percent": d["target_percent"],
            "met": d["met"],
            "verdict": d.get("verdict"),
            "coverage_percent": d.get("coverage_percent"),
            "coverage_warnings": [w for w in d["warnings"] if w.startswith("coverage ") and "coverage_warning" in w],
            "credit": d.get("credit") or None,
            "claim_deadline": d["claim_deadline"],
            "closed": d.get("closed"),
        }
        for d in docs
    ]


def exclusion_rows(items: list[Exclusion]) -> list[ExclusionRowJson]:
    """The JSON document of ``exclusions list``: one object per exclusion; ``revoked`` is None while active."""
    return [
        {
            "id": e.id,
            "scope": f"{e.scope_kind}:{e.scope_id}",
            "kind": e.kind,
            "start": iso(e.start_ms),
            "end": iso(e.end_ms),
            "reason": e.reason,
            "author": e.author,
            "created": iso(e.created_ms),
            "revoked": None if e.revoked_ms is None else iso(e.revoked_ms),
            "revoked_by": e.revoked_by,
        }
        for e in items
    ]
