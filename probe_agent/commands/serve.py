"""``serve``: the status page, the JSON API and ``/metrics`` over an existing database, without probing."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from probe_agent.agent import eventloop
from probe_agent.commands.common import UsageProblem, load
from probe_agent.commands.options import config_option, verbosity
from probe_agent.commands.store import READING, open_store
from probe_agent.config import ConfigError, LoadedConfig, load_config
from probe_agent.config.api_schema import OPEN_LISTEN_HINT, Api, open_listen_problem
from probe_agent.config.values import parse_host_port
from probe_agent.logs import setup_logging
from probe_agent.model import now_ms

log = logging.getLogger("probe_agent.api")


@click.command()
@config_option
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Where to listen (default: api.listen, else 127.0.0.1:9472; port 0: any free port, logged). Beyond "
    "loopback it needs api.tokens.",
)
@click.pass_context
def serve(ctx: click.Context, config_path: Path | None, listen: str | None) -> None:
    """Serve the status page, the JSON API, /metrics and /healthz over an existing database, without probing.

    For a reader machine or a laptop with a copy of the database: the figures are the store's, as `report` and
    `status` show them; /healthz says whether the database can be read. The config's `api:` section applies
    (tokens, public_status); without one, 127.0.0.1:9472 with no tokens. Runs until SIGTERM or SIGINT; SIGHUP
    re-reads the config.
    """
    from probe_agent.api.context import ApiContext
    from probe_agent.api.server import ListenError
    from probe_agent.api.standalone import serve as serve_forever

    loaded = load(config_path)
    api = loaded.config.api or Api()
    try:
        host_port = parse_host_port(listen, any_port=True) if listen is not None else api.host_port
    except ValueError as exc:
        raise UsageProblem(f"--listen: {exc}") from None
    if listen is not None and (problem := open_listen_problem(listen, bool(api.tokens))):
        raise UsageProblem(f"--listen: {problem}; {OPEN_LISTEN_HINT}")
    db_path = Path(loaded.config.agent.database)
    open_store(db_path, readonly=True, wording=READING).close()  # refuse a missing or too-new database now
    setup_logging(max(1, verbosity(ctx)), loaded.secrets)
    current: list[LoadedConfig] = [loaded]

    def reload() -> None:
        try:
            fresh = load_config(current[0].path)
        except ConfigError as exc:
            log.error("reload refused, still serving the previous config:\n%s", exc)
            return
        current[0] = fresh
        log.info("config reloaded")

    context = ApiContext(lambda: current[0].config, db_path, now_ms, None, loaded.config.agent.id)
    try:
        eventloop.run(serve_forever(context, host_port, reload), os.environ)  # as `run`: uvloop when installed
    except eventloop.LoopChoiceError as exc:
        click.echo(f"probe-agent: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ListenError as exc:
        click.echo(f"probe-agent: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
