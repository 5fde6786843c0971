"""Writes outside the hot path: runs, config snapshots, exclusions, closed cycles and imports.

Each function is one short transaction (``BEGIN IMMEDIATE``), so a CLI process can write while the daemon runs
(the busy timeout covers the daemon's commits). In the daemon, call them through ``StoreWriter.run``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from probe_agent.model import ProbeResult, StateInterval
from probe_agent.store.outbox import OutboxRow, enqueue
from probe_agent.store.rows import (
    DELETE_FOLD_STATE,
    INSERT_INTERVAL,
    INSERT_RESULT,
    INSERT_RESULT_OR_IGNORE,
    UPSERT_FOLD_STATE,
    compact_json,
    interval_row,
    result_row,
)
from probe_agent.store.schema import StoreError, transaction

SCOPE_KINDS = ("sla", "service", "endpoint")
EXCLUSION_KINDS = ("maintenance", "customer", "force_majeure")


class CycleAlreadyClosed(StoreError):
    """A cycle can be closed once; its stored report and credit never change."""


# -- runs ------------------------------------------------------------------------------------------------------


def start_run(
    conn: sqlite3.Connection,
    agent: str,
    pid: int | None,
    hostname: str | None,
    version: str | None,
    config_hash: str | None,
    now_ms: int,
) -> int:
    """Record a new run starting at ``now_ms`` (its first heartbeat); returns its run_id."""
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO runs (agent, started_ms, heartbeat_ms, pid, hostname, version, config_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (agent, now_ms, now_ms, pid, hostname, version, config_hash),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def heartbeat(conn: sqlite3.Connection, run_id: int, now_ms: int) -> bool:
    """Advance a live run's heartbeat (never backwards). False if the run is unknown or already stopped."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE runs SET heartbeat_ms = max(heartbeat_ms, ?) WHERE run_id = ? AND stopped_ms IS NULL",
            (now_ms, run_id),
        )
    return cur.rowcount == 1


def stop_run(conn: sqlite3.Connection, run_id: int, now_ms: int, clean: bool = True) -> bool:
    """Mark a run stopped at ``now_ms`` (also its last heartbeat). False if it was already stopped."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE runs SET stopped_ms = max(heartbeat_ms, ?), heartbeat_ms = max(heartbeat_ms, ?), clean = ? "
            "WHERE run_id = ? AND stopped_ms IS NULL",
            (now_ms, now_ms, 1 if clean else 0, run_id),
        )
    return cur.rowcount == 1


def close_stale_runs(conn: sqlite3.Connection, agent: str, *, except_run_id: int | None = None) -> list[int]:
    """At start-up: mark this agent's runs that never stopped as unclean, ending at their last heartbeat (or their
    last stored result, if that is later).

    Call it after checking ``queries.running_daemon`` (a live daemon's run must not be closed) and pass the new
    run's id as ``except_run_id`` if it already exists. Returns the run_ids it closed.
    """
    with transaction(conn):
        rows = conn.execute(
            "SELECT run_id FROM runs WHERE agent = ? AND stopped_ms IS NULL AND run_id IS NOT ? ORDER BY run_id",
            (agent, except_run_id),
        ).fetchall()
        closed = [int(run_id) for (run_id,) in rows]
        # A crashed run ends at its last sign of life: its last heartbeat, or a result stored after it (results
        # commit every flush interval, heartbeats every few seconds). The fold spoke for those results already.
        conn.executemany(
            "UPDATE runs SET stopped_ms = max(heartbeat_ms, coalesce((SELECT max(ts_ms) FROM results r "
            "WHERE r.run_id = runs.run_id), heartbeat_ms)), clean = 0 WHERE run_id = ?",
            [(r,) for r in closed],
        )
    return closed


# -- config snapshots ------------------------------------------------------------------------------------------


def record_config(
    conn: sqlite3.Connection,
    agent: str,
    config_hash: str,
    config: Mapping[str, Any],
    now_ms: int,
    run_id: int | None = None,
) -> bool:
    """Record that a config (secrets already removed) took effect for ``agent`` at ``now_ms``.

    The config text is stored once per hash; every activation is a row, so a config that comes back after a
    reload shows up twice. Returns True if the hash was new.
    """
    with transaction(conn):
        cur = conn.execute(
            "INSERT OR IGNORE INTO config_snapshots (hash, config, first_seen_ms) VALUES (?, ?, ?)",
            (config_hash, compact_json(config), now_ms),
        )
        conn.execute(
            "INSERT INTO config_activations (agent, hash, effective_ms, run_id) VALUES (?, ?, ?, ?)",
            (agent, config_hash, now_ms, run_id),
        )
    return cur.rowcount == 1


# -- exclusions (append-only) ----------------------------------------------------------------------------------


def add_exclusion(
    conn: sqlite3.Connection,
    *,
    scope_kind: str,
    scope_id: str,
    start_ms: int,
    end_ms: int,
    kind: str,
    reason: str,
    author: str,
    created_ms: int,
) -> int:
    """Append an exclusion of ``[start_ms, end_ms)``; returns its id. ValueError for an invalid one."""
    if scope_kind not in SCOPE_KINDS:
        raise ValueError(f"scope_kind must be one of {', '.join(SCOPE_KINDS)}, not {scope_kind!r}")
    if kind not in EXCLUSION_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EXCLUSION_KINDS)}, not {kind!r}")
    if end_ms <= start_ms:
        raise ValueError("an exclusion must end after it starts")
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO exclusions (scope_kind, scope_id, start_ms, end_ms, kind, reason, author, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (scope_kind, scope_id, start_ms, end_ms, kind, reason, author, created_ms),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def revoke_exclusion(conn: sqlite3.Connection, exclusion_id: int, revoked_ms: int, revoked_by: str) -> bool:
    """Revoke an exclusion (the row stays, with who and when). False if unknown or already revoked."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE exclusions SET revoked_ms = ?, revoked_by = ? WHERE id = ? AND revoked_ms IS NULL",
            (revoked_ms, revoked_by, exclusion_id),
        )
    return cur.rowcount == 1


