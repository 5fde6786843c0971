"""Fixtures for the end-to-end tests: a daemon launcher that always kills on teardown, and loopback targets run
inside the test's event loop (the daemon is a separate process, so they serve it while the test waits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from probe_agent.demo_targets import Script, Targets
from tests.e2e.harness import DaemonLauncher, RecordingTarget, StoreReader


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[DaemonLauncher]:
    daemons = DaemonLauncher(tmp_path)
    try:
        yield daemons
    finally:
        await daemons.cleanup()


@pytest.fixture
async def targets() -> AsyncIterator[Targets]:
    # flap_every=5: /flappy fails every fifth request, one at a time (the request after it succeeds).
    running = Targets(script=Script(flap_every=5, slow_s=5.0))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def recorder() -> AsyncIterator[RecordingTarget]:
    target = RecordingTarget()
    await target.start()
    try:
        yield target
    finally:
        await target.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "pa.db"


@pytest.fixture
def store(db: Path) -> StoreReader:
    return StoreReader(db)
