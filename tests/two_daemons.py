"""The bad state two daemons of one agent id left in one database, built the way they built it.

Daemon A paused past three heartbeats; daemon B judged it dead, closed its run and started; A resumed and both
wrote. Each daemon here does what ``agent.daemon`` and ``agent.worker`` did before a closed run stopped the
daemon: its own ``TimelineFold``, its own real ``StoreWriter`` (each result, the intervals it closed and the fold
snapshot committed together; a submission that breaks a unique index goes to ``write_rejects``), the start-up's
``close_stale_runs``/``start_run``/``end_run``, and a stop that ends the fold and calls ``stop_run`` whether or not
the run was still its own.

The scenario (seconds after ``t0``; one endpoint ``ams/api``, interval 60 s, timeout 10 s, confirm 1):

- A (run 1) starts at 0: up at 0, 60, 120; last heartbeat at 125; then paused.
- B starts at 150 (run 1 closed at 125) and resumes A's snapshot: up at 150, 210; down at 270; up at 330.
- A resumes: up at 185; down at 245; up at 305 (its submission holds the interval [0, 245), whose start B already
  stored: rejected with the result), up at 365.
- B stops cleanly at 380; A stops at 390 (its stop_run finds the run already stopped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import ErrorKind, Outcome, ProbeResult, StateInterval
from probe_agent.store import queries, records
from probe_agent.store.writer import StoreWriter

S = 1000
PARAMS = FoldParams(interval_ms=60 * S, grace_ms=10 * S, confirm=1)
AGENT, ENDPOINT = "ams", "api"


class OldDaemon:
    """One daemon as it was: nothing stopped it when its run was closed under it."""

    def __init__(self, db: Path, conn: sqlite3.Connection, host: str, at_ms: int) -> None:
        self.writer = StoreWriter(db)
        self.writer.start()
        records.close_stale_runs(conn, AGENT)
        previous = queries.runs_for(conn, AGENT)
        previous_end = previous[-1].end_ms if previous else None
        self.run_id = records.start_run(conn, AGENT, 1, host, "test", None, at_ms)
        snapshot = queries.fold_state_of(conn, AGENT, ENDPOINT)
        self.fold = TimelineFold(AGENT, ENDPOINT, PARAMS, snapshot)
        if snapshot is not None and previous_end is not None:
            self._write(intervals=self.fold.end_run(previous_end))

    def _write(self, results: Sequence[ProbeResult] = (), intervals: Sequence[StateInterval] = ()) -> None:
        snapshot = {(AGENT, ENDPOINT): self.fold.snapshot()}
        self.writer.submit(results, intervals, fold_states=snapshot, run_id=self.run_id)
        self.writer.flush()

    def probe(self, ts_ms: int, outcome: str) -> None:
        up = outcome == "up"
        result = ProbeResult(
            ts_ms=ts_ms,
            agent=AGENT,
            endpoint=ENDPOINT,
            outcome=Outcome(outcome),
            latency_ms=2.0 if up else None,
            error_kind=None if up else ErrorKind.CONNECT_REFUSED,
        )
        self._write(results=[result], intervals=self.fold.feed(result))

    def heartbeat(self, at_ms: int) -> bool:
        return self.writer.run_sync(lambda c: records.heartbeat(c, self.run_id, at_ms))

    def stop(self, at_ms: int) -> bool:
        self._write(intervals=self.fold.end_run(at_ms))
        stopped = self.writer.run_sync(lambda c: records.stop_run(c, self.run_id, at_ms))
        self.writer.close()
        return stopped

    def kill(self) -> None:
        self.writer.close()


def two_daemons(db: Path, conn: sqlite3.Connection, t0: int, *, b_killed: bool = False) -> None:
    """Write the module's scenario into ``db`` (``conn``: a connection to it). With ``b_killed``, A stops at 385
    instead, and B probes once more at 390 (up) and is killed: its fold snapshot, the last one written, still holds
    its up span from 330 open, behind A's last interval (to 385)."""
    a = OldDaemon(db, conn, "host-a", t0)
    a.probe(t0, "up")
    a.probe(t0 + 60 * S, "up")
    a.probe(t0 + 120 * S, "up")
    assert a.heartbeat(t0 + 125 * S)
    b = OldDaemon(db, conn, "host-b", t0 + 150 * S)  # A's heartbeat is 25 s old: stale, so run 1 is closed
    b.probe(t0 + 150 * S, "up")
    a.probe(t0 + 185 * S, "up")
    assert not a.heartbeat(t0 + 190 * S)  # ignored by the old daemon
    b.probe(t0 + 210 * S, "up")
    a.probe(t0 + 245 * S, "down")
    b.probe(t0 + 270 * S, "down")
    a.probe(t0 + 305 * S, "up")
    b.probe(t0 + 330 * S, "up")
    a.probe(t0 + 365 * S, "up")
    if b_killed:
        assert not a.stop(t0 + 385 * S)
        b.probe(t0 + 390 * S, "up")
        b.kill()
    else:
        assert b.stop(t0 + 380 * S)
        assert not a.stop(t0 + 390 * S)
