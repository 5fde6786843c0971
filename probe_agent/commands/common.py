"""What every command shares: the config option, output options, loading config with exit code 2 on errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from probe_agent.config import ConfigError, LoadedConfig, load_config

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_CONFIG = 2


class UsageProblem(click.ClickException):
    """A problem with what the user asked for: printed without a traceback, exit code 2."""

    exit_code = EXIT_BAD_CONFIG


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file. Default: $PROBE_AGENT_CONFIG, then ./probe-agent.yaml, then /etc/probe-agent/config.yaml.",
    )(f)


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=default,
            show_default=True,
            help="Output format.",
        )(f)

    return deco


def output_option(f: F) -> F:
    return click.option(
        "--output",
        "-o",
        "output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to this file instead of standard output.",
    )(f)


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
