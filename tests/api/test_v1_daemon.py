"""The JSON API inside the daemon (in-process, ``tests/agent/daemon_harness.py``): ``status`` says the daemon runs,
with its pid and store health read from its run lock as the CLI reads them, and ``results`` streams what it stores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from tests.agent.daemon_harness import in_process
from tests.e2e.harness import agent_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def get(url: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return response.status, await response.text()


async def test_status_inside_the_daemon_names_the_daemon_as_the_cli_does(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        **agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "127.0.0.1:9"}]),
        "api": {},  # loopback, no tokens; the port is the harness's 0
    }

    def on_port_zero(daemon: Any) -> None:
        daemon.api_listen = ("127.0.0.1", 0)

    async with in_process(tmp_path, doc, before_run=on_port_zero) as run:
        await run.until(lambda: len(run.results("web")) >= 2, "two results")
        assert run.daemon.api is not None and run.daemon.api.server is not None
        base = run.daemon.api.server.url
        status, text = await get(f"{base}/api/v1/status")
        assert status == 200, text
        daemon = json.loads(text)["daemon"]
        cli = CliRunner().invoke(main, ["status", "--format", "json", "-c", str(run.config)])
        assert cli.exit_code == 0, cli.output
        from_cli = json.loads(cli.output)["daemon"]
        status, lines = await get(f"{base}/api/v1/results?endpoint=web")
        assert status == 200, lines
    assert daemon["running"] is True
    assert daemon["pid"] == os.getpid()  # the lock's holder: this process, where the daemon runs
    assert daemon["store"] is not None and daemon["store"]["ok"] is True
    assert {k: daemon[k] for k in ("running", "pid", "run_id")} == {
        k: from_cli[k] for k in ("running", "pid", "run_id")
    }
    assert daemon["store"]["ok"] == from_cli["store"]["ok"]
    rows = [json.loads(line) for line in lines.splitlines()]
    assert len(rows) >= 2
    assert {(r["endpoint"], r["agent"]) for r in rows} == {("web", "t1")}
