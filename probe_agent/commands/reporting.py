"""``status`` (and, with the SLA engine, ``report``, ``incidents``, ``credits``): read-only views of the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, config_option, emit, format_option, load, output_option
from probe_agent.config.document import Config
from probe_agent.model import now_ms
from probe_agent.render.table import format_table
from probe_agent.reports.json_types import StatusDoc, StoreStateJson
from probe_agent.store.schema import DatabaseMissing, SchemaOutdated, SchemaTooNew, open_db
from probe_agent.units import dur, pct


def open_reader(config: Config, database: Path | None = None) -> sqlite3.Connection:
    """The database, read-only, or exit 2 with what to do."""
    path = database or Path(config.agent.database)
    try:
        return open_db(path, readonly=True)
    except DatabaseMissing:
        raise UsageProblem(f"no database at {path} yet: start the agent (probe-agent run) or import results") from None
    except SchemaTooNew as exc:
        raise UsageProblem(f"{path}: {exc} (upgrade probe-agent to read it)") from None
    except SchemaOutdated:
        raise UsageProblem(f"{path} needs a schema upgrade: start the agent once (probe-agent run)") from None


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
    d = doc["daemon"]
    if d["running"]:
        pid = f"pid {d['pid']}, " if d.get("pid") else ""
        head = f"agent {doc['agent']}: running ({pid}run {d['run_id']}, last heartbeat {d['last_heartbeat']})"
        head += _store_line(d.get("store"))
    elif d["run_id"] is None:
        head = f"agent {doc['agent']}: has never run on this database"
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
                pct(e["last_30d"]["coverage_percent"], 1, missing="-"),
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
                "n/a" if s["met"] is None else ("yes" if s["met"] else "NO"),
                f"{dur(s['budget_remaining_s'])} of {dur(s['budget_allowed_s'])}" if s["budget_allowed_s"] else "-",
                pct(s["projected_availability_percent"], 4, missing="-"),
            )
            for s in doc["slas"]
        ]
        parts.append(
            format_table(
                ["SLA", "CYCLE", "AVAILABILITY", "TARGET", "MET", "BUDGET LEFT", "PROJECTED"], sla_rows, right=(2, 3)
            )
        )
    if doc.get("warnings"):
        parts.append("Warnings:\n" + "\n".join(f"  - {w}" for w in doc["warnings"]))
    return "\n\n".join(parts)


@click.command()
@config_option
@format_option("table", "json")
@output_option
@click.option("--agent", default=None, help="Vantage point to show (default: this config's agent.id).")
def status(config_path: Path | None, fmt: str, output: Path | None, agent: str | None) -> None:
    """Current state of every endpoint, since when, its last result, and availability over 24 h and 30 days.

    Reads the database only, so it works while the agent runs and after it stopped. Availability here excludes
    unknown and no_data time and counts degraded as up; SLA reports apply each contract's own rules.
    """
    from probe_agent.agent.runlock import holder
    from probe_agent.agent.storehealth import read_note
    from probe_agent.reports.status import Holder, build_status

    loaded = load(config_path)
    agent_id = agent or loaded.config.agent.id
    # Before the database: a live daemon on this host holds its lock even when its heartbeat cannot be stored.
    held = holder(Path(loaded.config.agent.database), agent_id)
    live = None if held is None else Holder(held.pid, read_note(held.note))
    conn = open_reader(loaded.config)
    try:
        doc = build_status(conn, loaded.config, now_ms(), agent, live)
    finally:
        conn.close()
    emit(json.dumps(doc, indent=2) if fmt == "json" else status_table(doc), output)
