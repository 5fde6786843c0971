"""The SQLite schema, its migrations, and the one way to open a connection (``open_db``).

Tables (all times integer epoch milliseconds UTC, intervals half-open ``[start, end)``):

- ``runs``: one row per daemon run of an agent id. ``heartbeat_ms`` advances while it lives; ``stopped_ms`` and
  ``clean`` stay NULL until it stops (clean = 1) or a later start-up finds it dead (clean = 0, stopped_ms = last
  heartbeat).
- ``results``: raw probe results, one per probe (the natural key ``(agent, endpoint, ts_ms)`` is unique: probes
  of one endpoint never overlap). ``phases`` is a JSON object of milliseconds, ``recheck`` 0/1, ``run_id`` NULL
  for imported data. For evidence and statistics only; pruned past retention.
- ``intervals``: the closed spans of each (agent, endpoint) timeline; unique ``(endpoint, agent, start_ms)``.
  Kept forever.
- ``fold_state``: per (agent, endpoint) the JSON snapshot of the measurement fold (open interval, pending
  suspect run), so a restart resumes it. Written in the same transaction as the results it came from.
- ``rollups``: per (endpoint, hour_ms, agent) counts of up/degraded/down/unknown results with re-checks
  excluded, ``n_recheck`` (re-checks of any outcome) and a latency histogram (a blob, ``store/packed_histograms.py``;
  JSON, ``LatencyHistogram.to_dict``, before m007) over up/degraded results including re-checks.
- ``rollup_marks``: the hours (``hour_ms``) whose rollups were rebuilt for every agent and endpoint after the hour
  had ended; only those hours are read from ``rollups``, any other hour is summed from raw results.
- ``rollup_days``: the same sums per (endpoint, day_ms, agent) over a UTC day, built from the day's 24 hourly
  rollups; ``rollup_day_marks``: the days whose 24 hours were all marked when the day was built (a rebuild of any
  of its hours removes the day's mark until the day is built again); only those days are read from ``rollup_days``.
- ``config_snapshots``: configs by hash (secrets removed by the caller); ``config_activations`` records each time
  a config took effect for an agent (a config can come back after a reload).
- ``exclusions``: append-only (triggers refuse DELETE and any UPDATE other than setting ``revoked_ms`` /
  ``revoked_by`` once).
- ``closed_cycles``: immutable closed billing cycles, unique ``(sla, cycle_start_ms)``; triggers refuse UPDATE,
  DELETE, and an INSERT whose key or id is taken (so ``INSERT OR REPLACE`` cannot overwrite one).
- ``outbox``: notification deliveries, one row per (event id, channel), unique; written in the transaction of the
  state change that caused the event (``store/outbox.py``). ``status`` pending -> sent | failed (permanently) |
  summarised (held by the rate limit and counted in a summary message); ``last_error`` is secret-free.
- ``write_rejects``: submissions the writer could not store because their data broke a constraint, kept as JSON
  so nothing is dropped silently.

The applied migrations are recorded by ``sqlite_utils.Migrations`` in ``_sqlite_migrations`` and mirrored in
``PRAGMA user_version``. A database that has a migration this code does not know is refused (``SchemaTooNew``)
before anything is written to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from probe_agent.latency import LatencyHistogram, bucket_of
from probe_agent.store.packed_histograms import pack

BUSY_TIMEOUT_MS = 5000
WAL_SIZE_LIMIT = 8 * 1024 * 1024  # bytes a reset WAL file is truncated to
MIGRATION_SET = "probe_agent"
MIGRATIONS_TABLE = sqlite_utils.Migrations.migrations_table

migrations = sqlite_utils.Migrations(MIGRATION_SET)


class StoreError(Exception):
    """A store problem a user can act on; the message says what and how."""


class SchemaTooNew(StoreError):
    """The database was written by a newer probe-agent; this code refuses to read or change it."""


class SchemaOutdated(StoreError):
    """A read-only open found a database that still needs migrations (a writable open applies them)."""


class DatabaseMissing(StoreError, FileNotFoundError):
    """A read-only open of a path that holds no database."""


def _run_all(db: sqlite_utils.Database, version: int, statements: tuple[str, ...]) -> None:
    for sql in statements:
        db.execute(sql)
    # user_version is transactional: it commits or rolls back with the migration and its record.
    db.execute(f"PRAGMA user_version = {version}")


@migrations(name="m001_core")
def _m001_core(db: sqlite_utils.Database) -> None:
    _run_all(
        db,
        1,
        (
            """CREATE TABLE runs (
                run_id INTEGER PRIMARY KEY,
                agent TEXT NOT NULL,
                started_ms INTEGER NOT NULL,
                heartbeat_ms INTEGER NOT NULL,
                stopped_ms INTEGER,
                clean INTEGER CHECK (clean IN (0, 1)),
                pid INTEGER,
                hostname TEXT,
                version TEXT,
                config_hash TEXT
            ) STRICT""",
            "CREATE INDEX runs_agent_started ON runs (agent, started_ms)",
            """CREATE TABLE results (
                id INTEGER PRIMARY KEY,
                agent TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('up', 'degraded', 'down', 'unknown')),
                latency_ms REAL CHECK (latency_ms >= 0),
                status_code INTEGER,
                error_kind TEXT,
                detail TEXT NOT NULL DEFAULT '',
                phases TEXT NOT NULL DEFAULT '{}',
                tls_days_left REAL,
                recheck INTEGER NOT NULL DEFAULT 0 CHECK (recheck IN (0, 1)),
                run_id INTEGER REFERENCES runs (run_id)
            ) STRICT""",
            # Endpoint first: the same index serves (agent, endpoint) lookups and per-endpoint scans.
            "CREATE UNIQUE INDEX results_endpoint_agent_ts ON results (endpoint, agent, ts_ms)",
            "CREATE INDEX results_ts ON results (ts_ms)",
            """CREATE TABLE intervals (
                id INTEGER PRIMARY KEY,
                agent TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                start_ms INTEGER NOT NULL,
                end_ms INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'unknown', 'no_data')),
                cause TEXT,
                outage_start_ms INTEGER,
                CHECK (end_ms > start_ms)
            ) STRICT""",
            "CREATE UNIQUE INDEX intervals_endpoint_agent_start ON intervals (endpoint, agent, start_ms)",
            """CREATE TABLE fold_state (
                agent TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                snapshot TEXT NOT NULL,
                updated_ms INTEGER NOT NULL,
                PRIMARY KEY (agent, endpoint)
            ) STRICT, WITHOUT ROWID""",
            """CREATE TABLE write_rejects (
                id INTEGER PRIMARY KEY,
                rejected_ms INTEGER NOT NULL,
                error TEXT NOT NULL,
                payload TEXT NOT NULL
            ) STRICT""",
        ),
    )


@migrations(name="m002_rollups")
def _m002_rollups(db: sqlite_utils.Database) -> None:
    _run_all(
        db,
        2,
        (
            """CREATE TABLE rollups (
                endpoint TEXT NOT NULL,
                hour_ms INTEGER NOT NULL,
                agent TEXT NOT NULL,
                n_up INTEGER NOT NULL,
                n_degraded INTEGER NOT NULL,
                n_down INTEGER NOT NULL,
                n_unknown INTEGER NOT NULL,
                n_recheck INTEGER NOT NULL,
                histogram TEXT NOT NULL,
                PRIMARY KEY (endpoint, hour_ms, agent)
            ) STRICT, WITHOUT ROWID""",
            "CREATE INDEX rollups_hour ON rollups (hour_ms)",
            """CREATE TABLE rollup_marks (
                hour_ms INTEGER PRIMARY KEY,
                built_ms INTEGER NOT NULL
            ) STRICT""",
        ),
    )


@migrations(name="m003_sla_records")
def _m003_sla_records(db: sqlite_utils.Database) -> None:
    _run_all(
        db,
        3,
        (
            """CREATE TABLE config_snapshots (
                hash TEXT PRIMARY KEY,
                config TEXT NOT NULL,
                first_seen_ms INTEGER NOT NULL
            ) STRICT""",
            """CREATE TABLE config_activations (
                id INTEGER PRIMARY KEY,
                agent TEXT NOT NULL,
                hash TEXT NOT NULL REFERENCES config_snapshots (hash),
                effective_ms INTEGER NOT NULL,
                run_id INTEGER REFERENCES runs (run_id)
            ) STRICT""",
            "CREATE INDEX config_activations_agent ON config_activations (agent, effective_ms)",
            """CREATE TABLE exclusions (
                id INTEGER PRIMARY KEY,
                scope_kind TEXT NOT NULL CHECK (scope_kind IN ('sla', 'service', 'endpoint')),
                scope_id TEXT NOT NULL,
                start_ms INTEGER NOT NULL,
                end_ms INTEGER NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('maintenance', 'customer', 'force_majeure')),
                reason TEXT NOT NULL,
                author TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                revoked_ms INTEGER,
                revoked_by TEXT,
                CHECK (end_ms > start_ms)
            ) STRICT""",
            """CREATE TRIGGER exclusions_append_only BEFORE DELETE ON exclusions
               BEGIN SELECT RAISE(ABORT, 'exclusions are append-only: revoke instead of deleting'); END""",
            """CREATE TRIGGER exclusions_revoke_only BEFORE UPDATE ON exclusions
               WHEN OLD.revoked_ms IS NOT NULL OR NEW.revoked_ms IS NULL OR NEW.revoked_by IS NULL
                 OR NEW.id IS NOT OLD.id OR NEW.scope_kind IS NOT OLD.scope_kind OR NEW.scope_id IS NOT OLD.scope_id
                 OR NEW.start_ms IS NOT OLD.start_ms OR NEW.end_ms IS NOT OLD.end_ms OR NEW.kind IS NOT OLD.kind
                 OR NEW.reason IS NOT OLD.reason OR NEW.author IS NOT OLD.author
                 OR NEW.created_ms IS NOT OLD.created_ms
               BEGIN SELECT RAISE(ABORT, 'an exclusion can only be revoked, once'); END""",
            """CREATE TABLE closed_cycles (
                id INTEGER PRIMARY KEY,
                sla TEXT NOT NULL,
                cycle_start_ms INTEGER NOT NULL,
                cycle_end_ms INTEGER NOT NULL,
                closed_ms INTEGER NOT NULL,
                inputs_hash TEXT NOT NULL,
                report TEXT NOT NULL,
                credit TEXT NOT NULL,
                UNIQUE (sla, cycle_start_ms)
            ) STRICT""",
            """CREATE TRIGGER closed_cycles_no_update BEFORE UPDATE ON closed_cycles
               BEGIN SELECT RAISE(ABORT, 'closed cycles are immutable'); END""",
            """CREATE TRIGGER closed_cycles_no_delete BEFORE DELETE ON closed_cycles
               BEGIN SELECT RAISE(ABORT, 'closed cycles are immutable'); END""",
        ),
    )


@migrations(name="m004_closed_cycles_no_replace")
def _m004_closed_cycles_no_replace(db: sqlite_utils.Database) -> None:
    # INSERT OR REPLACE deletes the conflicting row without firing DELETE triggers (unless recursive_triggers is
    # on), so the UPDATE/DELETE triggers alone let a closed cycle be overwritten. Refuse any insert whose key
    # (sla, cycle_start_ms) or row id is taken, before conflict resolution can run. NEW.id is -1 in a BEFORE
    # INSERT trigger when no id is given, and rowids here are positive.
    _run_all(
        db,
        4,
        (
            """CREATE TRIGGER closed_cycles_no_replace BEFORE INSERT ON closed_cycles
               WHEN EXISTS (SELECT 1 FROM closed_cycles
                            WHERE (sla = NEW.sla AND cycle_start_ms = NEW.cycle_start_ms) OR id = NEW.id)
               BEGIN SELECT RAISE(ABORT, 'closed cycles are immutable: this cycle is already closed'); END""",
        ),
    )


@migrations(name="m005_latency_buckets_below_0_1ms")
def _m005_latency_buckets_below_0_1ms(db: sqlite_utils.Database) -> None:
    """Latency histograms gained buckets below 0.1 ms (bucket 0 held everything at or below 0.1 ms before).

    Every rollup whose bucket 0 holds samples is re-bucketed from its hour's raw results, where they are still
    stored (pruning removes whole hours); a rollup whose raw results were pruned keeps bucket 0, whose upper edge is
    still 0.1 ms, so it reads no lower than the truth. Counts do not change.
    """
    db.conn.create_function("probe_latency_bucket", 1, bucket_of, deterministic=True)
    same_hour = (
        "results.agent = rollups.agent AND results.endpoint = rollups.endpoint "
        "AND results.ts_ms >= rollups.hour_ms AND results.ts_ms < rollups.hour_ms + 3600000"
    )
    _run_all(
        db,
        5,
        (
            f"""UPDATE rollups SET histogram = (
                SELECT json_group_object(bucket, n) FROM (
                    SELECT probe_latency_bucket(latency_ms) AS bucket, count(*) AS n FROM results
                    WHERE {same_hour} AND outcome IN ('up', 'degraded') AND latency_ms IS NOT NULL
                    GROUP BY bucket ORDER BY bucket))
            WHERE EXISTS (SELECT 1 FROM json_each(rollups.histogram) WHERE key = '0')
              AND EXISTS (SELECT 1 FROM results WHERE {same_hour})""",
        ),
    )


@migrations(name="m006_outbox")
def _m006_outbox(db: sqlite_utils.Database) -> None:
    # IF NOT EXISTS: re-running it (a record of it lost) must not fail on the table it made.
    _run_all(
        db,
        6,
        (
            """CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY, agent TEXT NOT NULL, event_id TEXT NOT NULL, channel TEXT NOT NULL,
                event_type TEXT NOT NULL, summary TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL,
                next_attempt_ms INTEGER NOT NULL, sent_ms INTEGER, attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT, status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'summarised')),
                UNIQUE (event_id, channel))""",
            "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (agent, status, next_attempt_ms)",
        ),
    )


def _packed_from_json(text: str) -> bytes:
    return pack(LatencyHistogram.from_dict(json.loads(text)))


@migrations(name="m007_rollup_days")
def _m007_rollup_days(db: sqlite_utils.Database) -> None:
    """Rollup histograms become packed blobs (summed as integers, not merged bucket by bucket from JSON), and
    rollups gain a daily level, so a month's latency objective reads 30 rows per endpoint instead of 720.

    Existing hourly rows are converted (same counts, same buckets); no day is built here: the daemon's hourly
    rollup job (and ``import``, and retention) builds every day whose 24 hours are marked, and until a day is built
    reports read its hours, with the same figures.
    """
    db.conn.create_function("probe_packed_from_json", 1, _packed_from_json, deterministic=True)
    sums = "n_up INTEGER NOT NULL, n_degraded INTEGER NOT NULL, n_down INTEGER NOT NULL, n_unknown INTEGER NOT NULL, "
    sums += "n_recheck INTEGER NOT NULL, histogram BLOB NOT NULL"
    # Re-runnable (its record lost, as m006): the hourly table is converted only while its histograms are JSON.
    types = {str(row[1]): str(row[2]) for row in db.conn.execute("PRAGMA table_info(rollups)")}
    convert = (
        "DROP INDEX rollups_hour",
        "ALTER TABLE rollups RENAME TO rollups_m006",
        f"""CREATE TABLE rollups (endpoint TEXT NOT NULL, hour_ms INTEGER NOT NULL, agent TEXT NOT NULL, {sums},
            PRIMARY KEY (endpoint, hour_ms, agent)) STRICT, WITHOUT ROWID""",
        "INSERT INTO rollups SELECT endpoint, hour_ms, agent, n_up, n_degraded, n_down, n_unknown, n_recheck, "
        "probe_packed_from_json(histogram) FROM rollups_m006",
        "DROP TABLE rollups_m006",
        "CREATE INDEX rollups_hour ON rollups (hour_ms)",
    )
    _run_all(
        db,
        7,
        (
            *(convert if types.get("histogram") == "TEXT" else ()),
            f"""CREATE TABLE IF NOT EXISTS rollup_days (endpoint TEXT NOT NULL, day_ms INTEGER NOT NULL,
                agent TEXT NOT NULL, {sums}, PRIMARY KEY (endpoint, day_ms, agent)) STRICT, WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS rollup_days_day ON rollup_days (day_ms)",
            "CREATE TABLE IF NOT EXISTS rollup_day_marks (day_ms INTEGER PRIMARY KEY, built_ms INTEGER NOT NULL) "
            "STRICT",
        ),
    )


