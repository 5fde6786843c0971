"""``config validate`` and ``config show``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from probe_agent.commands.common import load
from probe_agent.commands.options import config_option, format_option


@click.group("config")
def config_group() -> None:
    """Check and inspect the configuration."""


@config_group.command("validate")
@config_option
def validate(config_path: Path | None) -> None:
    """Validate the config (and its include files). Exit 0 if valid, 2 listing every problem if not."""
    loaded = load(config_path)
    c = loaded.config
    files = ", ".join(str(f) for f in loaded.files)
    click.echo(
        f"{loaded.path}: ok ({len(c.endpoints)} endpoints, {len(c.controls)} controls, {len(c.services)} services, "
        f"{len(c.slas)} SLAs; files: {files})"
    )
    if not c.controls:
        click.echo(
            "note: no controls configured: the agent cannot tell its own network failure from a target's", err=True
        )


@config_group.command("show")
@config_option
@format_option("yaml", "json", default="yaml", help_text=None)
def show(config_path: Path | None, fmt: str) -> None:
    """Print the merged config (includes folded in) with secret references left unresolved."""
    loaded = load(config_path)
    if fmt == "json":
        click.echo(json.dumps(loaded.raw, indent=2))
    else:
        click.echo(yaml.safe_dump(loaded.raw, sort_keys=False).rstrip())
