"""``status``'s text: the daemon's state line, one row per endpoint, one per SLA, and the warnings."""

from __future__ import annotations

from probe_agent.render.table import format_table
from probe_agent.render.verdicts import verdict_cell
from probe_agent.reports.json_types import StatusDoc, StoreStateJson
from probe_agent.units import dur, pct


def _store_line(store: StoreStateJson | None) -> str:
    """The daemon's store health under the status head line ("" when all is well or unknown)."""
    if not store or store["ok"] is not False:
        return ""
    waiting = store["results_waiting"]
    line = f"\nSTORE TROUBLE since {store['since']}: {store['problem']}; {waiting} results waiting in memory"
    if store["probing_paused"]:
        line += f"; probing PAUSED (queue full at {store['queue_limit']}), that time is no_data"
    return line + f" (noted {store['noted_at']})"


def status_table(doc: StatusDoc) -> str:
    """The status document (``reports.status.build_status``) as text: availability and coverage as percents
    (``-`` where nothing was measured), budgets as durations."""
    d = doc["daemon"]
    if d["running"]:
        pid = f"pid {d['pid']}, " if d.get("pid") else ""
        head = f"agent {doc['agent']}: running ({pid}run {d['run_id']}, last heartbeat {d['last_heartbeat']})"
        head += _store_line(d.get("store"))
    elif d["run_id"] is None:
        head = f"agent {doc['agent']}: not running (it has never run on this database)"
    else:
        how = "cleanly" if d["clean_stop"] else "UNCLEANLY (crash: its time after the last heartbeat is no_data)"
        head = f"agent {doc['agent']}: not running; run {d['run_id']} stopped {how} at {d['stopped']}"
    rows = []
    for e in doc["endpoints"]:
        r = e["last_result"]
        last = "-"
        if r is not None:
            latency = "" if r["latency_ms"] is None else f" {r['latency_ms']:.0f}ms"
            last = f"{r['outcome']}{latency}" + (f" {r['error_kind']}" if r["error_kind"] else "") + f" at {r['ts']}"
        rows.append(
            (
                e["endpoint"],
                e["state"],
                e["since"] or "-",
                pct(e["last_24h"]["availability_percent"], 3, missing="-"),
                pct(e["last_30d"]["availability_percent"], 3, missing="-"),
                pct(e["last_30d"]["coverage_percent"], 2, missing="-"),
                last,
            )
        )
    table = format_table(
        ["ENDPOINT", "STATE", "SINCE", "24H", "30D", "COVERAGE 30D", "LAST RESULT"], rows, right=(3, 4, 5)
    )
    parts = [head, table]
    if doc.get("slas"):
        sla_rows = [
            (
                s["sla"],
                s["cycle"],
                pct(s["availability_percent"], 4, missing="-"),
                pct(s["target_percent"], 3, missing="-"),
                verdict_cell(s.get("verdict")),
                pct(s["coverage_percent"], 2, missing="-") + (" LOW" if s.get("warnings") else ""),
                f"{dur(s['budget_remaining_s'])} of {dur(s['budget_allowed_s'])}" if s["budget_allowed_s"] else "-",
                pct(s["projected_availability_percent"], 4, missing="-"),
            )
            for s in doc["slas"]
        ]
        parts.append(
            format_table(
                ["SLA", "CYCLE", "AVAILABILITY", "TARGET", "VERDICT", "COVERAGE", "BUDGET LEFT", "PROJECTED"],
                sla_rows,
                right=(2, 3, 5),
            )
        )
        low = [f"{s['sla']}: {w}" for s in doc["slas"] for w in s.get("warnings", [])]
        if low:
            parts.append("SLA warnings:\n" + "\n".join(f"  - {w}" for w in low))
    if doc.get("warnings"):
        parts.append("Warnings:\n" + "\n".join(f"  - {w}" for w in doc["warnings"]))
    return "\n\n".join(parts)
