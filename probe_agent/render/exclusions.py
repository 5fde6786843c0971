"""``exclusions list``'s views: one row per exclusion, times in ISO 8601 UTC."""

from __future__ import annotations

from typing import Any

from probe_agent.model import iso
from probe_agent.render.csvout import to_csv
from probe_agent.render.table import format_table
from probe_agent.store.rows import Exclusion

# The columns when there is no row to take them from (an empty CSV still has its header line).
_EMPTY_HEADERS = ["id", "scope", "kind", "start", "end", "reason", "author", "created"]


def exclusion_rows(items: list[Exclusion]) -> list[dict[str, Any]]:
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


def _headers(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else _EMPTY_HEADERS


def exclusions_csv(rows: list[dict[str, Any]]) -> str:
    return to_csv(_headers(rows), [list(r.values()) for r in rows])


def exclusions_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no exclusions"
    return format_table([h.upper() for h in _headers(rows)], [list(r.values()) for r in rows])
