"""Schema creation, migrations and refusal of newer schemas, on real files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from probe_agent.latency import upper_edge
from probe_agent.store import DatabaseMissing, SchemaOutdated, SchemaTooNew, StoreError, open_db, transaction
from probe_agent.store.packed_histograms import unpack
from probe_agent.store.schema import (
    KNOWN_MIGRATIONS,
    MIGRATION_SET,
    MIGRATIONS_TABLE,
    SCHEMA_VERSION,
    applied_migrations,
    migrations,
    schema_version,
)

EXPECTED_TABLES = {
    "runs",
    "results",
    "intervals",
    "fold_state",
    "rollups",
    "rollup_marks",
    "rollup_days",
    "rollup_day_marks",
    "config_snapshots",
    "config_activations",
    "exclusions",
    "closed_cycles",
    "write_rejects",
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_database_has_every_table_and_the_current_version(db_path: Path) -> None:
    conn = open_db(db_path)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= EXPECTED_TABLES
    assert schema_version(conn) == SCHEMA_VERSION == len(KNOWN_MIGRATIONS) == 7
    assert applied_migrations(conn) == list(KNOWN_MIGRATIONS)
    conn.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_every_connection_gets_wal_full_sync_busy_timeout_and_foreign_keys(db_path: Path, readonly: bool) -> None:
    open_db(db_path).close()
    conn = open_db(db_path, readonly=readonly)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn.close()


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    open_db(db_path).close()
    conn = open_db(db_path)
    rows = conn.execute(f"SELECT count(*) FROM {MIGRATIONS_TABLE}").fetchone()[0]
    assert rows == SCHEMA_VERSION
    conn.close()


def test_an_older_database_is_migrated_and_keeps_its_data(db_path: Path) -> None:
    old = sqlite3.connect(db_path, isolation_level=None)
    migrations.apply(sqlite_utils.Database(old, execute_plugins=False), stop_before="m002_rollups")
    old.execute(
        "INSERT INTO results (agent, endpoint, ts_ms, outcome, latency_ms) VALUES ('ams', 'api', 1000, 'up', 5.0)"
    )
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    old.close()

    conn = open_db(db_path)
    assert applied_migrations(conn) == list(KNOWN_MIGRATIONS)
    assert schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT agent, endpoint, ts_ms FROM results").fetchall() == [("ams", "api", 1000)]
    assert conn.execute("SELECT count(*) FROM rollups").fetchone()[0] == 0
    conn.close()


def test_rollups_from_before_the_buckets_below_0_1ms_are_rebucketed_from_raw_results(db_path: Path) -> None:
    # Before m005 bucket 0 held every latency at or below 0.1 ms. Hour 0 still has its raw results: 0.02 ms and
    # 0.05 ms (both stored in bucket 0), 3.0 ms (bucket 70) and a down result. Hour 1's raw results were pruned.
    hour = 3_600_000
    old = sqlite3.connect(db_path, isolation_level=None)
    migrations.apply(sqlite_utils.Database(old, execute_plugins=False), stop_before="m005_latency_buckets_below_0_1ms")
    for ts, outcome, latency in (
        (0, "up", 0.02),
        (60_000, "up", 0.05),
        (120_000, "degraded", 3.0),
        (180_000, "down", None),
    ):
        old.execute(
            "INSERT INTO results (agent, endpoint, ts_ms, outcome, latency_ms) VALUES ('ams', 'api', ?, ?, ?)",
            (ts, outcome, latency),
        )
    insert = "INSERT INTO rollups VALUES ('api', ?, 'ams', ?, ?, 1, 0, 0, ?)"
    old.execute(insert, (0, 2, 1, '{"0":2,"70":1}'))
    old.execute(insert, (hour, 2, 0, '{"0":2}'))
    old.execute("INSERT INTO rollup_marks VALUES (0, ?), (?, ?)", (2 * hour, hour, 2 * hour))
    old.close()

    conn = open_db(db_path)
    rows = dict(conn.execute("SELECT hour_ms, histogram FROM rollups").fetchall())
    # 0.02 ms: 0.1 x 1.05^-33 = 0.01997 < 0.02 <= 0.1 x 1.05^-32 = 0.02097; 0.05 ms: 0.04810 < 0.05 <= 0.05051.
    assert unpack(rows[0]).to_dict() == {"-32": 1, "-14": 1, "70": 1}  # packed since m007
    assert upper_edge(-33) < 0.02 <= upper_edge(-32) and upper_edge(-15) < 0.05 <= upper_edge(-14)
    assert unpack(rows[hour]).to_dict() == {"0": 2}  # nothing to re-bucket from: reads 0.1 ms, as before
    counts = conn.execute("SELECT n_up, n_degraded, n_down FROM rollups WHERE hour_ms = 0").fetchone()
    assert counts == (2, 1, 1)
    conn.close()


def test_read_only_open_of_an_older_database_refuses_without_migrating(db_path: Path) -> None:
    old = sqlite3.connect(db_path, isolation_level=None)
    migrations.apply(sqlite_utils.Database(old, execute_plugins=False), stop_before="m002_rollups")
    old.close()
    before = _digest(db_path)
    with pytest.raises(SchemaOutdated, match=f"{SCHEMA_VERSION - 1} pending"):
        open_db(db_path, readonly=True)
    assert _digest(db_path) == before


def _make_too_new(db_path: Path, *, via: str) -> None:
    conn = open_db(db_path)
    with transaction(conn):
        if via == "migration":
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) VALUES (?, 'm099_future', 'x')",
                (MIGRATION_SET,),
            )
        else:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


@pytest.mark.parametrize("via", ["migration", "user_version"])
@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_schema_is_refused_and_the_file_stays_byte_identical(db_path: Path, via: str, readonly: bool) -> None:
    _make_too_new(db_path, via=via)
    assert not db_path.with_name(db_path.name + "-wal").exists()  # fully checkpointed: the file is everything
    before, mtime = _digest(db_path), db_path.stat().st_mtime_ns
    with pytest.raises(SchemaTooNew, match="newer than this probe-agent knows"):
        open_db(db_path, readonly=readonly)
    assert _digest(db_path) == before
    assert db_path.stat().st_mtime_ns == mtime


def test_a_newer_schema_in_rollback_journal_mode_is_not_switched_to_wal(db_path: Path) -> None:
    # Switching to WAL rewrites header bytes: the refusal must come first.
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = _digest(db_path)
    with pytest.raises(SchemaTooNew):
        open_db(db_path)
    assert _digest(db_path) == before


def test_read_only_open_of_a_missing_file_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(DatabaseMissing, match="nothing was created"):
        open_db(missing, readonly=True)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        open_db(junk)
    assert junk.read_bytes() == b"this is not a database, just text " * 100


def test_read_only_connection_cannot_write(db_path: Path) -> None:
    open_db(db_path).close()
    conn = open_db(db_path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (0, 0)")
    conn.close()


def test_transaction_rolls_back_on_error(conn: sqlite3.Connection) -> None:
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (0, 0)")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM rollup_marks").fetchone()[0] == 0
    assert not conn.in_transaction


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO intervals (agent, endpoint, start_ms, end_ms, state) VALUES ('a', 'e', 5, 5, 'up')", "CHECK"),
        ("INSERT INTO intervals (agent, endpoint, start_ms, end_ms, state) VALUES ('a', 'e', 1, 5, 'sad')", "CHECK"),
        ("INSERT INTO results (agent, endpoint, ts_ms, outcome) VALUES ('a', 'e', 1, 'maybe')", "CHECK"),
        ("INSERT INTO results (agent, endpoint, ts_ms, outcome, run_id) VALUES ('a', 'e', 1, 'up', 42)", "FOREIGN"),
        ("INSERT INTO results (agent, endpoint, ts_ms, outcome) VALUES ('a', 'e', 'soon', 'up')", "cannot store"),
    ],
)
def test_constraints_reject_bad_rows(conn: sqlite3.Connection, sql: str, message: str) -> None:
    with pytest.raises(sqlite3.IntegrityError, match=message):
        conn.execute(sql)


@pytest.mark.fault(
    "a long reader while the writer writes 24 MiB",
    expected="the WAL is truncated back to 8 MiB once the reader is gone",
)
def test_the_wal_shrinks_back_after_a_long_reader(tmp_path: Path) -> None:
    """A reader holding a snapshot stops the WAL from being reset, so it grows past the limit; once the reader is
    gone, the next checkpoint resets it and journal_size_limit truncates the file back."""
    from probe_agent.store.schema import WAL_SIZE_LIMIT, open_db

    path = tmp_path / "pa.db"
    writer = open_db(path)
    writer.execute("CREATE TABLE blobs (b BLOB)")
    wal = tmp_path / "pa.db-wal"
    reader = open_db(path, readonly=True)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM blobs").fetchone()  # the snapshot is now pinned
    for _ in range(48):
        writer.execute("INSERT INTO blobs VALUES (zeroblob(512 * 1024))")
    grown = wal.stat().st_size
    assert grown > 2 * WAL_SIZE_LIMIT  # 24 MiB written behind the reader
    reader.execute("COMMIT")
    reader.close()
    for _ in range(4):  # ordinary writing goes on; the auto-checkpoint resets the WAL
        writer.execute("INSERT INTO blobs VALUES (zeroblob(1024))")
    writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    writer.execute("INSERT INTO blobs VALUES (zeroblob(1024))")  # the first write after a reset truncates
    assert wal.stat().st_size <= WAL_SIZE_LIMIT < grown
    writer.close()
