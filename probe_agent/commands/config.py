"""``config validate`` and ``config show``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from probe_agent.commands.common import EXIT_BAD_CONFIG, load
from probe_agent.commands.options import config_option, format_option
from probe_agent.config import ConfigError, load_config

NO_CONTROLS = "no controls configured: the agent cannot tell its own network failure from a target's"


@click.group("config")
def config_group() -> None:
    """Check and inspect the configuration."""


@config_group.command("validate")
@config_option
@format_option("table", "json")
def validate(config_path: Path | None, fmt: str) -> None:
    """Validate the config (and its include files). Exit 0 if valid, 2 listing every problem if not.

    --format json prints {"valid", "config", "files", "counts", "notes", "problems"}, each problem with file, line,
    column, path, message and hint (exit 2 still when invalid).
    """
    if fmt == "json":
        click.echo(json.dumps(_validation(config_path), indent=2))
        return
    loaded = load(config_path)
    c = loaded.config
    files = ", ".join(str(f) for f in loaded.files)
    click.echo(
        f"{loaded.path}: ok ({_n(c.endpoints, 'endpoint')}, {_n(c.controls, 'control')}, "
        f"{_n(c.services, 'service')}, {_n(c.slas, 'SLA')}; files: {files})"
    )
    if not c.controls:
        click.echo(f"note: {NO_CONTROLS}", err=True)


def _validation(config_path: Path | None) -> dict[str, Any]:
    """The validation as a document; exits 2 after printing it when the config is invalid."""
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        doc = {
            "valid": False,
            "config": None,
            "files": [],
            "counts": None,
            "notes": [],
            "problems": [p.to_json() for p in exc.problems],
        }
        click.echo(json.dumps(doc, indent=2))
        sys.exit(EXIT_BAD_CONFIG)
    c = loaded.config
    notes = (
        [] if c.controls else ["no controls configured: the agent cannot tell its own network failure from a target's"]
    )
    return {
        "valid": True,
        "config": str(loaded.path),
        "files": [str(f) for f in loaded.files],
        "counts": {
            "endpoints": len(c.endpoints),
            "controls": len(c.controls),
            "services": len(c.services),
            "slas": len(c.slas),
        },
        "notes": notes,
        "problems": [],
    }


def _n(items: tuple[object, ...], word: str) -> str:
    return f"{len(items)} {word}{'' if len(items) == 1 else 's'}"


@config_group.command("show")
@config_option
@format_option("yaml", "json", default="yaml", help_text=None)
@click.option("--raw", is_flag=True, help="The merged document as written (includes folded in), nothing filled in.")
def show(config_path: Path | None, fmt: str, raw: bool) -> None:
    """Print the effective config: defaults filled in, presets expanded (each SLA built on one lists the keys that
    came from it in preset_keys, beside its source and version), secrets shown as their references, never their
    values. --raw prints the merged document as written instead (a config that loads again)."""
    from probe_agent.config.effective import effective_document

    loaded = load(config_path)
    doc = loaded.raw if raw else effective_document(loaded)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(yaml.safe_dump(doc, sort_keys=False).rstrip())
