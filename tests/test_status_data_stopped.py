"""``status`` when nobody probes (issue 13, item 5): the first line says the agent is not running, and an
endpoint's SINCE is when its data stopped (the last result's coverage, or its run's end), not when its last state
began."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.model import iso, parse_ts
from probe_agent.store import records
from probe_agent.store.schema import open_db


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        f'agent: {{id: s1, database: "{tmp_path / "s.db"}"}}\n'
        'defaults: {interval: 1m, timeout: 10s}\nendpoints:\n  - {id: web, tcp: "127.0.0.1:9"}\n'
    )
    return path


def status(config: Path) -> tuple[dict[str, object], str]:
    runner = CliRunner()
    doc = json.loads(runner.invoke(main, ["status", "-c", str(config), "--format", "json"]).stdout)
    return doc, runner.invoke(main, ["status", "-c", str(config)]).stdout


def test_after_an_import_since_is_where_the_data_stops(config: Path, tmp_path: Path) -> None:
    lines = tmp_path / "r.jsonl"
    lines.write_text("".join(
        json.dumps({"ts": f"2026-11-01T00:0{m}:00Z", "endpoint": "web", "outcome": "up"}) + "\n" for m in range(3)
    ))  # fmt: skip
    assert CliRunner().invoke(main, ["import", str(lines), "-c", str(config)]).exit_code == 0
    doc, text = status(config)
    (row,) = doc["endpoints"]  # type: ignore[misc]
    # the last result (00:02) speaks for its interval and grace (the timeout): 00:02 + 1 min + 10 s
    assert (row["state"], row["last_state"], row["since"]) == ("no_data", "up", "2026-11-01T00:03:10.000Z")
    assert text.splitlines()[0] == "agent s1: not running (it has never run on this database)"


def test_after_a_clean_stop_since_is_the_stop(config: Path, tmp_path: Path) -> None:
    lines = tmp_path / "r.jsonl"
    lines.write_text(json.dumps({"ts": "2026-11-01T00:00:00Z", "endpoint": "web", "outcome": "up"}) + "\n")
    assert CliRunner().invoke(main, ["import", str(lines), "-c", str(config)]).exit_code == 0
    conn = open_db(tmp_path / "s.db")
    t0 = parse_ts("2026-11-01T00:00:30Z")
    run = records.start_run(conn, agent="s1", pid=1, hostname="h", version="0", config_hash="x", now_ms=t0 - 20_000)
    records.stop_run(conn, run, t0, clean=True)
    conn.close()
    doc, text = status(config)
    (row,) = doc["endpoints"]  # type: ignore[misc]
    # the run stopped at 00:00:30, before the last result's coverage (00:01:10) ran out: the stop is when data ended
    assert (row["state"], row["since"]) == ("no_data", iso(t0))
    assert text.splitlines()[0] == f"agent s1: not running; run {run} stopped cleanly at {iso(t0)}"
