"""Store trouble as a state of its own: the store cannot commit, while the agent itself is healthy.

A full disk, a read-only remount or another process holding the database's write lock past the busy timeout make
commits fail (the writer retries each batch until it commits; nothing is dropped). Before, the heartbeat waited
for its own commit before it pinged the systemd watchdog, so 45 s of full disk under ``WatchdogSec=30`` got a
healthy daemon killed (and the 88 results in its memory lost), with the log blaming the scheduler. Now the
watchdog follows the event loop and the scheduler only, and ``StoreHealth`` (checked at every heartbeat) tells:

- the log: one error-level line when the trouble starts and one when it ends (both at error level, so that
  ``journalctl -p err`` shows the whole episode), likewise when the queue fills (probing pauses) and drains;
- ``STATUS=``: the trouble, since when, and how many results wait in memory (see :meth:`StoreHealth.status`);
- ``probe-agent status``: a note in the agent's lock file (``RunLock.note``, written in place, so it gets through
  on a full disk), read back with ``runlock.holder()``: JSON with ``run_id``, ``updated_ms``, ``store`` (``ok`` or
  ``trouble``), ``problem``, ``since_ms``, ``results_waiting``, ``queue_limit``, ``probing_paused`` and
  ``paused_probes``.

Trouble is: the last commit attempt failed (``WriterStats.failing``), or the heartbeat's own write has waited
longer than ``stall_after_s`` (a store that hangs without failing; 3 heartbeats, which is when readers would call
the run dead). It ends at the first commit that succeeds.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe_agent.model import iso
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.agent")

_PROBLEM_CHARS = 300  # of the SQLite error in the note and STATUS=; the note has 4 KiB in all


class StoreHealth:
    """Evaluated once per heartbeat by the daemon; logs transitions, composes STATUS=, writes the note."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        run_id: int,
        stall_after_s: float,
        note: Callable[[str], object],
        wall_ms: Callable[[], int],
    ) -> None:
        self.writer = writer
        self.run_id = run_id
        self.stall_after_s = stall_after_s
        self._note = note
        self._wall_ms = wall_ms
        self.problem: str | None = None  # set while in trouble
        self.since_ms: int | None = None
        self.paused = False
        self._paused_at_start = 0
        self._last_note: dict[str, Any] | None = None

    def check(self, beat_waiting_s: float | None, paused_probes: int) -> None:
        """Update the state. ``beat_waiting_s``: how long the heartbeat's write has been waiting (None: it
        committed); ``paused_probes``: the workers' total of probes skipped while the queue was full."""
        stats = self.writer.stats
        problem = None
        if stats.failing:
            problem = f"commits are failing: {_error_text(stats.last_error)}"
        elif beat_waiting_s is not None and beat_waiting_s > self.stall_after_s:
            problem = f"no commit for {beat_waiting_s:.0f} s (the database does not answer)"
        now = self._wall_ms()
        limit = self.writer.queue_limit
        if problem is not None and self.problem is None:
            self.since_ms = now
            log.error(
                "store trouble: %s; results wait in memory (%d now, at most %s, then probing pauses); "
                "probing and the watchdog go on",
                problem,
                stats.waiting_results,
                limit if limit is not None else "unlimited",
            )
        elif problem is None and self.problem is not None:
            took = (now - (self.since_ms or now)) / 1000
            log.error(
                "store trouble over after %.0f s: commits succeed again; %d result(s) still waiting are being written",
                took,
                stats.waiting_results,
            )
            self.since_ms = None
        self.problem = problem
        full = self.writer.full
        if full and not self.paused:
            self._paused_at_start = paused_probes
            log.error(
                "store queue full (%d results wait in memory): probing paused until it drains; that time is no_data",
                stats.waiting_results,
            )
        elif not full and self.paused:
            log.error(
                "store queue below its limit again: probing resumed after %d skipped probe(s), whose time is no_data",
                paused_probes - self._paused_at_start,
            )
        self.paused = full
        self._write_note(now, stats.waiting_results, paused_probes)

    def status(self, probing: str) -> str:
        """The STATUS= line: ``probing`` (the endpoints' summary), led by the store trouble while there is any."""
        if self.problem is None:
            return probing
        waiting = self.writer.waiting_results
        text = f"STORE TROUBLE since {iso(self.since_ms or 0)}: {self.problem}; {waiting} results waiting in memory"
        if self.paused:
            text += f"; probing PAUSED (queue full at {self.writer.queue_limit})"
        return f"{text}; {probing}"

    def _write_note(self, now: int, waiting: int, paused_probes: int) -> None:
        note = {
            "run_id": self.run_id,
            "store": "ok" if self.problem is None else "trouble",
            "problem": self.problem,
            "since_ms": self.since_ms,
            "results_waiting": waiting,
            "queue_limit": self.writer.queue_limit,
            "probing_paused": self.paused,
            "paused_probes": paused_probes,
        }
        # Rewritten while in trouble (its figures move) and on every change; a healthy daemon's note stays put.
        if note == self._last_note and self.problem is None:
            return
        self._last_note = note
        self._note(json.dumps({**note, "updated_ms": now}))


def read_note(text: str) -> dict[str, Any] | None:
    """The store health a daemon noted in its lock file (see the module docstring), or None if unreadable."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def start_problem(database: Path, exc: sqlite3.Error | OSError) -> str:
    """What to tell the operator when the database cannot be opened for writing at start-up."""
    text = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
    hint = ""
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = ": the file or its file system is read-only, or not writable by this user; the daemon needs to write it"
    elif "readonly" in text or "read-only" in text:
        hint = ": the file or its file system is read-only; the daemon needs to write it"
    elif "unable to open" in text:
        hint = ": it cannot be opened or created (is the path a directory, or its directory not writable?)"
    elif "locked" in text or "busy" in text:
        hint = ": another process holds it locked; try again"
    elif "full" in text:
        hint = ": free space on its file system"
    return f"cannot open the database {database} for writing ({text}){hint}"


def _error_text(error: str | None) -> str:
    """The writer keeps ``repr(exc)``; the message alone reads better: OperationalError('database or disk is full')."""
    if not error:
        return "unknown error"
    head, sep, rest = error.partition("(")
    message = rest[:-1].strip("'\"") if sep and rest.endswith(")") and head.isidentifier() else error
    return message[:_PROBLEM_CHARS]