# -- closed cycles (immutable) ---------------------------------------------------------------------------------


def close_cycle(
    conn: sqlite3.Connection,
    *,
    sla: str,
    cycle_start_ms: int,
    cycle_end_ms: int,
    closed_ms: int,
    inputs_hash: str,
    report: Any,
    credit: Any,
    outbox: Sequence[OutboxRow] = (),
) -> None:
    """Store a closed cycle's report and credit (JSON-serialisable values), and the deliveries of its
    ``cycle_closed`` event in the same transaction (both or neither). Raises CycleAlreadyClosed."""
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO closed_cycles (sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, "
                "credit) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, compact_json(report), compact_json(credit)),
            )
            enqueue(conn, outbox)
    except sqlite3.IntegrityError as exc:
        raise CycleAlreadyClosed(f"SLA {sla!r}: the cycle starting at {cycle_start_ms} is already closed") from exc


# -- import ----------------------------------------------------------------------------------------------------


def import_batch(
    conn: sqlite3.Connection,
    results: Sequence[ProbeResult] = (),
    intervals: Sequence[StateInterval] = (),
    fold_states: Mapping[tuple[str, str], Mapping[str, Any] | None] | None = None,
    *,
    now_ms: int,
) -> int:
    """Store imported rows in one short transaction (all or nothing); returns how many results were new.

    Results are keyed by (agent, endpoint, ts_ms): one already stored is skipped, so importing a file twice
    adds nothing. Intervals are not skipped: one that starts where a stored one starts raises
    ``sqlite3.IntegrityError`` and nothing of the batch is stored. Imported results carry no run_id. Keep
    batches to a few thousand rows so a running daemon's writer waits only briefly.
    """
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(INSERT_RESULT_OR_IGNORE, [result_row(r, None) for r in results])
        inserted = conn.total_changes - before
        conn.executemany(INSERT_INTERVAL, [interval_row(i) for i in intervals])
        for (agent, endpoint), snap in (fold_states or {}).items():
            if snap is None:
                conn.execute(DELETE_FOLD_STATE, (agent, endpoint))
            else:
                conn.execute(UPSERT_FOLD_STATE, (agent, endpoint, compact_json(snap), now_ms))
    return inserted


def replace_timeline(
    conn: sqlite3.Connection,
    agent: str,
    endpoint: str,
    new_results: Sequence[ProbeResult],
    intervals: Sequence[StateInterval],
    fold_state: Mapping[str, Any] | None,
    *,
    now_ms: int,
    guard: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """Re-folded history of one (agent, endpoint), in one transaction: ``guard`` runs first under the write lock
    (it raises to abort, e.g. when the pair changed since it was read), then the new results are inserted (no
    run_id; one already stored raises ``sqlite3.IntegrityError``: the caller deduplicates), the pair's intervals
    are replaced by ``intervals`` and its fold state set (None deletes it). All or nothing.
    """
    with transaction(conn):
        if guard is not None:
            guard(conn)
        conn.executemany(INSERT_RESULT, [result_row(r, None) for r in new_results])
        _replace_pair(conn, agent, endpoint, intervals, fold_state, now_ms)


def refold_pair(
    conn: sqlite3.Connection,
    agent: str,
    endpoint: str,
    intervals: Iterable[StateInterval],
    fold_state: Callable[[], Mapping[str, Any] | None],
    *,
    now_ms: int,
) -> None:
    """Inside the caller's transaction (``import``, which streams): the pair's intervals replaced by ``intervals``,
    taken one at a time as they are inserted (a generator that reads the store meanwhile is fine: it is another
    table), then its fold state set to ``fold_state()``, called once every interval is in (None deletes it)."""
    conn.execute("DELETE FROM intervals WHERE endpoint = ? AND agent = ?", (endpoint, agent))
    conn.executemany(INSERT_INTERVAL, (interval_row(i) for i in intervals))
    snap = fold_state()
    if snap is None:
        conn.execute(DELETE_FOLD_STATE, (agent, endpoint))
    else:
        conn.execute(UPSERT_FOLD_STATE, (agent, endpoint, compact_json(snap), now_ms))


def replace_timelines(
    conn: sqlite3.Connection,
    timelines: Sequence[tuple[str, str, Sequence[StateInterval], Mapping[str, Any] | None]],
    *,
    now_ms: int,
    guard: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """``db repair``: several (agent, endpoint, intervals, fold state) at once, in one transaction (all or
    nothing): ``guard`` runs first under the write lock, then each pair's intervals and fold state are replaced as
    in ``replace_timeline``. No result is added or removed."""
    with transaction(conn):
        if guard is not None:
            guard(conn)
        for agent, endpoint, intervals, fold_state in timelines:
            _replace_pair(conn, agent, endpoint, intervals, fold_state, now_ms)


def _replace_pair(
    conn: sqlite3.Connection,
    agent: str,
    endpoint: str,
    intervals: Sequence[StateInterval],
    fold_state: Mapping[str, Any] | None,
    now_ms: int,
) -> None:
    conn.execute("DELETE FROM intervals WHERE endpoint = ? AND agent = ?", (endpoint, agent))
    conn.executemany(INSERT_INTERVAL, [interval_row(i) for i in intervals])
    if fold_state is None:
        conn.execute(DELETE_FOLD_STATE, (agent, endpoint))
    else:
        conn.execute(UPSERT_FOLD_STATE, (agent, endpoint, compact_json(fold_state), now_ms))
