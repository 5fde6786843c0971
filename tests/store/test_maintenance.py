"""Online backup and the read-only health check."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from probe_agent.store import DatabaseMissing, StoreWriter, open_db, transaction
from probe_agent.store.maintenance import backup, check
from probe_agent.store.schema import SCHEMA_VERSION

from .conftest import T0, interval, result


def test_backup_of_a_live_store_is_consistent_and_checks_ok(db_path: Path, tmp_path: Path) -> None:
    writer = StoreWriter(db_path, flush_interval=0.05)
    writer.start()
    try:
        writer.submit([result(T0 + i) for i in range(100)], [interval(T0, T0 + 100)], {("ams", "api"): {"n": 100}})
        writer.flush()
        writer.submit([result(T0 + 1000 + i) for i in range(50)])  # still writing while we copy
        dest = tmp_path / "copy.db"
        backup(db_path, dest)
    finally:
        writer.close()
    report = check(dest)
    assert report["ok"] and report["integrity"] == ["ok"]
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["rows"]["results"] in (100, 150)  # a snapshot: before or after the second batch, nothing between
    assert report["rows"]["intervals"] == 1 and report["rows"]["fold_state"] == 1
    assert report["file_bytes"] == report["page_size"] * report["page_count"]
    conn = open_db(dest, readonly=True)  # the copy is a working store
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == report["rows"]["results"]
    conn.close()


def test_backup_never_overwrites(db_path: Path, tmp_path: Path) -> None:
    open_db(db_path).close()
    dest = tmp_path / "exists.db"
    dest.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        backup(db_path, dest)
    assert dest.read_bytes() == b"precious"


def test_check_reports_counts_on_a_live_file(conn: sqlite3.Connection, db_path: Path) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (0, 1)")
    report = check(db_path)
    assert report["rows"]["rollup_marks"] == 1
    assert report["rows"]["results"] == 0
    assert report["wal_bytes"] > 0  # the open writer has not checkpointed yet


def test_check_reads_a_newer_schema_without_changing_it(db_path: Path) -> None:
    conn = open_db(db_path)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    assert check(db_path)["schema_version"] == 42
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_check_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        check(tmp_path / "none.db")
    assert list(tmp_path.iterdir()) == []
