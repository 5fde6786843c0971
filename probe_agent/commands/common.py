"""What every command shares: loading the config with exit code 2 on errors, emitting output, usage problems.

The shared click options are in ``options.py``; opening the store is ``store.open_store()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from probe_agent.config import ConfigError, LoadedConfig, load_config
from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.reports import sla_reports

EXIT_BAD_CONFIG = 2


class UsageProblem(click.ClickException):
    """A problem with what the user asked for: printed without a traceback, exit code 2."""

    exit_code = EXIT_BAD_CONFIG


def load(config_path: Path | None) -> LoadedConfig:
    """Load the config or exit 2 listing every problem (no traceback)."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        n = len(exc.problems)
        click.echo(f"probe-agent: invalid configuration ({n} problem{'s' if n != 1 else ''}):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}".replace("\n", "\n  "), err=True)
        sys.exit(EXIT_BAD_CONFIG)


def select_slas(config: Config, sla_id: str | None) -> list[Sla]:
    """Every configured SLA, or the one named: a usage problem when there are none or the id is unknown."""
    try:
        return sla_reports.select_slas(config, sla_id)
    except sla_reports.ReportRequestError as exc:
        raise UsageProblem(str(exc)) from None


def emit(text: str, output: Path | None) -> None:
    """Print, or write to ``output`` atomically (a half-written report is worse than none)."""
    if output is None:
        click.echo(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise UsageProblem(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}", err=True)
