"""The single writer: one thread owns the write connection, fed by a queue, so the event loop never waits on SQLite.

What is submitted together (results, the intervals they closed, the fold snapshots they produced) commits in
one transaction, so the stored fold state is never ahead of the results it came from. Submissions are batched:
a batch commits at most ``flush_interval`` seconds after its first submission, or at once when ``batch_max`` rows
are waiting.

Failures:
- a storage error (``sqlite3.OperationalError`` and other ``DatabaseError``s: locked, I/O error, disk full, a
  corrupt file) rolls the batch back and retries it with backoff (up to 1 s apart) until it commits; the batch
  stays in memory meanwhile, ``stats.failing`` turns true and ``flush``/``close`` raise ``StoreWriteError``
  when their timeout passes. Nothing is dropped. The first failed attempt of a streak is logged (warning), the
  retries only at debug level, and the commit that ends the streak at info: the daemon reports the trouble as a
  state of its own (``agent/storehealth.py``), not once per retry.
- memory: with a ``queue_limit``, ``full`` says when that many results wait uncommitted; the writer never refuses
  a submission itself: the daemon's workers look at ``full`` before they fold a result and pause probing instead
  (so the paused time is no_data, never a result silently lost).
- a data error (a row breaks a constraint, a duplicate result, a bad value) cannot be fixed by retrying: the
  batch is rolled back and replayed one submission at a time, each in a savepoint. A bad submission is rolled
  back whole (never half-applied) and stored as JSON in ``write_rejects``; the others commit. It is logged and
  counted in ``stats.rejected``.
- an exception from a function given to ``run``/``run_sync`` goes back to its caller; nothing else is affected.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from probe_agent.model import ProbeResult, StateInterval
from probe_agent.store.outbox import INSERT_OUTBOX, OutboxRow, outbox_params
from probe_agent.store.rows import (
    DELETE_FOLD_STATE,
    INSERT_INTERVAL,
    INSERT_RESULT,
    UPSERT_FOLD_STATE,
    compact_json,
    interval_row,
    result_row,
)
from probe_agent.store.schema import StoreError, open_db

T = TypeVar("T")
log = logging.getLogger(__name__)

FoldKey = tuple[str, str]  # (agent, endpoint)
MAX_RETRY_DELAY_S = 1.0
_DATA_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    ValueError,
    TypeError,
    OverflowError,
    AttributeError,  # e.g. a plain string where an Outcome enum belongs
)


class StoreWriteError(StoreError):
    """Queued writes could not be committed in time; ``stats.last_error`` holds the storage error."""


class _GaveUp(Exception):
    """close() timed out while a batch kept failing: the thread ends without storing it."""


@dataclass(frozen=True)
class WriterStats:
    """A snapshot of the writer's counters (``last_commit_s`` is the duration of the last commit, in seconds)."""

    queue_depth: int = 0
    pending_rows: int = 0
    rows_written: int = 0
    batches_committed: int = 0
    last_commit_s: float | None = None
    last_commit_at: float | None = None  # time.time() of the last successful commit
    errors: int = 0  # failed commit attempts (each one was retried)
    rejected: int = 0  # submissions stored in write_rejects instead
    failing: bool = False  # the last commit attempt failed and the batch is waiting for a retry
    last_error: str | None = None
    waiting_results: int = 0  # results submitted and not yet committed (nor rejected)


@dataclass(frozen=True)
class _Submission:
    results: tuple[ProbeResult, ...]
    intervals: tuple[StateInterval, ...]
    fold_states: tuple[tuple[str, str, str | None], ...]  # (agent, endpoint, snapshot JSON or None = delete)
    outbox: tuple[OutboxRow, ...]  # notification deliveries of events this state change caused
    run_id: int | None
    submitted_ms: int
    enqueued: float  # monotonic seconds

    @property
    def rows(self) -> int:
        return len(self.results) + len(self.intervals) + len(self.fold_states) + len(self.outbox)


@dataclass(frozen=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]


