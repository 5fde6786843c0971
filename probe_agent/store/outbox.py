"""The notification outbox: one row per (event id, channel) delivery, in the ``outbox`` table (see ``schema.py``).

Rows are inserted by the single writer in the transaction of the state change that caused their event
(``StoreWriter.submit(outbox=...)``), with ``INSERT OR IGNORE``: an event found again (same id) is not enqueued
twice for a channel. The sender (``notify/sender.py``) reads due rows and records each attempt's outcome through
the writer with the functions here; ``notify list`` reads them with ``deliveries``. Times are epoch ms.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from probe_agent.store.schema import transaction

PENDING, SENT, FAILED, SUMMARISED = "pending", "sent", "failed", "summarised"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class OutboxRow:
    """A delivery to enqueue: the event (its JSON ``body``, sent byte for byte) for one channel."""

    agent: str
    event_id: str
    channel: str
    event_type: str
    summary: str
    body: str
    created_ms: int


@dataclass(frozen=True)
class OutboxEntry:
    """A stored delivery, as the sender and ``notify list`` read it."""

    id: int
    agent: str
    event_id: str
    channel: str
    event_type: str
    summary: str
    body: str
    created_ms: int
    next_attempt_ms: int
    sent_ms: int | None
    attempts: int
    last_error: str | None
    status: str


INSERT_OUTBOX = (
    "INSERT OR IGNORE INTO outbox (agent, event_id, channel, event_type, summary, body, created_ms, next_attempt_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = (
    "id, agent, event_id, channel, event_type, summary, body, created_ms, next_attempt_ms, sent_ms, attempts, "
    "last_error, status"
)


def outbox_params(row: OutboxRow) -> tuple[object, ...]:
    return (row.agent, row.event_id, row.channel, row.event_type, row.summary, row.body, row.created_ms, row.created_ms)


def enqueue(conn: sqlite3.Connection, rows: Sequence[OutboxRow]) -> None:
    """Insert ``rows`` in the caller's transaction; a (event id, channel) already there is left as it is."""
    conn.executemany(INSERT_OUTBOX, [outbox_params(r) for r in rows])


def due(conn: sqlite3.Connection, agent: str, now_ms: int, limit: int = 100) -> list[OutboxEntry]:
    """Pending deliveries of ``agent`` whose next attempt is due at ``now_ms``, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE agent = ? AND status = 'pending' AND next_attempt_ms <= ? "
        "ORDER BY next_attempt_ms, id LIMIT ?",
        (agent, now_ms, limit),
    ).fetchall()
    return [OutboxEntry(*row) for row in rows]


def next_due_ms(conn: sqlite3.Connection, agent: str) -> int | None:
    """When the earliest pending delivery of ``agent`` is due (None: nothing pending)."""
    row = conn.execute(
        "SELECT min(next_attempt_ms) FROM outbox WHERE agent = ? AND status = 'pending'", (agent,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def backlog(conn: sqlite3.Connection, agent: str) -> int:
    """How many of ``agent``'s deliveries are pending (due now or waiting for a retry): ``/metrics``' backlog."""
    row = conn.execute("SELECT count(*) FROM outbox WHERE agent = ? AND status = 'pending'", (agent,)).fetchone()
    return int(row[0])


def mark_sent(conn: sqlite3.Connection, entry_id: int, now_ms: int) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET status = 'sent', sent_ms = ?, attempts = attempts + 1, last_error = NULL "
            "WHERE id = ? AND status = 'pending'",
            (now_ms, entry_id),
        )


def mark_attempt_failed(conn: sqlite3.Connection, entry_id: int, error: str, *, next_attempt_ms: int | None) -> None:
    """A failed attempt: retried at ``next_attempt_ms``, or failed for good when it is None. ``error`` must already
    be free of secrets (the sender redacts it)."""
    with transaction(conn):
        if next_attempt_ms is None:
            conn.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? "
                "WHERE id = ? AND status = 'pending'",
                (error[:MAX_ERROR_CHARS], entry_id),
            )
        else:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ? "
                "WHERE id = ? AND status = 'pending'",
                (error[:MAX_ERROR_CHARS], next_attempt_ms, entry_id),
            )


def defer(conn: sqlite3.Connection, entry_id: int, until_ms: int) -> None:
    """Held by the rate limit: not due again before ``until_ms`` (no attempt is counted)."""
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET next_attempt_ms = max(next_attempt_ms, ?) WHERE id = ? AND status = 'pending'",
            (until_ms, entry_id),
        )


def summarise(conn: sqlite3.Connection, held: Sequence[int], summary: OutboxRow) -> None:
    """The rate limit's minute is over: the ``held`` deliveries are marked summarised and the message counting them
    enqueued, in one transaction (a crash before it leaves them pending, to be held and summarised again)."""
    with transaction(conn):
        conn.executemany(
            "UPDATE outbox SET status = 'summarised' WHERE id = ? AND status = 'pending'", [(i,) for i in held]
        )
        enqueue(conn, [summary])


def deliveries(conn: sqlite3.Connection, *, statuses: Sequence[str] = (), limit: int = 1000) -> list[OutboxEntry]:
    """Stored deliveries of every agent, newest first; only those with one of ``statuses`` if given."""
    where = f"WHERE status IN ({', '.join('?' for _ in statuses)})" if statuses else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY created_ms DESC, id DESC LIMIT ?", (*statuses, limit)
    ).fetchall()
    return [OutboxEntry(*row) for row in rows]


def event_bodies(conn: sqlite3.Connection, agent: str, event_types: Sequence[str]) -> list[tuple[str, str]]:
    """(event type, JSON body) of each stored event of ``agent`` with one of ``event_types``, once per event id
    (whatever became of its deliveries: sent, pending, failed or summarised, the event happened), oldest first."""
    marks = ", ".join("?" for _ in event_types)
    rows = conn.execute(
        f"SELECT event_type, body FROM outbox WHERE id IN (SELECT min(id) FROM outbox WHERE agent = ? "
        f"AND event_type IN ({marks}) GROUP BY event_id) ORDER BY id",
        (agent, *event_types),
    ).fetchall()
    return [(str(t), str(b)) for t, b in rows]
