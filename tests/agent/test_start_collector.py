"""The daemon builds its workers with the cyclic garbage collector paused, and gives it back: on at READY if it was
on before, off if it was off, and on again when the start fails."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.daemon import Daemon, DaemonError
from probe_agent.config import load_config
from tests.agent.daemon_harness import ScriptedProber, SilentNotifier, in_process
from tests.e2e.harness import agent_config, write_config


@pytest.fixture
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        else:
            gc.disable()


def _doc(tmp_path: Path) -> dict[str, object]:
    return agent_config(tmp_path / "store.db", [{"id": f"ep-{i}", "tcp": "127.0.0.1:9"} for i in range(50)])


async def test_the_collector_is_on_once_the_daemon_is_ready(tmp_path: Path, collector_restored: None) -> None:
    gc.enable()
    async with in_process(tmp_path, _doc(tmp_path)) as run:
        assert len(run.daemon.workers) == 50
        assert gc.isenabled()
    assert gc.isenabled()


async def test_the_collector_is_paused_while_the_workers_are_built(
    tmp_path: Path, collector_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    gc.enable()
    during: list[bool] = []
    add = Daemon._add_worker

    def recording(self: Daemon, *args: Any) -> None:
        during.append(gc.isenabled())
        add(self, *args)

    monkeypatch.setattr(Daemon, "_add_worker", recording)
    async with in_process(tmp_path, _doc(tmp_path)):
        pass
    assert during == [False] * 50


async def test_a_collector_switched_off_stays_off(tmp_path: Path, collector_restored: None) -> None:
    gc.disable()
    async with in_process(tmp_path, _doc(tmp_path)):
        assert not gc.isenabled()
    assert not gc.isenabled()


async def test_the_collector_is_on_again_after_a_failed_start(tmp_path: Path, collector_restored: None) -> None:
    gc.enable()
    database = tmp_path / "store.db"
    database.mkdir()  # a directory: the store cannot be opened, the start fails
    config = write_config(tmp_path / "probe-agent.yaml", _doc(tmp_path))
    daemon = Daemon(load_config(config), handle_signals=False, notifier=SilentNotifier(), prober=ScriptedProber())
    with pytest.raises(DaemonError):
        await daemon.run()
    assert gc.isenabled()
