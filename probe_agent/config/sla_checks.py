"""Validation of the ``slas`` section (filled in by the SLA engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probe_agent.config.schema import Config
from probe_agent.config.yamlsource import Positions, Problem


def check_slas(
    config: Config, resolved: dict[str, Any], positions: Positions, base_dir: Path
) -> tuple[list[Problem], Config]:
    return [], config
