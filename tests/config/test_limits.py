"""Limits that config validation states in words, at the key's position: a service's quorum larger than its
endpoints, and an ``anchor_day`` outside 1-28 (README: "How the numbers are made", "SLAs and credits")."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from probe_agent.cli import main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_quorum_and_anchor_day_limits_are_explained_with_positions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        endpoints:
          - {id: web, tcp: "127.0.0.1:9"}
          - {id: db, tcp: "127.0.0.1:9"}
        services:
          - id: shop
            endpoints: [web, db]
            rule: {quorum: 3}
        slas:
          - id: gold
            services: [shop]
            target: 99.9%
            cycle: {anchor_day: 31}
        """,
    )
    result = CliRunner().invoke(main, ["config", "validate", "-c", str(path)])
    assert result.exit_code == 2
    # A quorum of k endpoints down needs at least k endpoints: with 2, quorum 2 is already "down only if all are".
    assert (
        f"{path}:7:5: services[0].rule: quorum 3 is larger than the service's 2 endpoints: use 1 to 2 "
        "({quorum: 2} is down only when every endpoint is down, like rule: any)"
    ) in result.output
    assert (
        f"{path}:12:13: slas[0].cycle.anchor_day: anchor_day must be 1-28, not 31: days 29-31 are missing from some "
        "months (a later version lifts this limit)"
    ) in result.output
    assert "Traceback" not in result.output
