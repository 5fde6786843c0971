"""What each command family says when the database is missing, too new, outdated or not SQLite at all.

The wordings were four copies before ``commands/store.py``; they differ between families (kept as they were),
so each family is pinned here: the text users and scripts see, and the exit code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.store.schema import MIGRATIONS_TABLE, SCHEMA_VERSION, open_db

MISSING_VIEW = "no database at {p} yet: start the agent (probe-agent run) or import results"
MISSING_RESULTS = "no database at {p}: start the agent (probe-agent run) or import results"
UPGRADE = "{p} needs a schema upgrade: start the agent once (probe-agent run)"
SLA = """slas:
  - {id: gold, services: [shop], target: 99.9%, cycle: {period: monthly, anchor_day: 1, timezone: UTC}}
services:
  - {id: shop, endpoints: [web], rule: all}
"""
ADD = ["exclusions", "add", "--sla", "gold", "--from", "2026-09-05", "--to", "2026-09-06", "--kind", "customer",
       "--reason", "x", "--author", "a"]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)


def config_for(tmp_path: Path, db: Path) -> str:
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        f"agent: {{id: ams, database: {db}, timezone: UTC}}\nendpoints: [{{id: web, tcp: '127.0.0.1:9'}}]\n{SLA}"
    )
    return str(cfg)


def run(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.stderr.strip()


def test_a_missing_database(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    cfg = config_for(tmp_path, db)
    for view in (["status"], ["report"], ["credits"], ["incidents"], ["exclusions", "list"]):
        assert run(*view, "-c", cfg) == (2, "Error: " + MISSING_VIEW.format(p=db)), view
    for results in (["export"], ["db", "repair", "--dry-run"]):
        assert run(*results, "-c", cfg) == (2, "Error: " + MISSING_RESULTS.format(p=db)), results
    for care in (["db", "check"], ["db", "backup", str(tmp_path / "copy.db")]):
        assert run(*care, "-c", cfg) == (2, f"Error: no database at {db}"), care
    assert not db.exists()


def test_a_schema_newer_than_this_code(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    open_db(db).execute("PRAGMA user_version = 99").connection.close()
    cfg = config_for(tmp_path, db)
    code, err = run("status", "-c", cfg)
    assert code == 2 and err.startswith(f"Error: {db}: ") and err.endswith("(upgrade probe-agent to read it)")
    assert "the database schema is newer than this probe-agent knows" in err
    for results in (["export"], ["db", "repair"], ["import", str(tmp_path / "none.jsonl")]):
        if results[0] == "import":
            (tmp_path / "none.jsonl").write_text("")
        code, err = run(*results, "-c", cfg)
        assert code == 2 and err.startswith(f"Error: {db}: the database schema is newer"), results
    for record in (ADD, ["exclusions", "revoke", "1"], ["cycle", "close", "--sla", "gold", "--cycle", "2026-08"]):
        code, err = run(*record, "-c", cfg)
        assert code == 2 and err.startswith(f"Error: {db}: ") and "schema is newer" in err, record
    code, err = run("db", "check", "-c", cfg)
    assert (code, err) == (
        2,
        f"Error: {db}: the database schema (version 99) is newer than this probe-agent knows "
        f"(version {SCHEMA_VERSION}); "
        "upgrade probe-agent. The file was not changed.",
    )


def test_a_schema_that_needs_migrations(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = open_db(db)
    conn.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE rowid = (SELECT max(rowid) FROM {MIGRATIONS_TABLE})")
    conn.close()
    cfg = config_for(tmp_path, db)
    for reader in (["status"], ["report"], ["exclusions", "list"], ["export"], ["db", "repair", "--dry-run"]):
        assert run(*reader, "-c", cfg) == (2, "Error: " + UPGRADE.format(p=db)), reader
    assert run("db", "backup", str(tmp_path / "copy.db"), "-c", cfg) == (
        2,
        f"Error: {db} needs a schema upgrade first: start the agent once (probe-agent run)",
    )
    assert run(*ADD, "-c", cfg)[0] == 0  # a writing command applies the migration


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"not a database" * 100)
    cfg = config_for(tmp_path, db)
    unreadable = f"{db}: not a readable SQLite database (file is not a database)"
    for reader in (["status"], ["export"], ["db", "repair"]):
        assert run(*reader, "-c", cfg) == (1, "Error: " + unreadable), reader
    for record in (ADD, ["cycle", "close", "--sla", "gold", "--cycle", "2026-08"]):
        assert run(*record, "-c", cfg) == (2, f"Error: {db}: {unreadable}"), record
    assert run("db", "backup", str(tmp_path / "copy.db"), "-c", cfg) == (2, f"Error: cannot back up {db}: {unreadable}")
    assert run("db", "check", "-c", cfg)[0] == 1
