"""``exclusions list``'s views: one row per exclusion, times in ISO 8601 UTC."""

from __future__ import annotations

from probe_agent.render.csvout import to_csv
from probe_agent.render.table import format_table
from probe_agent.reports.json_types import ExclusionRowJson

# The columns when there is no row to take them from (an empty CSV still has its header line).
_EMPTY_HEADERS = ["id", "scope", "kind", "start", "end", "reason", "author", "created"]


def _headers(rows: list[ExclusionRowJson]) -> list[str]:
    return list(rows[0]) if rows else _EMPTY_HEADERS


def exclusions_csv(rows: list[ExclusionRowJson]) -> str:
    return to_csv(_headers(rows), [list(r.values()) for r in rows])


def exclusions_table(rows: list[ExclusionRowJson]) -> str:
    if not rows:
        return "no exclusions"
    return format_table([h.upper() for h in _headers(rows)], [list(r.values()) for r in rows])
