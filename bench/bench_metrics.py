"""``GET /metrics`` at 10,000 endpoints: the size of the answer and the time per scrape.

The endpoints come from a live view of 10,000 fake-but-realistic ``EndpointLive`` entries (ids like a fleet's,
97 % up and the rest degraded, suspect, down or unknown, log-normal latencies, a certificate on 60 % of them,
result counts and latency histograms as an hour of 60 s probes gives), not from a daemon probing 10,000 targets:
what is measured is the exposition, not probing. The config has 5 SLAs over an empty store, so the SLA figures are
the cheap part; they are cached (``api.metrics.cache``), and steady-state scrapes reuse them as production ones do.

Measured over loopback HTTP (``ApiServer`` on port 0, one aiohttp client): the median and p90 of 20 scrapes after
one warm-up, with ``api.metrics.per_endpoint`` off (4 series per endpoint) and on (22); the longest the event loop
was held meanwhile (a 5 ms ticker on the server's loop: what a probe due during a scrape would wait; the client
shares that loop here); and the exposition alone (families built and written by prometheus-client, no HTTP).

    .venv/bin/python bench/bench_metrics.py
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine_block

from probe_agent.api.context import LATENCY_BUCKETS_S, AgentLive, ApiContext, EndpointLive
from probe_agent.api.metrics import exposition
from probe_agent.api.metrics_families import agent_families, endpoint_families
from probe_agent.api.server import ApiServer
from probe_agent.config import load_config
from probe_agent.store.schema import open_db

ENDPOINTS = 10_000
SCRAPES = 20
PHASES = [("up", 0.97), ("degraded", 0.01), ("suspect", 0.005), ("down", 0.01), ("unknown", 0.005)]
UP = {"up": 1, "degraded": 1, "suspect": 1, "down": 0}


def fake_endpoint(i: int, rng: random.Random) -> EndpointLive:
    phase = rng.choices([p for p, _ in PHASES], [w for _, w in PHASES])[0]
    latency = math.exp(rng.gauss(math.log(0.12), 0.8))
    counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
    total = 0.0
    for _ in range(60):  # an hour of 60 s probes
        s = math.exp(rng.gauss(math.log(0.12), 0.8))
        counts[sum(1 for b in LATENCY_BUCKETS_S if b < s)] += 1
        total += s
    return EndpointLive(
        endpoint=f"{rng.choice(['api', 'web', 'db', 'cdn', 'auth'])}-{i:05d}.{rng.choice(['eu-west', 'us-east'])}",
        phase=phase,
        up=UP.get(phase),
        latency_s=None if phase == "down" else latency,
        cert_days_left=rng.uniform(-2, 90) if rng.random() < 0.6 else None,
        last_ts_ms=1_790_000_000_000,
        results={"up": 57, "degraded": 1, "down": 2, "unknown": 0},
        latency_counts=tuple(counts),
        latency_sum_s=total,
    )


class FleetView:
    def __init__(self, endpoints: list[EndpointLive]) -> None:
        self._endpoints = endpoints

    def problems(self) -> list[str]:
        return []

    def endpoints(self) -> list[EndpointLive]:
        return self._endpoints

    def agent(self) -> AgentLive:
        return AgentLive(results={("up", "none"): 570_000, ("down", "http_status"): 20_000}, database_bytes=1 << 30)


def write_config(directory: Path, per_endpoint: bool) -> Path:
    doc: dict[str, Any] = {
        "agent": {"id": "bench", "database": str(directory / "pa.db"), "timezone": "UTC"},
        "endpoints": [{"id": f"e{i}", "http": "http://127.0.0.1:9/"} for i in range(5)],
        "services": [{"id": f"s{i}", "endpoints": [f"e{i}"]} for i in range(5)],
        "slas": [{"id": f"sla{i}", "services": [f"s{i}"], "target": "99.9%"} for i in range(5)],
        "api": {"metrics": {"per_endpoint": per_endpoint}},
    }
    path = directory / f"probe-agent-{per_endpoint}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    """Every 5 ms, how much later than asked the loop woke us: what a probe due meanwhile would wait."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time() + 0.005
        await asyncio.sleep(0.005)
        stalls.append(max(loop.time() - asked, 0.0))


async def scrape_times(cfg: Path, view: FleetView) -> tuple[int, list[float], float, float]:
    """(body bytes, seconds per scrape, the first scrape's seconds (SLA figures read, nothing cached), the longest
    the event loop was held during the scrapes)."""
    loaded = load_config(cfg)
    ctx = ApiContext(
        lambda: loaded.config, Path(loaded.config.agent.database), lambda: 1_790_000_000_000, view, "bench"
    )
    server = ApiServer(ctx, ("127.0.0.1", 0))
    await server.start()
    stalls: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stalls, stop))
    try:
        async with aiohttp.ClientSession() as session:
            times: list[float] = []
            size = 0
            for _ in range(SCRAPES + 1):
                started = time.perf_counter()
                async with session.get(f"{server.url}/metrics") as resp:
                    body = await resp.read()
                    assert resp.status == 200, body[:200]
                times.append(time.perf_counter() - started)
                size = len(body)
            return size, times[1:], times[0], max(stalls, default=0.0)
    finally:
        stop.set()
        await tick
        await server.stop()


def exposition_times(view: FleetView, per_endpoint: bool) -> list[float]:
    out = []
    for _ in range(5):
        started = time.perf_counter()
        exposition(
            [
                *endpoint_families(view.endpoints(), per_endpoint=per_endpoint),
                *agent_families(view.agent(), healthy=True, backlog=0),
            ]
        )
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    print("machine:")
    print(machine_block())
    rng = random.Random(12)
    view = FleetView([fake_endpoint(i, rng) for i in range(ENDPOINTS)])
    print(f"\n/metrics with {ENDPOINTS:,} endpoints (a fake live view), 5 SLAs, {SCRAPES} scrapes after a warm-up:")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        open_db(directory / "pa.db").close()
        for per_endpoint in (False, True):
            size, times, first, stall = asyncio.run(scrape_times(write_config(directory, per_endpoint), view))
            alone = exposition_times(view, per_endpoint)
            print(
                f"  per_endpoint {'on ' if per_endpoint else 'off'}: {size / 1e6:.2f} MB ({size / ENDPOINTS:.0f} bytes "
                f"per endpoint); scrape median {statistics.median(times) * 1000:.0f} ms, p90 "
                f"{percentile(times, 0.9) * 1000:.0f} ms (first, SLA figures read: {first * 1000:.0f} ms); "
                f"exposition alone median {statistics.median(alone) * 1000:.0f} ms; the event loop held at most "
                f"{stall * 1000:.0f} ms at a time"
            )


if __name__ == "__main__":
    main()
