"""``import``'s summary: what was stored per (agent, endpoint), and the outages the fold found in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probe_agent.importing import ImportSummary
from probe_agent.model import iso
from probe_agent.render.table import format_table
from probe_agent.units import duration_text


def import_summary_json(summary: ImportSummary, path: Path) -> dict[str, Any]:
    """``import --format json``: the counts, each pair with its range and outages (times ISO 8601 UTC)."""
    return {
        "database": str(path),
        "read": summary.read,
        "imported": summary.imported,
        "skipped": summary.skipped,
        "errors": [],
        "pairs": [
            {
                "agent": p.agent,
                "endpoint": p.endpoint,
                "first": iso(p.first_ms),
                "last": iso(p.last_ms),
                "imported": p.imported,
                "skipped": p.skipped,
                "outages": [
                    {
                        "start": iso(o.start_ms),
                        "end": iso(o.end_ms),
                        "ongoing": o.ongoing,
                        "cause": o.cause,
                        "duration_s": (o.end_ms - o.start_ms) / 1000,
                    }
                    for o in p.outages
                ],
            }
            for p in summary.pairs
        ],
        "rollup_hours": summary.rollup_hours,
    }


def import_refused_json(headline: str, problems: list[tuple[int | None, str]]) -> dict[str, Any]:
    """``import --format json`` when nothing was stored: why, and every problem with its line (None: the file's)."""
    return {
        "imported": 0,
        "refused": headline,
        "errors": [{"line": line, "message": message} for line, message in problems],
    }


def import_summary_text(summary: ImportSummary, path: Path) -> str:
    """Counts, one table row per pair (its range of result times, new and skipped results, outages), one line per
    outage with its exact duration, and the rollup hours rebuilt."""
    lines = [
        f"imported {summary.imported} of {summary.read} results into {path} "
        f"({summary.skipped} identical duplicates or already stored, skipped)"
    ]
    rows = [
        (
            f"{p.agent}/{p.endpoint}",
            f"{iso(p.first_ms)} .. {iso(p.last_ms)}",
            p.imported,
            p.skipped,
            len(p.outages),
        )
        for p in summary.pairs
    ]
    lines += ["", format_table(["PAIR", "RANGE", "NEW", "SKIPPED", "OUTAGES"], rows, right=(2, 3, 4))]
    for p in summary.pairs:
        for o in p.outages:
            end = "ongoing at the end of the data" if o.ongoing else f"until {iso(o.end_ms)}"
            lines.append(
                f"  outage {p.agent}/{p.endpoint}: {iso(o.start_ms)} {end} "
                f"({duration_text(o.end_ms - o.start_ms, largest='w')}{', ' + o.cause if o.cause else ''})"
            )
    if summary.rollup_hours:
        lines.append(f"rollups rebuilt for {summary.rollup_hours} hour(s)")
    return "\n".join(lines)
