"""``check``: probe now and print the verdicts."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import click

from probe_agent.agent.probe_now import probe_now
from probe_agent.commands.common import UsageProblem, load
from probe_agent.commands.options import config_option, format_option
from probe_agent.config import ConfigError, load_config
from probe_agent.config.document import Config
from probe_agent.config.schema import Endpoint
from probe_agent.model import Outcome
from probe_agent.render.check import UNKNOWN, plugin_line, plugin_unknown, results_table

EXIT_DOWN = 1
EXIT_UNKNOWN = 3


@click.command()
@click.argument("endpoint_ids", nargs=-1, metavar="[ENDPOINT_ID]...")
@config_option
@format_option("table", "json")
@click.option(
    "--nagios",
    is_flag=True,
    help="One line and exit code by the monitoring-plugin convention (Nagios, Icinga, Zabbix): 0 OK, 1 WARNING "
    "(degraded, a certificate warning), 2 CRITICAL (down), 3 UNKNOWN (unknown, bad config, unknown id); "
    "perfdata after '|'.",
)
def check(endpoint_ids: tuple[str, ...], config_path: Path | None, fmt: str, nagios: bool) -> None:
    """Probe endpoints once, now, and print one row per endpoint.

    Probes every configured endpoint, or only the ENDPOINT_IDs given. A failed target is checked against the
    agent's controls: if they fail too, the result is 'unknown' (the agent's own network), not 'down'. On a
    terminal, details are cut to its width (--format json has them whole).

    Exit status: 0 all up or degraded; 1 any down; 3 none down but some unknown; 2 bad config or unknown id.
    With --nagios, the plugin convention instead (see the option).
    """
    if nagios:
        code, line = _plugin_check(config_path, endpoint_ids)
        click.echo(line)
        sys.exit(code)
    loaded = load(config_path)
    selected = _selected(loaded.config, endpoint_ids)
    results = asyncio.run(probe_now(loaded.config, selected))
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        click.echo(results_table(results, width))
    outcomes = {r.outcome for r in results}
    if Outcome.DOWN in outcomes:
        sys.exit(EXIT_DOWN)
    if Outcome.UNKNOWN in outcomes:
        sys.exit(EXIT_UNKNOWN)


def _selected(config: Config, endpoint_ids: tuple[str, ...]) -> list[Endpoint]:
    by_id = {ep.id: ep for ep in (*config.endpoints, *config.controls)}
    missing = [i for i in endpoint_ids if i not in by_id]
    if missing:
        raise UsageProblem(f"unknown endpoint id(s): {', '.join(missing)} (configured: {', '.join(by_id) or 'none'})")
    selected = [by_id[i] for i in endpoint_ids] if endpoint_ids else list(config.endpoints)
    if not selected:
        raise UsageProblem("no endpoints configured: add some under `endpoints:`")
    return selected


def _plugin_check(config_path: Path | None, endpoint_ids: tuple[str, ...]) -> tuple[int, str]:
    """``check --nagios``: every way it can fail is one UNKNOWN line (exit 3), as a plugin's caller expects."""
    try:
        config = load_config(config_path).config
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else "no detail"
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return UNKNOWN, plugin_unknown(f"invalid configuration: {first}{more}")
    try:
        selected = _selected(config, endpoint_ids)
    except UsageProblem as exc:
        return UNKNOWN, plugin_unknown(exc.message)
    return plugin_line(asyncio.run(probe_now(config, selected)))
