"""A cycle in progress is not a verdict (issue 13, items 1 and 2): ``verdict`` is on_track, at_risk or breached while
the cycle runs and met or missed once it ended; the projection waits for 10 % of the cycle and 24 h; a coverage
below the SLA's ``coverage_warning`` is said in ``status`` too. On the golden store (``tests/test_report_golden.py``):
``web`` down Sep 10 12:00-13:00 and Sep 20 08:00-08:25 UTC; ``slices`` (99.5 %, 30-day budget 3h36m) and ``gold``
(99.9 %, budget 43m12s)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config.document import Config
from probe_agent.model import dt_to_ms
from probe_agent.render.status import status_table
from probe_agent.reports import scope
from probe_agent.reports.build import build_report
from probe_agent.reports.status import build_status
from probe_agent.sla.verdict import PROJECTION_MIN_MS, projection_shown
from tests.test_report_golden import config, conn  # noqa: F401 (fixtures)


def at(day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ms(datetime(2026, 9, day, hour, minute, tzinfo=UTC))


def verdicts(conn: sqlite3.Connection, config: Config, now: int) -> dict[str, str | None]:
    out = {}
    for sla in config.slas:
        doc = build_report(conn, config, sla, scope.sla_period(config, sla, now, cycle="2026-09"), now).doc
        out[sla.id] = doc["verdict"]
    if now < at(30, 22):  # September is still the current cycle of both: status says the same
        assert {row["sla"]: row["verdict"] for row in build_status(conn, config, now)["slas"]} == out
    return out


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Sep 9: nothing down yet
        (at(9), {"gold": "on_track", "slices": "on_track"}),
        # Sep 10 12:20, 20 min into the first outage: the 1 h window is 1/3 down (rate 333 for gold, 67 for
        # slices), the 5 min one all down: at risk; gold's 43m12s allowance is not yet spent
        (at(10, 12, 20), {"gold": "at_risk", "slices": "at_risk"}),
        # Sep 10 12:50: gold's 50 min down > 43m12s: the target can no longer be met; slices still at risk
        (at(10, 12, 50), {"gold": "breached", "slices": "at_risk"}),
        # Sep 10 19:30: the 6 h window (13:30-19:30) and 1 h window are clean again; gold stays breached
        (at(10, 19, 30), {"gold": "breached", "slices": "on_track"}),
        # Oct 5: the cycle ended: met or missed (slices lost 1h15m of its 3h36m: met)
        (dt_to_ms(datetime(2026, 10, 5, tzinfo=UTC)), {"gold": "missed", "slices": "met"}),
    ],
)
def test_verdicts_through_september(
    conn: sqlite3.Connection,
    config: Config,
    now: int,
    expected: dict[str, str],
) -> None:
    assert verdicts(conn, config, now) == expected


def test_the_projection_waits_for_a_tenth_of_the_cycle_and_a_day(
    conn: sqlite3.Connection,
    config: Config,
) -> None:
    sla = config.sla("slices")  # UTC: the cycle is Sep 1 00:00 to Oct 1 00:00, 30 days; 10 % is 3 days
    for now, shown in ((at(1, 23), False), (at(3, 23, 59), False), (at(4), True), (at(20), True)):
        doc = build_report(conn, config, sla, scope.sla_period(config, sla, now, cycle="2026-09"), now).doc
        assert (doc["budget"]["projected_availability_percent"] is not None) is shown, now
        row = next(r for r in build_status(conn, config, now)["slas"] if r["sla"] == "slices")
        assert (row["projected_availability_percent"] is not None) is shown
    # a short cycle (the demo's minute): 10 % of it passes at once, a day never
    assert not projection_shown(0, 60_000, 60_000)
    assert projection_shown(0, 5 * PROJECTION_MIN_MS, PROJECTION_MIN_MS)
    assert not projection_shown(0, 20 * PROJECTION_MIN_MS, PROJECTION_MIN_MS)


def test_status_says_low_coverage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two minutes of results in a cycle a week old: 100 % available, but covered 0.02 %: said in status."""
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        f'agent: {{id: j1, database: "{tmp_path / "j.db"}"}}\nendpoints:\n  - {{id: web, tcp: "127.0.0.1:9"}}\n'
        "slas:\n  - {id: gold, endpoints: [web], target: 99.9%, cycle: {period: monthly, anchor_day: 1, "
        "timezone: UTC}}\n"
    )
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    lines = tmp_path / "r.jsonl"
    lines.write_text("".join(
        json.dumps({"ts": start.replace(minute=m).isoformat(), "endpoint": "web", "outcome": "up"}) + "\n"
        for m in range(3)
    ))  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(lines), "-c", str(path)]).exit_code == 0
    result = runner.invoke(main, ["status", "-c", str(path), "--format", "json"])
    (row,) = json.loads(result.stdout)["slas"]
    assert row["availability_percent"] == 100.0
    assert row["coverage_percent"] is not None and row["coverage_percent"] < 1
    (warning,) = row["warnings"]
    assert warning.startswith(f"coverage {row['coverage_percent']:g}%"[:12])
    assert "is below the SLA's coverage_warning of 90%" in warning
    text = status_table(json.loads(result.stdout))
    assert "LOW" in text and f"gold: {warning}" in text


@pytest.mark.parametrize("command", ["report", "credits"])
def test_fail_on_breach_for_scripts(config: Config, command: str) -> None:
    """September as of today: gold missed its target, slices met it; the output is the same with the flag."""
    path = Path(config.agent.database).parent / "probe-agent.yaml"
    runner = CliRunner()
    for sla, code in (("gold", 1), ("slices", 0)):
        plain = runner.invoke(main, [command, "--sla", sla, "--cycle", "2026-09", "-c", str(path)])
        flagged = runner.invoke(
            main, [command, "--sla", sla, "--cycle", "2026-09", "-c", str(path), "--fail-on-breach"]
        )
        assert plain.exit_code == 0 and flagged.exit_code == code
        assert flagged.stdout == plain.stdout


def test_credits_shows_coverage_and_says_when_it_is_low(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every view of an SLA shows coverage: credits too (a COVERAGE column, LOW and the warning below it)."""
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        f'agent: {{id: j1, database: "{tmp_path / "j.db"}"}}\nendpoints:\n  - {{id: web, tcp: "127.0.0.1:9"}}\n'
        "slas:\n  - {id: gold, endpoints: [web], target: 99.9%, cycle: {period: monthly, anchor_day: 1, "
        'timezone: UTC}, credits: {fee: "10.00", currency: EUR, tiers: [{below: 99.9%, credit: 10%}]}}\n'
    )
    lines = tmp_path / "r.jsonl"
    lines.write_text(json.dumps({"ts": "2026-10-01T00:00:00Z", "endpoint": "web", "outcome": "up"}) + "\n")
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(lines), "-c", str(path)]).exit_code == 0
    (row,) = [
        json.loads(runner.invoke(main, ["credits", "--cycle", "2026-10", "-c", str(path), "--format", "json"]).stdout)
    ]
    assert row["coverage_percent"] < 1 and row["verdict"] == "met"
    (warning,) = row["coverage_warnings"]
    text = runner.invoke(main, ["credits", "--cycle", "2026-10", "-c", str(path)]).stdout
    assert " LOW " in text.splitlines()[2] and f"Coverage warnings:\n  - gold: {warning}" in text
