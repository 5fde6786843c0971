"""``/metrics`` of a live in-process daemon probing a real loopback HTTP target with the real prober: its counters
against the results it stored, the endpoint's gauges as the target goes down, and the notification figures of a
webhook that cannot be reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from probe_agent.agent.daemon import Daemon
from probe_agent.probes import run_probe
from tests.agent.daemon_harness import in_process
from tests.api.metrics_fixtures import by_label, parse
from tests.e2e.harness import agent_config, closed_port

pytest_plugins = ["aiohttp"]
pytestmark = pytest.mark.slow


async def scrape(url: str) -> dict[Any, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        return parse(await resp.text())


def outcome_counts(samples: dict[Any, float]) -> dict[tuple[str, str], int]:
    return {
        (dict(labels)["outcome"], dict(labels)["error_kind"]): int(v)
        for (name, labels), v in samples.items()
        if name == "probe_agent_results_total"
    }


async def test_live_daemon_counts_what_it_stores(tmp_path: Path, aiohttp_server: Any) -> None:
    answer = {"status": 200}

    async def target(request: web.Request) -> web.Response:
        return web.Response(status=answer["status"], text="ok")

    app = web.Application()
    app.router.add_get("/", target)
    server = await aiohttp_server(app)
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "http": str(server.make_url("/"))}], defaults={"confirm": 2})
    doc["api"] = {"metrics": {"per_endpoint": True, "cache": "0s"}}
    doc["services"] = [{"id": "shop", "endpoints": ["web"]}]
    doc["slas"] = [{"id": "gold", "services": ["shop"], "target": "99.9%", "cycle": {"period": "monthly"}}]
    hook = f"http://127.0.0.1:{closed_port()}/hook"  # refused: every delivery attempt fails and is retried
    doc["notifications"] = {"channels": [{"id": "hook", "webhook": {"url": hook}}], "routes": [{"channels": ["hook"]}]}

    def wire(daemon: Daemon) -> None:
        daemon.api_listen = ("127.0.0.1", 0)
        daemon.prober = run_probe  # the real HTTP probe against the loopback target

    async with in_process(tmp_path, doc, before_run=wire) as run:
        # READY=1 comes just before the server starts listening
        server_up = await run.until(lambda: run.daemon.api and run.daemon.api.server, "the API listening")
        url = server_up.url
        await run.until(lambda: len(run.results("web")) >= 3, "3 results")
        up = await scrape(url)
        assert by_label(up, "endpoint", "web")["probe_agent_endpoint_up"] == 1.0
        assert by_label(up, "endpoint", "web")["probe_agent_endpoint_state"] == 1.0  # up
        assert 0 < by_label(up, "endpoint", "web")["probe_agent_endpoint_last_latency_seconds"] < 5

        answer["status"] = 503  # two down results confirm the outage (confirm: 2): endpoint_down to the webhook
        await run.until(lambda: run.daemon.workers["web"].fold.phase == "down", "down confirmed")
        await run.until(lambda: run.daemon.sender is not None and run.daemon.sender.failed_attempts >= 1, "a failure")
        samples = await scrape(url)
        web_ep = by_label(samples, "endpoint", "web")
        assert web_ep["probe_agent_endpoint_up"] == 0.0
        assert web_ep["probe_agent_endpoint_state"] == 4.0  # down
        assert samples[("probe_agent_notification_failures_total", ())] >= 1
        assert samples[("probe_agent_notification_backlog", ())] == 1  # endpoint_down, pending a retry
        assert samples[("probe_agent_healthy", ())] == 1.0
        assert samples[("probe_agent_store_last_commit_timestamp_seconds", ())] > 0
        assert by_label(samples, "sla", "gold")["probe_agent_sla_target_ratio"] == 0.999

        # The counters are the results handed to the store, in order: the first n stored are exactly them.
        counted = outcome_counts(samples)
        n = sum(counted.values())
        await run.until(lambda: len(run.results("web")) >= n, f"{n} results stored")
        stored = run.results("web")[:n]
        by_kind: dict[tuple[str, str], int] = {}
        for r in stored:
            key = (r.outcome, r.error_kind or "none")
            by_kind[key] = by_kind.get(key, 0) + 1
        assert counted == by_kind
        assert by_kind[("down", "http_status")] >= 2 and by_kind[("up", "none")] >= 3
        assert web_ep["probe_agent_endpoint_results_total{outcome=up}"] == by_kind[("up", "none")]
        assert web_ep["probe_agent_endpoint_results_total{outcome=down}"] == by_kind[("down", "http_status")]
        with_latency = [r.latency_ms for r in stored if r.latency_ms is not None]
        assert web_ep["probe_agent_endpoint_probe_duration_seconds_count"] == len(with_latency)
        assert web_ep["probe_agent_endpoint_probe_duration_seconds_sum"] == pytest.approx(
            sum(with_latency) / 1000, rel=1e-6
        )
