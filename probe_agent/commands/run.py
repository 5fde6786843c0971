"""``run``: the long-running agent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from probe_agent.agent import eventloop
from probe_agent.commands.common import load
from probe_agent.commands.options import config_option, verbosity
from probe_agent.logs import setup_logging
from probe_agent.store.schema import StoreError


@click.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config_path: Path | None) -> None:
    """Run the agent: probe every endpoint on schedule and keep the timeline in SQLite.

    Runs until SIGTERM or SIGINT (clean stop: in-flight probes finish or are abandoned after agent.stop_timeout,
    queued results are written, the run is marked clean). SIGHUP reloads the config; an invalid config is logged
    and the running one kept. Under systemd (Type=notify) it reports READY, STATUS and WATCHDOG.
    """
    from probe_agent.agent.daemon import Daemon, DaemonError

    loaded = load(config_path)
    level = max(1, verbosity(ctx))
    setup_logging(level, loaded.secrets)
    daemon = Daemon(loaded, config_path=config_path, verbosity=level)
    try:
        eventloop.run(daemon.run(), os.environ)  # uvloop when installed, unless PROBE_AGENT_LOOP=asyncio
    except eventloop.LoopChoiceError as exc:
        click.echo(f"probe-agent: {exc}", err=True)
        sys.exit(exc.exit_code)
    except DaemonError as exc:
        click.echo(f"probe-agent: {exc}", err=True)
        sys.exit(exc.exit_code)
    except StoreError as exc:
        click.echo(f"probe-agent: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        sys.exit(130)
