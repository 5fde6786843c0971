"""Backup, health check and retention of the store file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from probe_agent.model import HOUR_MS
from probe_agent.store.queries import floor_hour
from probe_agent.store.rollups import build_missing_days, rebuild_rollups, unmarked_hours
from probe_agent.store.schema import (
    BUSY_TIMEOUT_MS,
    DatabaseMissing,
    applied_migrations,
    open_db,
    schema_version,
    transaction,
)

TABLES = (
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
)
PRUNE_CHUNK_ROWS = 20_000


def backup(src_path: str | Path, dest_path: str | Path) -> None:
    """Write a consistent copy of a live store to ``dest_path`` (``VACUUM INTO``: one read snapshot, compacted).

    Refuses (FileExistsError) to overwrite an existing file. The daemon may keep writing meanwhile.
    """
    dest = Path(dest_path)
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; backup never overwrites a file")
    conn = open_db(src_path, readonly=True)
    try:
        conn.execute("VACUUM INTO ?", (str(dest),))
    finally:
        conn.close()


def check(path: str | Path) -> dict[str, Any]:
    """Read-only health report: integrity, schema version, sizes and row counts.

    Works on any SQLite file, including one with a newer or older schema (it only reads). Keys: ``ok``,
    ``integrity`` (the messages of ``PRAGMA integrity_check``; ``["ok"]`` when sound), ``schema_version``,
    ``migrations``, ``file_bytes``, ``wal_bytes``, ``page_size``, ``page_count``, ``freelist_count``, ``rows``
    (table name to count, for the tables that exist).
    """
    path = Path(path)
    if not path.is_file():
        raise DatabaseMissing(f"{path}: no probe-agent database here")
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        integrity = [str(msg) for (msg,) in conn.execute("PRAGMA integrity_check")]
        existing = {str(name) for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES if t in existing}
        wal = path.with_name(path.name + "-wal")
        return {
            "path": str(path),
            "ok": integrity == ["ok"],
            "integrity": integrity,
            "schema_version": schema_version(conn),
            "migrations": applied_migrations(conn),
            "file_bytes": path.stat().st_size,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "page_size": int(conn.execute("PRAGMA page_size").fetchone()[0]),
            "page_count": int(conn.execute("PRAGMA page_count").fetchone()[0]),
            "freelist_count": int(conn.execute("PRAGMA freelist_count").fetchone()[0]),
            "rows": rows,
        }
    finally:
        conn.close()


def prune_results(conn: sqlite3.Connection, older_than_ms: int, keep_after_ms: int) -> int:
    """Delete raw results before ``min(older_than_ms, keep_after_ms)``, rounded down to the hour; returns rows.

    ``older_than_ms`` is the retention cut-off; ``keep_after_ms`` the start of the oldest cycle that is still
    open or inside its claim window (the caller works it out). Only whole hours are pruned, and every hour is
    rolled up first if it was not (and so is every day all of whose hours are), so statistics survive the raw rows.
    Intervals and rollups (hourly and daily) are never pruned.
    Deletes in chunks of short transactions, so a running daemon is not held up.
    """
    cutoff = floor_hour(min(older_than_ms, keep_after_ms))
    for hour_ms in unmarked_hours(conn, cutoff):
        rebuild_rollups(conn, hour_ms, hour_ms + HOUR_MS, complete_before_ms=cutoff)
    build_missing_days(conn, cutoff)
    deleted = 0
    while True:
        with transaction(conn):
            cur = conn.execute(
                "DELETE FROM results WHERE id IN "
                "(SELECT id FROM results INDEXED BY results_ts WHERE ts_ms < ? ORDER BY ts_ms LIMIT ?)",
                (cutoff, PRUNE_CHUNK_ROWS),
            )
        deleted += cur.rowcount
        if cur.rowcount < PRUNE_CHUNK_ROWS:
            return deleted
