"""The click options several commands share, written once.

Where two commands word an option differently today (``--cycle``'s default, ``--from``'s zone, ``--output``'s
help), the factory takes the text as a parameter, so each command's ``--help`` stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_HELP = "Write to this file instead of standard output."


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file. Default: $PROBE_AGENT_CONFIG, then ./probe-agent.yaml, then /etc/probe-agent/config.yaml.",
    )(f)


def database_option(f: F) -> F:
    return click.option(
        "--database",
        "database",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Database file instead of the config's agent.database.",
    )(f)


def format_option(
    *choices: str,
    default: str | None = "table",
    show_default: bool | None = True,
    help_text: str | None = "Output format.",
) -> Callable[[F], F]:
    """``--format`` (parameter ``fmt``) with these choices; ``default=None`` leaves the choice to the command."""

    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=default,
            show_default=show_default,
            help=help_text,
        )(f)

    return deco


def output_option(help_text: str = OUTPUT_HELP) -> Callable[[F], F]:
    """``--output``/``-o`` (parameter ``output``): a file that ``emit`` writes atomically instead of stdout."""

    def deco(f: F) -> F:
        return click.option(
            "--output",
            "-o",
            "output",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=help_text,
        )(f)

    return deco


def cycle_option(help_text: str) -> Callable[[F], F]:
    """``--cycle YYYY-MM`` (parameter ``cycle``); the help says which cycle is the default for this command."""

    def deco(f: F) -> F:
        return click.option("--cycle", default=None, metavar="YYYY-MM", help=help_text)(f)

    return deco


def from_to_options(from_help: str, to_help: str, *, required: bool = False) -> Callable[[F], F]:
    """``--from`` and ``--to`` (parameters ``from_`` and ``to``), listed in that order in ``--help``."""

    def deco(f: F) -> F:
        # Applied innermost first: click lists the outermost option first, so --from comes before --to.
        # A required option gets no default at all, as click then reports it missing by name.
        extra: dict[str, Any] = {"required": True} if required else {"default": None}
        f = click.option("--to", "to", help=to_help, **extra)(f)
        return click.option("--from", "from_", help=from_help, **extra)(f)

    return deco
