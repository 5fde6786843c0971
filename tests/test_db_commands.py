"""``db backup`` and ``db check`` on real SQLite files: copies, counts, corruption, a schema from the future."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from probe_agent.cli import main
from probe_agent.model import Outcome, ProbeResult
from probe_agent.store import open_db, records
from probe_agent.store.schema import SCHEMA_VERSION

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def filled_db(path: Path, n: int = 3000) -> Path:
    """A store with ``n`` results (enough pages for corruption to hit table data), checkpointed and closed."""
    conn = open_db(path)
    outcomes = [Outcome.UP, Outcome.DOWN, Outcome.DEGRADED]
    results = [
        ProbeResult(T0 + i * 1000, "ams", f"ep{i % 7}", outcomes[i % 3], 10.0 + i % 50, detail="x" * (i % 40))
        for i in range(n)
    ]
    records.import_batch(conn, results, now_ms=T0)
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_backup_then_check_the_copy(tmp_path: Path) -> None:
    source = filled_db(tmp_path / "probe.db")
    config = tmp_path / "probe-agent.yaml"
    config.write_text(f"agent: {{id: ams, database: {source}}}\nendpoints: [{{id: ep0, tcp: '127.0.0.1:9'}}]\n")
    dest = tmp_path / "backup.db"
    done = cli("db", "backup", str(dest), "-c", str(config))
    assert done.exit_code == 0, done.output
    assert f"backed up {source} to {dest}" in done.stdout
    checked = cli("db", "check", "--database", str(dest), "--format", "json")
    assert checked.exit_code == 0, checked.output
    doc = json.loads(checked.stdout)
    assert doc["ok"] is True and doc["integrity"] == ["ok"]
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["rows"]["results"] == 3000 and doc["rows"]["intervals"] == 0
    assert doc["file_bytes"] == doc["page_size"] * doc["page_count"]
    table = cli("db", "check", "-c", str(config))
    assert table.exit_code == 0
    assert f"database {source}: ok" in table.stdout and "results" in table.stdout and "3000" in table.stdout


def test_backup_never_overwrites(tmp_path: Path) -> None:
    source = filled_db(tmp_path / "probe.db", n=10)
    dest = tmp_path / "exists.db"
    dest.write_bytes(b"precious")
    done = cli("db", "backup", str(dest), "--database", str(source))
    assert done.exit_code == 2
    assert "already exists" in done.stderr
    assert dest.read_bytes() == b"precious"


def test_check_reports_a_corrupted_copy_as_not_ok(tmp_path: Path) -> None:
    source = filled_db(tmp_path / "probe.db")
    broken = tmp_path / "broken.db"
    shutil.copy(source, broken)
    data = bytearray(broken.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 8 * page
    for offset in range(3 * page, len(data) - page, 2 * page):  # every other page from the third on
        data[offset : offset + page] = bytes((i * 37 + 11) % 256 for i in range(page))
    broken.write_bytes(bytes(data))
    done = cli("db", "check", "--database", str(broken), "--format", "json")
    assert done.exit_code == 1
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["integrity"] != ["ok"]
    assert cli("db", "check", "--database", str(source)).exit_code == 0


def test_check_of_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not SQLite at all" * 200)
    done = cli("db", "check", "--database", str(junk))
    assert done.exit_code == 1
    assert "NOT OK" in done.stdout and "not a readable SQLite database" in done.stdout


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = filled_db(tmp_path / "probe.db", n=10)
    conn = open_db(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(path)
    checked = cli("db", "check", "--database", str(path))
    assert checked.exit_code == 2
    assert "newer than this probe-agent knows" in checked.stderr
    backed = cli("db", "backup", str(tmp_path / "copy.db"), "--database", str(path))
    assert backed.exit_code == 2 and "newer" in backed.stderr
    assert not (tmp_path / "copy.db").exists()
    config = tmp_path / "probe-agent.yaml"
    config.write_text(f"agent: {{id: ams, database: {path}}}\nendpoints: [{{id: api, tcp: '127.0.0.1:9'}}]\n")
    (tmp_path / "in.jsonl").write_text('{"ts": 1767225600, "agent": "ams", "endpoint": "api", "outcome": "up"}\n')
    imported = cli("import", str(tmp_path / "in.jsonl"), "-c", str(config))
    assert imported.exit_code == 2 and "newer" in imported.stderr
    exported = cli("export", "--database", str(path))
    assert exported.exit_code == 2 and "newer" in exported.stderr
    assert digest(path) == before


def test_missing_database(tmp_path: Path) -> None:
    for args in (["db", "check"], ["db", "backup", str(tmp_path / "copy.db")], ["export"]):
        done = cli(*args, "--database", str(tmp_path / "none.db"))
        assert done.exit_code == 2, args
        assert "no database at" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.fault(
    "the database locked by another process", expected="status, export and run exit 1 with a message, no traceback"
)
def test_a_database_locked_by_another_process_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """Every command meets a database another process holds (past the 5 s busy timeout) with exit 1 and a
    message; the daemon refuses to start the same way."""
    db = tmp_path / "pa.db"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"agent: {{database: {db}}}\nendpoints: [{{id: a, tcp: '127.0.0.1:9'}}]\n")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # a rollback-journal lock blocks readers too
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # The three wait out the busy timeout side by side (each is its own process): 5 s, not 15.
        commands = (["status"], ["export"], ["run"])
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "probe_agent.cli", *command, "-c", str(cfg)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in commands
        ]
        try:
            for command, proc in zip(commands, procs, strict=True):
                _, stderr = proc.communicate(timeout=60)
                assert proc.returncode == 1, (command, stderr)
                assert f"{db}: the database is locked by another process (waited 5 s); try again" in stderr
                assert "Traceback" not in stderr and f"{db}: {db}" not in stderr
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
