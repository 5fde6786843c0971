"""What people will do gets an error that says what to do, never a traceback (issue 13, item 11): a database in a
directory that does not exist, a locked database, an unwritable --output; and config messages that speak of the
key, not of a regex."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.store import schema

CONFIG = """\
agent: {{id: e1, database: "{db}"}}
endpoints:
  - {{id: web, tcp: "127.0.0.1:9"}}
services:
  - {{id: shop, endpoints: [web]}}
slas:
  - {{id: gold, services: [shop], target: 99.9%, cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}}}
"""
ADD = ["exclusions", "add", "--sla", "gold", "--from", "2026-11-02", "--to", "2026-11-03", "--kind", "customer",
       "--reason", "r"]  # fmt: skip


def config(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(db=db))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("command", [ADD, ["import", "{results}"]])
def test_a_database_in_a_missing_directory(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "no" / "such" / "dir" / "x.db"
    results = tmp_path / "r.jsonl"
    results.write_text('{"ts":"2026-11-01T00:00:00Z","endpoint":"web","outcome":"up"}\n')
    code, out = run(*(a.format(results=results) for a in command), "-c", str(config(tmp_path, db)))
    assert code == 2
    assert f"{db}: its directory {db.parent} does not exist (create it, or correct agent.database)" in out
    assert not (tmp_path / "no").exists()


def test_a_locked_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "x.db"
    schema.open_db(db).close()
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, out = run(*ADD, "-c", str(config(tmp_path, db)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1
    assert "database is locked (another process holds it; try again)" in out


@pytest.mark.parametrize("target", ["/nonexistent/dir/out.txt", "/proc/out.txt"])
def test_an_unwritable_output(tmp_path: Path, target: str) -> None:
    db = tmp_path / "x.db"
    schema.open_db(db).close()
    code, out = run("status", "-c", str(config(tmp_path, db)), "-o", target)
    assert code == 2 and f"cannot write {target}: " in out


def test_config_messages_speak_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        'endpoints:\n  - {id: "we b", tcp: "127.0.0.1:9"}\nservices:\n  - {id: shop, endpoints: ["we b"]}\n'
        "slas:\n  - {id: gold, services: [shop], target: 99.9%, credits: {fee: '1', currency: eur, tiers: []},\n"
        "     cycle: {period: monthly, anchor_day: 1, timezone: UTC}}\n"
    )
    code, out = run("config", "validate", "-c", str(path))
    assert code == 2
    assert "endpoints[0].id: not a valid id\n" in out
    assert "hint: ids use letters, digits, '.', '_', ':' and '-', starting with a letter or digit" in out
    assert "slas[0].credits.currency: use an ISO 4217 code such as EUR (three capital letters)" in out
    assert "pattern" not in out and "^[" not in out


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs of its own (root only: skipped where mounting is not allowed), unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True,
                             timeout=30, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30, check=False)


def test_a_full_disk_and_a_read_only_file_system(tmp_path: Path, small_fs: Path) -> None:
    path = config(tmp_path, small_fs / "x.db")
    assert run(*ADD, "-c", str(path))[0] == 0
    with (small_fs / "fill").open("wb") as fill, contextlib.suppress(OSError):
        fill.write(b"\0" * 400_000)  # all that is left: ENOSPC at the end
    code, out = run(*ADD[:-1], "x" * 5000, "-c", str(path))
    assert code == 1 and "database or disk is full (free space on its file system)" in out
    (small_fs / "fill").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True, capture_output=True, timeout=30)
    code, out = run(*ADD, "-c", str(path))
    assert code == 1 and "attempt to write a readonly database (the file or its directory is not writable" in out
    code, out = run("exclusions", "list", "-c", str(path), "--format", "json")  # reading still works
    assert code == 0 and '"id": 1' in out