@dataclass(frozen=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


class _Stop:
    pass


class StoreWriter:
    """Owns the write connection on its own thread. Create, ``start()``, ``submit``..., ``close()``."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.25,
        batch_max: int = 5000,
        clock: Callable[[], float] = time.time,
        queue_limit: int | None = None,
    ) -> None:
        """``queue_limit``: how many uncommitted results make the writer ``full`` (None: never full)."""
        if not 0 < flush_interval <= 1:
            raise ValueError("flush_interval must be in (0, 1] seconds")
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        if queue_limit is not None and queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        self.queue_limit = queue_limit
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.batch_max = batch_max
        self._clock = clock
        # SimpleQueue: put() is a C call with no Condition to notify, so a submission from the event loop costs
        # ~0.1 us here instead of ~1.4 us (Queue); the writer needs nothing more (get with a timeout, qsize).
        self._queue: queue.SimpleQueue[_Submission | _Call | _Flush | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._abandon = threading.Event()
        self._lock = threading.Lock()
        self._stats = WriterStats()
        self._pending_rows = 0
        self._waiting_results = 0  # submitted, not yet committed or rejected; guarded by _lock
        self._died: BaseException | None = None  # why the thread ended early, if it did
        self._discarding = False  # set by discard(): nothing more is written

    # -- public API ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the database on the writer thread (migrating it) and start taking work.

        Raises what ``open_db`` raises (``SchemaTooNew``, ``StoreError``) in the caller's thread.
        """
        if self._thread is not None:
            raise RuntimeError("StoreWriter already started")
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(opened,), name="store-writer", daemon=True)
        self._thread.start()
        try:
            opened.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    def submit(
        self,
        results: Sequence[ProbeResult] = (),
        intervals: Sequence[StateInterval] = (),
        fold_states: Mapping[FoldKey, Mapping[str, Any] | str | None] | None = None,
        run_id: int | None = None,
        outbox: Sequence[OutboxRow] = (),
    ) -> None:
        """Queue rows to commit together; returns at once. A fold state of None deletes that snapshot.

        ``outbox`` holds the notification deliveries of the events these rows caused (an outage confirmed): they
        commit with them or not at all, so an event is never lost nor sent for a state that was not stored.

        Fold snapshots are serialised here, so later changes by the caller do not leak in and an unserialisable
        snapshot raises TypeError/ValueError to the caller instead of failing on the writer thread. A snapshot
        given as text is taken as its JSON already (``TimelineFold.snapshot_json()``, the daemon's per-result path).
        """
        folds = tuple(
            (agent, endpoint, snap if snap is None or isinstance(snap, str) else compact_json(snap))
            for (agent, endpoint), snap in (fold_states or {}).items()
        )
        item = _Submission(
            results=tuple(results),
            intervals=tuple(intervals),
            fold_states=folds,
            outbox=tuple(outbox),
            run_id=run_id,
            submitted_ms=int(self._clock() * 1000),
            enqueued=time.monotonic(),
        )
        if item.rows:
            with self._lock:  # not after close()'s stop marker, where it would be lost silently
                self._check_open()
                self._queue.put(item)
                self._waiting_results += len(item.results)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the writer thread after everything submitted before it is committed.

        ``fn`` gets the write connection in autocommit mode and manages its own transaction (use
        ``schema.transaction``). Its return value or exception comes back here.
        """
        return await asyncio.wrap_future(self._enqueue_call(fn))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T], timeout: float | None = 30) -> T:
        """Like ``run`` but blocking; for shutdown paths and synchronous callers (never the event loop)."""
        return self._enqueue_call(fn).result(timeout)

    def flush(self, timeout: float = 10) -> None:
        """Block until everything queued so far is committed; raise StoreWriteError if that takes too long."""
        marker = _Flush()
        with self._lock:
            self._check_open()
            self._queue.put(marker)
        if not marker.done.wait(timeout):
            raise StoreWriteError(
                f"{self.path}: queued writes not committed within {timeout} s "
                f"(last error: {self.stats.last_error or 'none'})"
            )

    def close(self, timeout: float = 10) -> None:
        """Commit what is queued, then stop the thread. Raises StoreWriteError if the data could not be stored."""
        with self._lock:
            if self._thread is None or self._closing:
                self._closing = True
                return
            self._closing = True
            self._queue.put(_Stop())
        self._thread.join(timeout)
        if self._died is not None:
            raise StoreWriteError(
                f"{self.path}: the writer stopped early; {self._queue.qsize()} queued item(s) and "
                f"{self._pending_rows} row(s) were NOT stored ({self._died!r})"
            ) from self._died
        if self._thread.is_alive():
            self._abandon.set()  # the retry loop gives up; what is still queued is lost, and we say so
            self._thread.join(MAX_RETRY_DELAY_S + 1)
            raise StoreWriteError(
                f"{self.path}: writer could not commit within {timeout} s; "
                f"{self._queue.qsize()} queued item(s) and {self._pending_rows} row(s) were NOT stored "
                f"(last error: {self.stats.last_error})"
            )

    def discard(self) -> None:
        """Write nothing more: what is queued or submitted from now on is dropped, and a function given to
        ``run``/``run_sync`` fails with StoreWriteError instead of running; ``close`` then stops the thread.

        For a daemon whose run was closed under it (another one judged it dead): its writes are no longer its
        to make. A commit already under way finishes."""
        with self._lock:
            self._discarding = True

    @property
    def stats(self) -> WriterStats:
        with self._lock:
            return replace(
                self._stats,
                queue_depth=self._queue.qsize(),
                pending_rows=self._pending_rows,
                waiting_results=self._waiting_results,
            )

    @property
    def waiting_results(self) -> int:
        """Results submitted and not yet committed (nor rejected): what a store failure holds in memory."""
        return self._waiting_results

    @property
    def full(self) -> bool:
        """Whether ``queue_limit`` results wait uncommitted (never, without a limit): time to pause probing."""
        return self.queue_limit is not None and self._waiting_results >= self.queue_limit

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the writer thread -----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise RuntimeError("StoreWriter is closed")
        if not self.alive:
            raise RuntimeError("StoreWriter is not running (call start(); or its thread died, see the log)")

    def _enqueue_call(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._check_open()
            self._queue.put(_Call(fn, future))
        return future

    def _main(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            conn = open_db(self.path)
        except BaseException as exc:
            opened.set_exception(exc)
            return
        opened.set_result(None)
        try:
            self._loop(conn)
        except _GaveUp as exc:
            self._died = exc.__cause__ or exc
        except BaseException as exc:
            self._died = exc
            log.critical("store writer thread crashed", exc_info=True)
            raise
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        pending: list[_Submission] = []
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, pending[0].enqueued + self.flush_interval - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._commit(conn, pending)
                continue
            if isinstance(item, _Submission):
                pending.append(item)
                self._pending_rows += item.rows
                if self._pending_rows >= self.batch_max:
                    self._commit(conn, pending)
                continue
            self._commit(conn, pending)
            if isinstance(item, _Call):
                self._call(conn, item)
            elif isinstance(item, _Flush):
                item.done.set()
            else:
                return

    def _call(self, conn: sqlite3.Connection, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        if self._discarding:
            call.future.set_exception(StoreWriteError(f"{self.path}: writes are discarded (discard() was called)"))
            return
        try:
            value = call.fn(conn)
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            call.future.set_exception(exc)
        else:
            if conn.in_transaction:  # fn left a transaction open: do not let it swallow later batches
                conn.rollback()
                call.future.set_exception(RuntimeError("function left a transaction open; it was rolled back"))
            else:
                call.future.set_result(value)

    def _commit(self, conn: sqlite3.Connection, pending: list[_Submission]) -> None:
        """Commit ``pending`` (then clear it), retrying storage errors until it succeeds or we are told to quit."""
        if not pending:
            return
        delay = 0.05
        failures = 0
        while True:
            if self._discarding:  # also ends the retries of a batch that keeps failing
                log.info("store writer: %d row(s) discarded, not written", self._pending_rows)
                pending.clear()
                self._pending_rows = 0
                return
            started = time.monotonic()
            try:
                rejected = _write_batch(conn, pending, int(self._clock() * 1000))
            except sqlite3.DatabaseError as exc:
                if conn.in_transaction:
                    conn.rollback()
                failures += 1
                # Once per streak: a full disk retried for minutes must not log a line a second.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "store commit failed, retrying until it succeeds (next in %.2f s): %s", delay, exc)
                with self._lock:
                    self._stats = replace(
                        self._stats, errors=self._stats.errors + 1, failing=True, last_error=repr(exc)
                    )
                if self._abandon.wait(delay):
                    log.critical("store writer gave up: %d row(s) not stored", self._pending_rows)
                    raise _GaveUp() from exc
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                continue
            elapsed = time.monotonic() - started
            written = self._pending_rows - sum(s.rows for s in rejected)
            if failures:
                log.info("store commit succeeded after %d failed attempt(s)", failures)
            with self._lock:
                self._stats = replace(
                    self._stats,
                    rows_written=self._stats.rows_written + written,
                    batches_committed=self._stats.batches_committed + 1,
                    last_commit_s=elapsed,
                    last_commit_at=self._clock(),
                    rejected=self._stats.rejected + len(rejected),
                    failing=False,
                )
                self._waiting_results -= sum(len(s.results) for s in pending)
            pending.clear()
            self._pending_rows = 0
            return


def _write_batch(conn: sqlite3.Connection, batch: list[_Submission], now_ms: int) -> list[_Submission]:
    """Write a batch in one transaction; return the submissions that were rejected for bad data."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        try:
            _write_submissions(conn, batch)
        except _DATA_ERRORS:
            # Slow path, rare: find the bad submission(s), keep the rest.
            conn.rollback()
            conn.execute("BEGIN IMMEDIATE")
            rejected = _write_one_by_one(conn, batch, now_ms)
        else:
            rejected = []
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return rejected


