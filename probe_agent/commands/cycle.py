"""``cycle close``: a billing cycle's final report and credit, stored as an immutable record.

The write is one short transaction, so this runs safely next to a live daemon.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, load, select_slas
from probe_agent.commands.options import config_option, cycle_option, format_option
from probe_agent.commands.store import RECORDS, open_store
from probe_agent.model import now_ms
from probe_agent.render.cycles import closed_cycle_line
from probe_agent.store.records import CycleAlreadyClosed


@click.group("cycle")
def cycle_group() -> None:
    """Close billing cycles: store the final report and credit as an immutable record."""


@cycle_group.command("close")
@click.option("--sla", "sla_id", required=True, help="SLA id.")
@cycle_option("The cycle that starts in this month (default: the last ended).")
@config_option
@format_option("table", "json")
def cycle_close(sla_id: str, cycle: str | None, config_path: Path | None, fmt: str) -> None:
    """Close a cycle that has ended. Later reports show the stored figures and warn if today's data differs.

    --format json prints the stored report document (as `report --format json` shows a closed cycle's)."""
    from probe_agent.reports.closing import CycleNotOver, close_cycle, cycle_to_close

    config = load(config_path).config
    (sla,) = select_slas(config, sla_id)
    now = now_ms()
    try:
        period = cycle_to_close(config, sla, now, cycle)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    conn = open_store(Path(config.agent.database), readonly=False, wording=RECORDS)
    try:
        doc = close_cycle(conn, config, sla, period, now)
    except CycleNotOver as exc:
        raise UsageProblem(str(exc)) from None
    except CycleAlreadyClosed:
        raise UsageProblem(f"cycle {period.label} of {sla.id} is already closed; closed cycles never change") from None
    finally:
        conn.close()
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(closed_cycle_line(sla.id, period.label, doc))
