"""The status page served by a running daemon (in-process, a scripted prober): its rows follow the live timeline,
fold spans not yet stored as intervals included, once the page's cache time has passed."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from probe_agent.agent.daemon import Daemon
from probe_agent.model import ErrorKind, Outcome
from tests.agent.daemon_harness import ScriptedProber, in_process
from tests.e2e.harness import agent_config, closed_port


def listen_on_any_port(daemon: Daemon) -> None:
    daemon.api_listen = ("127.0.0.1", 0)


def state_of(html: str, service: str) -> str | None:
    found = re.search(rf'<li class="svc" data-service="{service}" data-state="([a-z_]+)">', html)
    return found[1] if found else None


@pytest.mark.slow
async def test_the_page_follows_the_daemon(tmp_path: Path) -> None:
    doc = agent_config(
        tmp_path / "probe-agent.db", [{"id": "web", "tcp": f"127.0.0.1:{closed_port()}"}], defaults={"confirm": 1}
    )
    doc["services"] = [{"id": "site", "endpoints": ["web"]}]
    doc["slas"] = [{"id": "plan", "services": ["site"], "target": "99.5%", "cycle": {"timezone": "UTC"}}]
    doc["api"] = {"metrics": {"cache": "200ms"}, "title": "Live"}
    prober = ScriptedProber()
    async with in_process(tmp_path, doc, prober, before_run=listen_on_any_port) as run:
        assert run.daemon.api is not None and run.daemon.api.server is not None
        url = run.daemon.api.server.url + "/"

        async def until_state(wanted: str) -> str:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            html = ""
            async with aiohttp.ClientSession() as session:
                while state_of(html, "site") != wanted:
                    assert loop.time() < deadline, f"the page still says {state_of(html, 'site')}"
                    await asyncio.sleep(0.1)
                    async with session.get(url) as answer:
                        assert answer.status == 200
                        html = await answer.text()
            return html

        html = await until_state("up")
        assert "<h1>Live</h1>" in html and "plan" in html
        assert html.count('class="d c-') == 90 + 5  # one row's cells, and the legend's swatches
        prober.answers["web"] = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
        html = await until_state("down")
        assert "Incident ongoing since" in html and "Some services are down" in html
        assert "127.0.0.1" not in html  # the endpoint's address never reaches the page
