"""The click options several commands share, written once.

Where two commands word an option differently today (``--cycle``'s default, ``--from``'s zone, ``--output``'s
help), the factory takes the text as a parameter, so each command's ``--help`` stays as it is.

``-c/--config``, ``--format``, ``-o/--output`` and ``-v/--verbose`` may also come before the command
(``probe-agent -c FILE status``): the group stores them in ``ctx.meta[GLOBAL]`` and each command's option falls
back to that value when it is not given after the command (given in both places, the one after the command wins;
``-v`` counts add up). A ``--format`` before a command that does not have that format is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_HELP = "Write to this file instead of standard output."
CONFIG_HELP = "Config file. Default: $PROBE_AGENT_CONFIG, then ./probe-agent.yaml, then /etc/probe-agent/config.yaml."
GLOBAL = "probe_agent.global"  # ctx.meta key: the options given before the command


def given_before(ctx: click.Context) -> dict[str, Any]:
    """The options given before the command (``config_path``, ``fmt``, ``output``, ``verbose``)."""
    found: dict[str, Any] = ctx.meta.setdefault(GLOBAL, {})
    return found


def verbosity(ctx: click.Context) -> int:
    """How many ``-v`` were given, before and after the command together."""
    return int(given_before(ctx).get("verbose", 0))


def _or_before(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        return value if value is not None else given_before(ctx).get(name)

    return callback


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_or_before("config_path"),
        help=CONFIG_HELP,
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

    def pick(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        before = given_before(ctx).get("fmt")
        if before is None or ctx.get_parameter_source("fmt") is not ParameterSource.DEFAULT:
            return value
        if before not in choices:
            raise click.BadParameter(f"{before!r} is not a format of this command ({', '.join(choices)})", ctx, param)
        return str(before)

    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=default,
            show_default=show_default,
            callback=pick,
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
            callback=_or_before("output"),
            help=help_text,
        )(f)

    return deco


def _more_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        before = given_before(ctx)
        before["verbose"] = before.get("verbose", 0) + value
        from probe_agent.logs import setup_logging

        setup_logging(before["verbose"])


VERBOSE_HELP = "More log output on stderr (-vv for debug); also accepted before the command."


def verbose_option() -> click.Option:
    """``-v/--verbose`` for a command (after its name), adding to any given before it."""
    return click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_more_verbose, help=VERBOSE_HELP)


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
