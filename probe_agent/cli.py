"""The ``probe-agent`` command: a click group whose commands each parse, call one library function, and render."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from probe_agent import __version__
from probe_agent.commands.check import check
from probe_agent.commands.config import config_group
from probe_agent.commands.cycle import cycle_group
from probe_agent.commands.db import db_group
from probe_agent.commands.exclusions import exclusions_group
from probe_agent.commands.notify import notify_group
from probe_agent.commands.options import CONFIG_HELP, given_before, verbose_option
from probe_agent.commands.report import credits, incidents, report
from probe_agent.commands.results import export_command, import_command
from probe_agent.commands.run import run
from probe_agent.commands.serve import serve
from probe_agent.commands.status import status
from probe_agent.logs import setup_logging
from probe_agent.store.schema import StoreError


class _Main(click.Group):
    """The command group; store trouble (a database locked by another process for longer than the busy timeout,
    a full disk, a read-only file system) ends any command with its message and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise StoreTrouble(str(exc)) from None
        except sqlite3.OperationalError as exc:
            raise StoreTrouble(f"the database: {exc}{_hint(exc)}") from None


class StoreTrouble(click.ClickException):
    exit_code = 1


def _hint(exc: sqlite3.OperationalError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return " (another process holds it; try again)"
    if "readonly" in text or "read-only" in text:
        return " (the file or its directory is not writable by this user)"
    if "disk" in text and "full" in text:
        return " (free space on its file system)"
    return ""


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="probe-agent")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option("--format", "fmt", metavar="FORMAT", help="Output format, for a command that has it (see its --help).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, fmt: str | None, output: Path | None, verbose: int) -> None:
    """probe-agent: uptime probing and availability-SLA accounting.

    Probes endpoints, keeps an honest timeline in SQLite (gaps are 'no data', the agent's own network failures
    are 'unknown'), and computes availability, error budgets and service credits per billing cycle.

    -c, --format, -o and -v work before the command or after it.
    """
    before = given_before(ctx)
    before.update(config_path=config_path, fmt=fmt, output=output, verbose=verbose)
    setup_logging(verbose)


main.add_command(check)
main.add_command(config_group)
main.add_command(db_group)
main.add_command(export_command)
main.add_command(import_command)
main.add_command(run)
main.add_command(serve)
main.add_command(status)
main.add_command(report)
main.add_command(incidents)
main.add_command(credits)
main.add_command(exclusions_group)
main.add_command(cycle_group)
main.add_command(notify_group)


def _with_verbose(command: click.Command) -> None:
    """Every command also takes -v after its name (the group takes it before)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_verbose(sub)
    else:
        command.params.append(verbose_option())


for _command in main.commands.values():
    _with_verbose(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
