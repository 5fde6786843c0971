"""The single writer thread: batching, atomicity, error handling, ordering with run(), concurrent readers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe_agent.model import Outcome, State, StateInterval
from probe_agent.store import SchemaTooNew, StoreWriteError, StoreWriter, open_db
from probe_agent.store.queries import fold_states

from .conftest import T0, interval, result


@pytest.fixture
def writer(db_path: Path) -> Iterator[StoreWriter]:
    w = StoreWriter(db_path, flush_interval=0.2)
    w.start()
    yield w
    if w.alive:
        w.close()


def _count(path: Path, table: str) -> int:
    conn = open_db(path, readonly=True)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_a_submission_is_committed_within_flush_interval_without_flush(writer: StoreWriter, db_path: Path) -> None:
    reader = open_db(db_path, readonly=True)
    started = time.monotonic()
    writer.submit([result(T0)])
    while reader.execute("SELECT count(*) FROM results").fetchone()[0] == 0:
        assert time.monotonic() - started < writer.flush_interval + 0.5, "not committed in time"
        time.sleep(0.005)
    reader.close()
    assert writer.stats.rows_written == 1


def test_submissions_within_the_interval_share_one_transaction(writer: StoreWriter, db_path: Path) -> None:
    for i in range(50):
        writer.submit([result(T0 + i)])
    writer.flush()
    assert _count(db_path, "results") == 50
    assert writer.stats.batches_committed == 1


def test_batch_max_commits_early(db_path: Path) -> None:
    w = StoreWriter(db_path, flush_interval=1.0, batch_max=10)
    w.start()
    try:
        reader = open_db(db_path, readonly=True)
        started = time.monotonic()
        w.submit([result(T0 + i) for i in range(10)])
        while reader.execute("SELECT count(*) FROM results").fetchone()[0] < 10:
            assert time.monotonic() - started < 0.5, "batch_max did not trigger a commit before flush_interval"
            time.sleep(0.005)
        reader.close()
    finally:
        w.close()


def test_results_intervals_and_fold_state_land_together(writer: StoreWriter, db_path: Path) -> None:
    writer.submit(
        [result(T0), result(T0 + 10_000, Outcome.DOWN)],
        [interval(T0 - 60_000, T0)],
        {("ams", "api"): {"open": {"state": "up", "start_ms": T0}, "suspect": [T0 + 10_000]}},
    )
    writer.flush()
    conn = open_db(db_path, readonly=True)
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 2
    assert conn.execute("SELECT start_ms, end_ms, state FROM intervals").fetchall() == [(T0 - 60_000, T0, "up")]
    assert fold_states(conn) == {("ams", "api"): {"open": {"state": "up", "start_ms": T0}, "suspect": [T0 + 10_000]}}
    conn.close()


def test_fold_state_is_a_snapshot_taken_at_submit(writer: StoreWriter, db_path: Path) -> None:
    state = {"k": 1}
    writer.submit(fold_states={("ams", "api"): state})
    state["k"] = 2  # the caller goes on mutating its live state
    writer.flush()
    conn = open_db(db_path, readonly=True)
    assert fold_states(conn) == {("ams", "api"): {"k": 1}}
    conn.close()
    writer.submit(fold_states={("ams", "api"): None})
    writer.flush()
    conn = open_db(db_path, readonly=True)
    assert fold_states(conn) == {}
    conn.close()


def test_unserialisable_fold_state_fails_in_the_caller(writer: StoreWriter) -> None:
    with pytest.raises(TypeError):
        writer.submit(fold_states={("ams", "api"): {"when": object()}})


def test_a_bad_submission_is_rejected_whole_and_the_rest_of_the_batch_commits(
    writer: StoreWriter, db_path: Path
) -> None:
    writer.submit([result(T0)], fold_states={("ams", "api"): {"n": 1}})
    # Bad: its interval ends before it starts. Its result and fold state must not be applied either.
    writer.submit(
        [result(T0 + 10_000)],
        [StateInterval("ams", "api", T0 + 5, T0, State.UP)],
        {("ams", "api"): {"n": 2}},
    )
    writer.submit([result(T0 + 20_000, agent="fra")], fold_states={("fra", "api"): {"n": 3}})
    writer.flush()
    conn = open_db(db_path, readonly=True)
    assert [ts for (ts,) in conn.execute("SELECT ts_ms FROM results ORDER BY ts_ms")] == [T0, T0 + 20_000]
    assert conn.execute("SELECT count(*) FROM intervals").fetchone()[0] == 0
    assert fold_states(conn) == {("ams", "api"): {"n": 1}, ("fra", "api"): {"n": 3}}
    rejects = conn.execute("SELECT error, payload FROM write_rejects").fetchall()
    conn.close()
    assert len(rejects) == 1
    assert "CHECK" in rejects[0][0]
    payload = json.loads(rejects[0][1])
    assert payload["results"][0]["endpoint"] == "api"
    assert payload["fold_states"] == [{"agent": "ams", "endpoint": "api", "snapshot": {"n": 2}}]
    assert writer.stats.rejected == 1
    assert writer.stats.rows_written == 4  # 2 results + 2 fold states


def test_a_duplicate_result_is_rejected_not_silently_ignored(writer: StoreWriter, db_path: Path) -> None:
    writer.submit([result(T0)])
    writer.flush()
    writer.submit([result(T0, Outcome.DOWN)])
    writer.flush()
    assert _count(db_path, "results") == 1
    assert _count(db_path, "write_rejects") == 1


async def test_run_executes_in_order_after_earlier_submissions(writer: StoreWriter) -> None:
    writer.submit([result(T0 + i) for i in range(5)])
    seen = await writer.run(lambda c: c.execute("SELECT count(*) FROM results").fetchone()[0])
    assert seen == 5


async def test_run_returns_the_exception_to_the_caller_and_the_writer_goes_on(writer: StoreWriter) -> None:
    def broken(c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO rollup_marks (hour_ms, built_ms) VALUES (0, 0)")
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await writer.run(broken)
    assert await writer.run(lambda c: c.execute("SELECT count(*) FROM rollup_marks").fetchone()[0]) == 0
    writer.submit([result(T0)])
    writer.flush()
    assert writer.stats.rows_written == 1


async def test_the_event_loop_is_not_blocked_while_the_writer_works(writer: StoreWriter) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await writer.run(lambda c: time.sleep(0.3))  # a slow job on the writer thread
    task.cancel()
    assert ticks >= 10


def test_a_locked_database_is_retried_until_it_commits(writer: StoreWriter, db_path: Path) -> None:
    writer.run_sync(lambda c: c.execute("PRAGMA busy_timeout = 20"))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock for longer than the busy timeout
    writer.submit([result(T0)])
    with pytest.raises(StoreWriteError, match="not committed within"):
        writer.flush(timeout=0.6)
    stats = writer.stats
    assert stats.failing and stats.errors >= 1 and "locked" in (stats.last_error or "")
    blocker.rollback()
    blocker.close()
    writer.flush(timeout=5)
    assert _count(db_path, "results") == 1
    assert not writer.stats.failing


def test_the_writer_is_full_while_queue_limit_results_wait_and_counts_them_down_as_they_commit(db_path: Path) -> None:
    w = StoreWriter(db_path, flush_interval=0.05, queue_limit=3)
    w.start()
    try:
        w.run_sync(lambda c: c.execute("PRAGMA busy_timeout = 20"))
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        w.submit([result(T0), result(T0 + 1)])
        w.submit(intervals=[interval(T0, T0 + 1, State.UP)])  # intervals and fold states do not count
        assert (w.waiting_results, w.full) == (2, False)
        w.submit([result(T0 + 2)])
        assert (w.waiting_results, w.full, w.stats.waiting_results) == (3, True, 3)
        blocker.rollback()
        blocker.close()
        w.flush(timeout=5)
        assert (w.waiting_results, w.full) == (0, False)
        assert _count(db_path, "results") == 3
    finally:
        w.close()


def test_close_says_so_when_queued_rows_could_not_be_stored(db_path: Path) -> None:
    w = StoreWriter(db_path, flush_interval=0.05)
    w.start()
    w.run_sync(lambda c: c.execute("PRAGMA busy_timeout = 20"))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        w.submit([result(T0)])
        with pytest.raises(StoreWriteError, match="NOT stored"):
            w.close(timeout=0.3)
        assert not w.alive
    finally:
        blocker.rollback()
        blocker.close()
    assert _count(db_path, "results") == 0


def test_submit_after_close_raises_and_close_commits_what_is_queued(db_path: Path) -> None:
    w = StoreWriter(db_path, flush_interval=1.0)
    w.start()
    w.submit([result(T0 + i) for i in range(3)])
    w.close()
    assert _count(db_path, "results") == 3
    with pytest.raises(RuntimeError, match="closed"):
        w.submit([result(T0 + 99)])


def test_invalid_settings_are_refused(db_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_interval"):
        StoreWriter(db_path, flush_interval=2)
    with pytest.raises(ValueError, match="batch_max"):
        StoreWriter(db_path, batch_max=0)


@pytest.mark.slow
def test_a_reader_sees_consistent_growing_data_while_the_writer_writes(writer: StoreWriter, db_path: Path) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:
        i = 0
        while not stop.is_set():
            # Each submission: one result and a fold state counting results so far, committed together.
            writer.submit([result(T0 + i)], fold_states={("ams", "api"): {"n": i + 1}})
            i += 1
            time.sleep(0.0005)

    producer = threading.Thread(target=produce)
    producer.start()
    reader = open_db(db_path, readonly=True)
    last = 0
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            reader.execute("BEGIN")
            n = reader.execute("SELECT count(*) FROM results").fetchone()[0]
            snap = reader.execute("SELECT snapshot FROM fold_state").fetchone()
            reader.execute("COMMIT")
            assert n >= last
            assert (json.loads(snap[0])["n"] if snap else 0) == n  # state is never ahead of (or behind) results
            last = n
            time.sleep(0.01)
    except BaseException as exc:
        errors.append(exc)
    finally:
        stop.set()
        producer.join()
        reader.close()
    assert not errors, errors
    assert last > 0


def test_start_refuses_a_newer_schema_in_the_callers_thread(db_path: Path) -> None:
    conn = open_db(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    w = StoreWriter(db_path)
    with pytest.raises(SchemaTooNew):
        w.start()
    assert not w.alive
    with pytest.raises(RuntimeError, match="not running"):
        w.submit([result(T0)])
