"""``check``: probe now and print the verdicts."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from probe_agent.agent.probe_now import probe_now
from probe_agent.commands.common import UsageProblem, load
from probe_agent.commands.options import config_option, format_option
from probe_agent.model import Outcome
from probe_agent.render.check import results_table

EXIT_DOWN = 1
EXIT_UNKNOWN = 3


@click.command()
@click.argument("endpoint_ids", nargs=-1, metavar="[ENDPOINT_ID]...")
@config_option
@format_option("table", "json")
def check(endpoint_ids: tuple[str, ...], config_path: Path | None, fmt: str) -> None:
    """Probe endpoints once, now, and print one row per endpoint.

    Probes every configured endpoint, or only the ENDPOINT_IDs given. A failed target is checked against the
    agent's controls: if they fail too, the result is 'unknown' (the agent's own network), not 'down'.

    Exit status: 0 all up or degraded; 1 any down; 3 none down but some unknown; 2 bad config or unknown id.
    """
    loaded = load(config_path)
    config = loaded.config
    by_id = {ep.id: ep for ep in (*config.endpoints, *config.controls)}
    missing = [i for i in endpoint_ids if i not in by_id]
    if missing:
        raise UsageProblem(f"unknown endpoint id(s): {', '.join(missing)} (configured: {', '.join(by_id) or 'none'})")
    selected = [by_id[i] for i in endpoint_ids] if endpoint_ids else list(config.endpoints)
    if not selected:
        raise UsageProblem("no endpoints configured: add some under `endpoints:`")
    results = asyncio.run(probe_now(config, selected))
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        click.echo(results_table(results))
    outcomes = {r.outcome for r in results}
    if Outcome.DOWN in outcomes:
        sys.exit(EXIT_DOWN)
    if Outcome.UNKNOWN in outcomes:
        sys.exit(EXIT_UNKNOWN)
