"""Tests marked ``solo`` run alone under pytest-xdist: no other worker runs a test meanwhile.

They measure the daemon under its own load (160 endpoints at 1 s, then ``kill -9``: "at most the last second
lost"); three other workers' daemons on the same two cores would starve its writer and make that a measurement of
the test run, not of the agent. Everything else runs side by side (``make pytest``: ``-n 4``).

A readers-writer lock on two files that every worker of the run opens (``flock``): an ordinary test holds the
``room`` shared; a solo test holds it exclusively, so it starts once the tests running elsewhere have finished. The
``gate`` gives the solo test precedence: it holds the gate while it waits and runs, and an ordinary test passes the
gate before taking its share, so no new test starts in between. The lock is taken around the whole test protocol,
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
    if _CONTROLLER_DIR in config.stash:
        shutil.rmtree(config.stash[_CONTROLLER_DIR], ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, solo tests go first (every worker collects, and so reorders, the same way): at the start the
    other workers are on their first tests, so the wait for the room is short and the rest of the run is shared."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("solo") is None)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None or _DIR_KEY not in workerinput:  # one process: nothing runs beside this test
        yield
        return
    lock_dir = Path(workerinput[_DIR_KEY])
    solo = item.get_closest_marker("solo") is not None
    with (lock_dir / "gate").open("a") as gate, (lock_dir / "room").open("a") as room:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if solo else fcntl.LOCK_SH)
        finally:
            if not solo:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if solo:
                fcntl.flock(gate, fcntl.LOCK_UN)
