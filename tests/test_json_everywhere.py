"""``--format json`` on every command that prints a result (issue 13, item 9): config validate (its problems with
file, line, column, path), import (counts, skipped, errors; a line without an agent gets agent.id), exclusions add
and revoke, cycle close, db backup, notify test. Each document is checked against what the command did."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from tests.e2e.harness import closed_port

CONFIG = """\
agent: {{id: j1, database: j.db}}
controls:
  - {{id: c1, tcp: "127.0.0.1:{port}"}}
endpoints:
  - {{id: web, tcp: "127.0.0.1:{port}"}}
services:
  - {{id: shop, endpoints: [web]}}
slas:
  - {{id: gold, services: [shop], target: 99.9%, cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}}}
notifications:
  channels:
    - {{id: hook, webhook: {{url: "http://127.0.0.1:{port}/x"}}}}
"""
LINES = (
    '{"ts":"2026-11-01T00:00:00Z","endpoint":"web","outcome":"up","latency_ms":1}\n'
    '{"ts":"2026-11-01T00:01:00Z","endpoint":"web","outcome":"down","error_kind":"connect_refused"}\n'
    '{"ts":"2026-11-01T00:02:00Z","endpoint":"web","outcome":"up","agent":"other"}\n'
)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(port=closed_port()))
    return path


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_config_validate(config: Path, tmp_path: Path) -> None:
    doc = run("config", "validate", "-c", str(config))
    assert doc == {
        "valid": True,
        "config": str(config),
        "files": [str(config)],
        "counts": {"endpoints": 1, "controls": 1, "services": 1, "slas": 1},
        "notes": [],
        "problems": [],
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: {id: j1}\nendpoints:\n  - {id: web, tcp: nowhere}\n  - {id: w2, interval: 0s, tcp: a:1}\n")
    doc = run("config", "validate", "-c", str(bad), code=2)
    assert doc["valid"] is False
    assert [(p["file"], p["line"], p["column"], p["path"]) for p in doc["problems"]] == [
        (str(bad), 3, 15, "endpoints[0].tcp"),
        (str(bad), 4, 14, "endpoints[1].interval"),
    ]
    assert all(p["message"] for p in doc["problems"])


def test_import_counts_skips_errors_and_the_config_agent(config: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(LINES)
    doc = run("import", str(results), "-c", str(config))
    assert (doc["database"], doc["read"], doc["imported"], doc["skipped"], doc["errors"]) == (
        str(tmp_path / "j.db"), 3, 3, 0, [],
    )  # fmt: skip
    # lines without an agent are the config's agent.id; a line's own agent is kept
    assert [(p["agent"], p["endpoint"], p["imported"]) for p in doc["pairs"]] == [("j1", "web", 2), ("other", "web", 1)]
    # confirm: 3 by default, so one failure is no outage
    assert [p["outages"] for p in doc["pairs"]] == [[], []]
    again = run("import", str(results), "-c", str(config))
    assert (again["imported"], again["skipped"]) == (0, 3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts":"2026-11-01T00:00:00Z","endpoint":"web","outcome":"sideways"}\nnot json\n')
    doc = run("import", str(bad), "-c", str(config), code=2)
    assert doc["imported"] == 0 and doc["refused"].startswith("import refused, nothing was stored")
    assert [e["line"] for e in doc["errors"]] == [1, 2]
    with sqlite3.connect(tmp_path / "j.db") as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (3,)


def test_the_old_format_option_still_names_the_files_format(config: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.txt"
    results.write_text(LINES)
    result = CliRunner().invoke(main, ["import", str(results), "-c", str(config), "--format", "jsonl"])
    assert result.exit_code == 0 and result.output.startswith("imported 3 of 3 results")
    result = CliRunner().invoke(main, ["import", str(results), "-c", str(config)])
    assert result.exit_code == 2 and "give --input-format jsonl or csv" in result.output


def test_exclusions_add_and_revoke(config: Path) -> None:
    added = run("exclusions", "add", "--sla", "gold", "--from", "2026-11-02", "--to", "2026-11-03", "--kind",
                "customer", "--reason", "asked", "--author", "ops", "-c", str(config))  # fmt: skip
    assert {k: added[k] for k in ("id", "scope", "kind", "start", "end", "reason", "author", "revoked")} == {
        "id": 1, "scope": "sla:gold", "kind": "customer", "start": "2026-11-02T00:00:00.000Z",
        "end": "2026-11-03T00:00:00.000Z", "reason": "asked", "author": "ops", "revoked": None,
    }  # fmt: skip
    revoked = run("exclusions", "revoke", "1", "--author", "boss", "-c", str(config))
    assert revoked["id"] == 1 and revoked["revoked_by"] == "boss" and revoked["revoked"] is not None
    listed = run("exclusions", "list", "--all", "-c", str(config))
    assert listed == [revoked]


def test_cycle_close_prints_the_stored_document(config: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(LINES)
    run("import", str(results), "-c", str(config))
    doc = run("cycle", "close", "--sla", "gold", "--cycle", "2026-11", "-c", str(config))
    assert (doc["sla"], doc["cycle"]["label"]) == ("gold", "2026-11")
    report = run("report", "--sla", "gold", "--cycle", "2026-11", "-c", str(config))
    assert report["inputs_hash"] == doc["inputs_hash"] and report["closed"] is not None


def test_db_backup(config: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(LINES)
    run("import", str(results), "-c", str(config))
    dest = tmp_path / "copy.db"
    doc = run("db", "backup", str(dest), "-c", str(config))
    assert doc == {"source": str(tmp_path / "j.db"), "destination": str(dest), "bytes": dest.stat().st_size}


def test_notify_test_says_what_the_receiver_answered(config: Path) -> None:
    doc = run("notify", "test", "hook", "-c", str(config), code=1)
    assert (doc["channel"], doc["kind"], doc["ok"]) == ("hook", "webhook", False)
    assert "Cannot connect" in doc["answer"]
