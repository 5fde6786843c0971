"""``import``'s staging file: a file's checked results in a private temporary SQLite file, so that ``import`` holds
one batch of results in memory, never the whole file.

Rows go in as they are read, a batch at a time, in the store's own result columns (``rows.result_row``) plus the
file line they came from. ``sort()`` then copies them once in (agent, endpoint, ts, line) order (SQLite's own
external sort, in bounded memory), so that each (agent, endpoint) is one range of rowids with its results in ts
order and an in-file duplicate right after the result it repeats. The store attaches the file at the end and copies
each pair's new results with one ``INSERT .. SELECT`` (``copy_pair``), never passing them through Python again.

The file is private (created by ``mkstemp``, removed by ``close()``); durability does not matter for it, so it is
written without a journal or fsync.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from probe_agent.store.rows import ResultRow

# Page cache of the store's connection while import writes and rebuilds rollups (KiB; SQLite's default is 2 MB).
# A million results take about 170 MB in the store, inserted pair by pair: the ts index and the hourly rollup scans
# then touch pages all over the file, and with 2 MB nearly every touch was a read from the OS (the store pass and
# the rollups took 29 of 59 CPU seconds, growing faster than the file; 64 MB brought them to 22). A fixed size, so
# memory still does not depend on the file; 32 MB, because 64 MB took the import's peak RSS to 158 MB, near the
# 200 MB it must stay under.
IMPORT_CACHE_KIB = 32_768
STAGE_SCHEMA = "import_stage"  # the name the staging file is attached under in the store's connection
_VALUES = "agent, endpoint, ts_ms, outcome, latency_ms, status_code, error_kind, detail, phases, tls_days_left, recheck"
_COLUMNS = f"line, {_VALUES}"

# One staged row as read back: (rowid, line, agent, endpoint, ts_ms, outcome, .., recheck): the store's result
# columns (``rows.RESULT_COLUMNS`` without ``run_id``) from index 2 on.
StagedRow = tuple[Any, ...]


class Staging:
    """The staging file, open for writing until ``sort()``, for reading after. Always ``close()`` it."""

    def __init__(self, directory: Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix=".probe-agent-import-", suffix=".db", dir=directory)
        os.close(fd)
        self.path = Path(name)
        try:
            self._conn = sqlite3.connect(name, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode = OFF")
            self._conn.execute("PRAGMA synchronous = OFF")
            self._conn.execute(f"CREATE TABLE staged ({_COLUMNS})")
            self._conn.execute("BEGIN")
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        self._sorted = False
        # Removed even if the owner forgets close(): when this object is collected, or at exit.
        self._cleanup = weakref.finalize(self, _remove, self._conn, self.path)

    def add(self, line_rows: Sequence[tuple[int, ResultRow]]) -> None:
        """Stage ``(line, rows.result_row(result, None))`` pairs (the row's ``run_id`` is dropped)."""
        self._conn.executemany(
            f"INSERT INTO staged ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(line, *row[:11]) for line, row in line_rows],
        )

    def sort(self) -> None:
        """Copy the staged rows in (agent, endpoint, ts, line) order; reading is possible from here on."""
        self._conn.execute(
            f"CREATE TABLE sorted AS SELECT {_COLUMNS} FROM staged ORDER BY agent, endpoint, ts_ms, line"
        )
        self._conn.execute("DROP TABLE staged")
        self._conn.execute("COMMIT")
        self._sorted = True

    def rows(self, first: int = 1, last: int | None = None) -> Iterator[StagedRow]:
        """The sorted rows with rowid in ``[first, last]`` (default: all), in order, one at a time."""
        assert self._sorted, "sort() first"
        cursor = self._conn.execute(
            f"SELECT rowid, {_COLUMNS} FROM sorted WHERE rowid BETWEEN ? AND coalesce(?, 9223372036854775807) "
            "ORDER BY rowid",
            (first, last),
        )
        try:
            yield from cursor
        finally:
            cursor.close()

    def close(self) -> None:
        self._cleanup()


def _remove(conn: sqlite3.Connection, path: Path) -> None:
    conn.close()
    path.unlink(missing_ok=True)


def attach(conn: sqlite3.Connection, staging: Staging) -> None:
    """Make the (sorted) staging file readable from the store's connection as ``STAGE_SCHEMA`` (outside a
    transaction). ``detach`` when done."""
    conn.execute(f"ATTACH DATABASE ? AS {STAGE_SCHEMA}", (str(staging.path),))


def detach(conn: sqlite3.Connection) -> None:
    conn.execute(f"DETACH DATABASE {STAGE_SCHEMA}")


def copy_pair(conn: sqlite3.Connection, first: int, last: int) -> int:
    """Inside the caller's transaction: insert the attached staging rows ``[first, last]`` (one pair, sorted) as
    results without a run; a (endpoint, agent, ts) already stored, or staged twice, keeps its first row (the caller
    checked they are identical). Returns how many results were inserted."""
    before = conn.total_changes
    conn.execute(
        f"INSERT INTO main.results ({_VALUES}, run_id) SELECT {_VALUES}, NULL FROM {STAGE_SCHEMA}.sorted "
        "WHERE rowid BETWEEN ? AND ? ORDER BY rowid ON CONFLICT (endpoint, agent, ts_ms) DO NOTHING",
        (first, last),
    )
    return conn.total_changes - before


@contextmanager
def import_cache(conn: sqlite3.Connection, kib: int = IMPORT_CACHE_KIB) -> Iterator[None]:
    """The store connection's page cache at ``kib`` while the block runs (outside a transaction), then as it was."""
    (before,) = conn.execute("PRAGMA cache_size").fetchone()
    conn.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")
