"""No raw milliseconds in any text a person reads (issue 13, item 4): every text view of the command set, on the
golden store (``tests/test_report_golden.py``: a month with outages, an exclusion, a maintenance window), is free
of ``1234 ms``-style figures and of a "1 incidents"-style plural."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config.document import Config
from tests.test_report_golden import config  # noqa: F401 (fixture)

COMMANDS = [
    ["status"],
    ["report", "--cycle", "2026-09"],
    ["report", "--cycle", "2026-09", "--format", "markdown"],
    ["credits", "--cycle", "2026-09"],
    ["credits", "--cycle", "2026-09", "--format", "markdown"],
    ["incidents", "--from", "2026-09-01", "--to", "2026-10-01"],
    ["incidents", "--endpoint", "web", "--from", "2026-09-20", "--to", "2026-09-21"],
    ["exclusions", "list", "--all"],
    ["db", "check"],
    ["config", "validate"],
]
RAW_MS = re.compile(r"\b\d{4,} ?ms\b")
PLURAL = re.compile(r"\b1 (incidents|endpoints|services|SLAs|controls|results|problems)\b")


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_no_raw_milliseconds(config: Config, args: list[str]) -> None:
    path = Path(config.agent.database).parent / "probe-agent.yaml"
    result = CliRunner().invoke(main, [*args, "-c", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert not RAW_MS.findall(result.output), result.output
    assert not PLURAL.findall(result.output), result.output


def test_maintenance_decisions_and_resolution_warnings_speak_in_durations() -> None:
    from probe_agent.model import HOUR_MS, MINUTE_MS
    from probe_agent.sla.bounds import resolution_warnings
    from probe_agent.sla.exclusions import MaintenanceWindow, decide_windows

    t = 1_800_000_000_000
    early, late = decide_windows(
        [
            MaintenanceWindow(t, t + HOUR_MS, label="a", announced_ms=t - 94 * HOUR_MS, notice_ms=48 * HOUR_MS),
            MaintenanceWindow(t, t + HOUR_MS, label="b", announced_ms=t - 90 * MINUTE_MS, notice_ms=48 * HOUR_MS),
        ]
    )
    assert (early.excluded, early.reason) == (True, "maintenance announced 3d22h ahead")
    assert (late.excluded, late.reason) == (False, "not excluded: announced 1h30m ahead, notice requires 2d")
    assert resolution_warnings(5 * MINUTE_MS, MINUTE_MS, 2 * MINUTE_MS) == [
        "probe interval 5m is longer than the 1m slice: single bad slices cannot be resolved",
        "probe interval 5m is longer than max_incident_duration 2m: incidents near the limit cannot be resolved",
    ]
