"""Tests marked ``solo`` run alone under pytest-xdist: no other worker runs a test meanwhile.

They measure the daemon's own timing: under its own load (160 endpoints at 1 s, then ``kill -9``: "at most the
last second lost"), or counting no_data to the millisecond (a probe later than the 500 ms grace leaves some). The
daemons of the other workers on the same two cores starve it and make that a measurement of the test run, not of
the agent. Everything else runs side by side (``make pytest``: ``-n 3``).

A readers-writer lock on two files that every worker of the run opens (``flock``): an ordinary test holds the
``room`` shared; a solo test holds it exclusively, so it starts once the tests running elsewhere have finished. The
``gate`` gives the solo test precedence: it holds the gate while it waits and runs, and an ordinary test passes the
gate before taking its share, so no new test starts in between; solo tests one after another on a worker (they are
collected first) keep both, so nothing slips in between them. The lock is taken around the whole test protocol,
outside pytest-timeout's timer: waiting for a turn never counts against a test's timeout. Without xdist (one
process) nothing is locked.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_DIR_KEY = "solo_lock_dir"
_CONTROLLER_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "solo: runs while no other test runs (pytest-xdist); see tests/solo.py")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, once per worker: hand every worker the one lock directory of this run."""
    config = node.config
    if _CONTROLLER_DIR not in config.stash:
        config.stash[_CONTROLLER_DIR] = Path(tempfile.mkdtemp(prefix="probe-agent-solo-"))
    node.workerinput[_DIR_KEY] = str(config.stash[_CONTROLLER_DIR])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _LOCKS in config.stash:  # a worker: closing the files lets go of anything it still holds
        config.stash[_LOCKS].close()
    if _CONTROLLER_DIR in config.stash:
        shutil.rmtree(config.stash[_CONTROLLER_DIR], ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, solo tests go first (every worker collects, and so reorders, the same way): at the start the
    other workers are on their first tests, so the wait for the room is short and the rest of the run is shared."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("solo") is None)


class _Locks:
    """One worker's two lock files, open for the session, and whether it holds the room alone."""

    def __init__(self, lock_dir: Path) -> None:
        self.gate = (lock_dir / "gate").open("a")
        self.room = (lock_dir / "room").open("a")
        self.alone = False

    def enter(self, solo: bool) -> None:
        if solo and self.alone:  # the previous test was solo too: still alone
            return
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        fcntl.flock(self.room, fcntl.LOCK_EX if solo else fcntl.LOCK_SH)
        if solo:
            self.alone = True  # the gate stays held: no other test starts until this one is over
        else:
            fcntl.flock(self.gate, fcntl.LOCK_UN)

    def close(self) -> None:
        self.gate.close()
        self.room.close()

    def leave(self, keep_alone: bool) -> None:
        if self.alone and keep_alone:  # the next test here is solo too: no gap for others to start in
            return
        fcntl.flock(self.room, fcntl.LOCK_UN)
        if self.alone:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
            self.alone = False


_LOCKS = pytest.StashKey[_Locks]()


def _is_solo(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("solo") is not None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None or _DIR_KEY not in workerinput:  # one process: nothing runs beside this test
        yield
        return
    if _LOCKS not in item.config.stash:
        item.config.stash[_LOCKS] = _Locks(Path(workerinput[_DIR_KEY]))
    locks = item.config.stash[_LOCKS]
    locks.enter(_is_solo(item))
    try:
        yield
    finally:
        locks.leave(keep_alone=_is_solo(nextitem))
