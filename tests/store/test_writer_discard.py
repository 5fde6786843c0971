"""``StoreWriter.discard``: a daemon whose run was closed under it writes nothing more, queued rows included."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from probe_agent.store.writer import StoreWriteError, StoreWriter
from tests.store.conftest import T0, result


def test_discard_drops_what_is_queued_and_what_comes_later(db_path: Path, conn: sqlite3.Connection) -> None:
    writer = StoreWriter(db_path, flush_interval=1.0)
    writer.start()
    writer.submit(results=[result(T0)])
    writer.flush()  # committed before the discard: stays
    writer.submit(results=[result(T0 + 1000)])  # queued, not committed yet (1 s flush interval)
    writer.discard()
    writer.submit(results=[result(T0 + 2000)])
    with pytest.raises(StoreWriteError, match="discarded"):
        writer.run_sync(lambda c: c.execute("DELETE FROM results"))
    writer.close()
    assert [ts for (ts,) in conn.execute("SELECT ts_ms FROM results ORDER BY ts_ms")] == [T0]