def _write_submissions(conn: sqlite3.Connection, batch: Sequence[_Submission]) -> None:
    results = [result_row(r, s.run_id) for s in batch for r in s.results]
    intervals = [interval_row(i) for s in batch for i in s.intervals]
    if results:
        conn.executemany(INSERT_RESULT, results)
    if intervals:
        conn.executemany(INSERT_INTERVAL, intervals)
    # Fold snapshots in submission order: the last one for a key wins, and a None deletes it.
    for s in batch:
        for agent, endpoint, snap in s.fold_states:
            if snap is None:
                conn.execute(DELETE_FOLD_STATE, (agent, endpoint))
            else:
                conn.execute(UPSERT_FOLD_STATE, (agent, endpoint, snap, s.submitted_ms))
    deliveries = [outbox_params(row) for s in batch for row in s.outbox]
    if deliveries:
        conn.executemany(INSERT_OUTBOX, deliveries)


def _write_one_by_one(conn: sqlite3.Connection, batch: list[_Submission], now_ms: int) -> list[_Submission]:
    rejected: list[_Submission] = []
    for sub in batch:
        conn.execute("SAVEPOINT submission")
        try:
            _write_submissions(conn, [sub])
        except _DATA_ERRORS as exc:
            conn.execute("ROLLBACK TO submission")
            conn.execute("RELEASE submission")
            log.error("store rejected a submission (kept in write_rejects): %r", exc)
            conn.execute(
                "INSERT INTO write_rejects (rejected_ms, error, payload) VALUES (?, ?, ?)",
                (now_ms, repr(exc), _reject_payload(sub)),
            )
            rejected.append(sub)
        else:
            conn.execute("RELEASE submission")
    return rejected


def _reject_payload(sub: _Submission) -> str:
    payload = {
        "submitted_ms": sub.submitted_ms,
        "run_id": sub.run_id,
        "results": [_json_or_repr(r) for r in sub.results],
        "intervals": [
            {
                "agent": i.agent,
                "endpoint": i.endpoint,
                "start_ms": i.start_ms,
                "end_ms": i.end_ms,
                "state": str(i.state),
                "cause": i.cause,
                "outage_start_ms": i.outage_start_ms,
            }
            for i in sub.intervals
        ],
        "fold_states": [
            {"agent": a, "endpoint": e, "snapshot": None if s is None else json.loads(s)} for a, e, s in sub.fold_states
        ],
        "outbox": [{"event_id": o.event_id, "channel": o.channel, "body": o.body} for o in sub.outbox],
    }
    return json.dumps(payload, default=repr, ensure_ascii=False)


def _json_or_repr(result: ProbeResult) -> Any:
    try:
        return result.to_json()
    except Exception:  # the bad value may be what broke the row; keep what we can
        return repr(result)
