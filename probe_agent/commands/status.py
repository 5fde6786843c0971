"""``status``: the daemon's state and every endpoint's, read from the store."""

from __future__ import annotations

import json
from pathlib import Path

import click

from probe_agent.commands.common import emit, load
from probe_agent.commands.options import config_option, format_option, output_option
from probe_agent.commands.store import READING, open_store
from probe_agent.model import now_ms
from probe_agent.render.status import status_table


@click.command()
@config_option
@format_option("table", "json")
@output_option()
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
    conn = open_store(Path(loaded.config.agent.database), readonly=True, wording=READING)
    try:
        doc = build_status(conn, loaded.config, now_ms(), agent, live)
    finally:
        conn.close()
    emit(json.dumps(doc, indent=2) if fmt == "json" else status_table(doc), output)