KNOWN_MIGRATIONS = tuple(m.name for m in migrations.pending(sqlite_utils.Database(memory=True, execute_plugins=False)))
SCHEMA_VERSION = len(KNOWN_MIGRATIONS)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction (``BEGIN IMMEDIATE``: takes the write lock up front, waiting up to busy_timeout).

    Commits on success, rolls back on any exception. Not re-entrant.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.execute("COMMIT")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.rollback()


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in the order they ran (reads only)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ).fetchone()
    if exists is None:
        return []
    rows = conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid", (MIGRATION_SET,)
    ).fetchall()
    return [str(name) for (name,) in rows]


def _refuse_if_too_new(conn: sqlite3.Connection, path: Path) -> list[str]:
    applied = applied_migrations(conn)
    unknown = [name for name in applied if name not in KNOWN_MIGRATIONS]
    user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if unknown or user_version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path}: the database schema is newer than this probe-agent knows "
            f"(version {user_version}, unknown migrations: {', '.join(unknown) or 'none'}; this code knows "
            f"version {SCHEMA_VERSION}). Upgrade probe-agent; the database was not changed."
        )
    return applied


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    target = path.resolve().as_uri() + ("?mode=ro" if readonly else "")
    # isolation_level=None: no implicit transactions; writes use transaction(), reads may use snapshot().
    conn = sqlite3.connect(target, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _probe_version(path: Path) -> None:
    """Refuse a too-new database through a read-only connection, so the file cannot be touched."""
    conn = _connect(path, readonly=True)
    try:
        _refuse_if_too_new(conn, path)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreError(
                f"{path}: the database is locked by another process (waited {BUSY_TIMEOUT_MS // 1000} s); try again"
            ) from exc
        raise StoreError(f"{path}: cannot read the database ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable SQLite database ({exc})") from exc
    finally:
        conn.close()


def _set_pragmas(conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: could not switch to WAL journal mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Behind a long reader (a 30 s report) the WAL cannot be reset and grows (73 MB was seen); once the reader is
    # gone the next checkpoint resets it, and this limit makes SQLite truncate the file back instead of keeping it.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


def open_db(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the store with WAL, ``synchronous=FULL``, a 5 s busy timeout and foreign keys on.

    A writable open creates the file if needed and applies pending migrations (in one ``BEGIN IMMEDIATE``
    transaction, so two processes starting together migrate once). A read-only open never creates or changes
    the file: a missing file raises ``DatabaseMissing``, pending migrations raise ``SchemaOutdated``. Either
    way a schema newer than this code raises ``SchemaTooNew`` before anything is written.

    The connection is in autocommit mode (``isolation_level=None``): wrap writes in ``transaction(conn)``.
    """
    path = Path(path)
    if readonly and not path.is_file():
        raise DatabaseMissing(f"{path}: no probe-agent database here (nothing was created)")
    if path.is_file() and path.stat().st_size > 0:
        _probe_version(path)
    conn = _connect(path, readonly=readonly)
    try:
        _set_pragmas(conn, path, readonly=readonly)
        if readonly:
            applied = _refuse_if_too_new(conn, path)
            if len(applied) < SCHEMA_VERSION:
                raise SchemaOutdated(
                    f"{path}: the database needs migrations ({SCHEMA_VERSION - len(applied)} pending); "
                    "start the daemon or run any writing command once to apply them"
                )
        else:
            _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    # Re-checked under the write lock: another process may have migrated since the read-only probe.
    with transaction(conn):
        _refuse_if_too_new(conn, path)
        migrations.apply(sqlite_utils.Database(conn, execute_plugins=False))


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])
