"""The daemon's wiring of the notification parts: Apprise's loggers redact the config's secrets from start and
after a reload (rotated ones too), and the dead man's switch task follows the config across reloads."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.deadman_task import DeadmanTask
from probe_agent.config.notify_schema import Deadman
from tests.agent.daemon_harness import in_process
from tests.e2e.harness import agent_config

FIRST = "apprise-canary-first-1a2b3c"
ROTATED = "apprise-canary-rotated-4d5e6f"


def doc_with(tmp_path: Path, token: str) -> dict[str, Any]:
    (tmp_path / "apprise-url").write_text(f"json://agent:{token}@127.0.0.1:9/hook\n")
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "shop.example:443"}])
    doc["notifications"] = {
        "channels": [{"id": "alerts", "apprise": f"file:{tmp_path / 'apprise-url'}"}],
        "routes": [{"channels": ["alerts"]}],
    }
    return doc


class Kept(logging.Handler):
    """What reaches a handler on Apprise's own logger (its filter runs first)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.timeout(60)
async def test_apprise_logging_is_redacted_from_start_and_after_a_reload(tmp_path: Path) -> None:
    apprise_log = logging.getLogger("apprise")
    kept = Kept()
    apprise_log.addHandler(kept)
    try:
        async with in_process(tmp_path, doc_with(tmp_path, FIRST)) as run:
            assert apprise_log.level == logging.WARNING  # its per-send INFO and URL-bearing DEBUG lines stay out
            apprise_log.warning("could not reach json://agent:%s@127.0.0.1:9/hook", FIRST)
            apprise_log.warning("token %s", FIRST)  # a part of the URL alone
            run.write(doc_with(tmp_path, ROTATED))
            assert await run.daemon.reload()
            apprise_log.warning("token %s", ROTATED)
    finally:
        apprise_log.removeHandler(kept)
    assert kept.lines == ["could not reach ***", "token ***", "token ***"]


async def test_the_deadman_task_follows_the_config() -> None:
    task = DeadmanTask(lambda: False)  # never healthy: the switch runs but never pings
    task.apply(None)
    assert task.switch is None
    one = Deadman.model_validate({"url": "http://127.0.0.1:9/ping", "every": "1m"})
    task.apply(one)
    first = task.switch
    assert first is not None and first.every_s == 60
    task.apply(Deadman.model_validate({"url": "http://127.0.0.1:9/ping", "every": "1m"}))  # unchanged: kept
    assert task.switch is first
    task.apply(Deadman.model_validate({"url": "http://127.0.0.1:9/ping", "every": "30s"}))
    assert task.switch is not first and task.switch is not None and task.switch.every_s == 30
    task.apply(None)
    assert task.switch is None
    await task.stop()
    await asyncio.sleep(0)
