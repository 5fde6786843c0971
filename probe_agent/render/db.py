"""The ``db`` commands' texts: ``db check``'s report and ``db repair``'s plan and leftovers."""

from __future__ import annotations

from typing import Any

from probe_agent.model import iso
from probe_agent.render.table import format_table
from probe_agent.repair import RepairPlan, TimelineProblem

_INTEGRITY_SHOWN = 20  # PRAGMA integrity_check can list thousands of pages; the JSON keeps them all


def check_table(doc: dict[str, Any], known_version: int) -> str:
    """``db check``'s document as text: verdict, integrity messages (the first 20), schema version against the
    ``known_version`` of this probe-agent, sizes in bytes, row counts, and the timeline problems if any."""
    lines = [f"database {doc['path']}: {'ok' if doc['ok'] else 'NOT OK'}"]
    lines += [f"  integrity: {msg}" for msg in doc["integrity"][:_INTEGRITY_SHOWN]]
    if len(doc["integrity"]) > _INTEGRITY_SHOWN:
        lines.append(f"  ... and {len(doc['integrity']) - _INTEGRITY_SHOWN} more integrity messages")
    if "schema_version" in doc:
        lines += [
            f"schema version {doc['schema_version']} (this probe-agent: {known_version})",
            f"file {doc['file_bytes']} bytes, WAL {doc['wal_bytes']} bytes, {doc['page_count']} pages of "
            f"{doc['page_size']} bytes, {doc['freelist_count']} free",
            "",
            format_table(["TABLE", "ROWS"], sorted(doc["rows"].items()), right=(1,)),
        ]
    if doc.get("timeline"):
        lines += ["", f"timeline: {len(doc['timeline'])} problem(s); `probe-agent db repair` re-folds them:"]
        lines += [
            f"  {p['agent']}/{p['endpoint']}: {p['kind']}"
            + (f" from {p['from']} to {p['to']}" if p["from"] else "")
            + f" ({p['detail']})"
            for p in doc["timeline"]
        ]
    return "\n".join(lines)


def plan_text(plan: RepairPlan, *, dry_run: bool) -> str:
    """One line per pair: what is wrong, and what the re-fold writes (or would write)."""
    verb = "would re-fold" if dry_run else "re-folded"
    lines = []
    for p in plan.pairs:
        since = (
            "no raw results left"
            if p.first_result_ms is None
            else f"{p.results} raw results from {iso(p.first_result_ms)}"
        )
        lines.append(
            f"{p.agent}/{p.endpoint} ({', '.join(p.kinds)}): {verb} from {since}: {p.intervals_before} stored "
            f"interval(s) -> {len(p.intervals)} ({len(p.kept)} kept from before the first raw result)"
        )
    return "\n".join(lines)


def problems_left_text(left: list[TimelineProblem]) -> str:
    """The timelines still inconsistent after a repair, one indented line each, under a head line."""
    return "\n".join(
        ["still inconsistent after the repair:", *(f"  {p.agent}/{p.endpoint}: {p.kind} ({p.detail})" for p in left)]
    )
