"""``GET /metrics``: Prometheus' text exposition, written by prometheus-client from the families built here.

Every name starts ``probe_agent_``; every HELP says the unit. Inside the daemon the endpoint and agent figures are
its live ones (``LiveView``), read per scrape; the SLA figures and the notification backlog come from the store,
reused for ``api.metrics.cache`` ms (``metrics_store.py``). Under ``probe-agent serve`` the endpoints are what
``status`` shows, the SLAs the same as in the daemon, and of the agent's own figures only the database's size: no
daemon runs in that process, so nothing there counts results or schedules probes.

Series, and when one is left out rather than written as NaN (so ``sum()`` and ``count()`` stay meaningful):

- per endpoint, at most 4: ``state`` always; ``up`` while there is a verdict (not new, not unknown, and under
  ``serve`` not while no daemon probes); ``last_latency_seconds`` while the last result has a latency;
  ``cert_days_left`` once a TLS certificate was seen. With ``api.metrics.per_endpoint: true`` (daemon only) 18
  more: ``results_total`` per outcome (4) and the ``probe_duration_seconds`` histogram (12 buckets, sum, count).
- per SLA, at most 8 (``sla_families``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

import probe_agent
from probe_agent.api.auth import CONTEXT
from probe_agent.api.context import ApiContext
from probe_agent.api.metrics_families import agent_families, database_size, endpoint_families, gauge, sla_families
from probe_agent.api.metrics_store import SlaCounters, StoreCache
from probe_agent.store.schema import StoreError

log = logging.getLogger("probe_agent.api")

CACHE = web.AppKey("metrics_cache", StoreCache)


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    cache = request.app[CACHE]
    live = ctx.live
    try:
        figures = await cache.get(ctx)
    except (StoreError, sqlite3.Error):
        if live is None or cache.figures is None:
            raise  # nothing else to show: 503
        # The daemon's own figures matter most when its store is in trouble: serve them, with the last SLA figures
        # (their timestamp tells how old they are).
        log.warning("/metrics: the store cannot be read; serving the SLA figures read before", exc_info=True)
        figures = cache.figures
    # The live figures are copied here, on the event loop that changes them; the families are built and written
    # in a thread, so a big scrape (10,000 endpoints: bench/bench_metrics.py) shares the loop with the probes
    # instead of holding it for its whole length.
    info = _info(ctx)
    counters = SlaCounters(dict(cache.counters.counted_ms), dict(cache.counters.down_ms))
    read_ms = cache.read_ms
    if live is not None:
        endpoints, agent = live.endpoints(), live.agent()
        healthy, per_endpoint, size = not live.problems(), ctx.api.metrics.per_endpoint, None
    else:
        endpoints, agent, healthy, per_endpoint, size = figures.endpoints or [], None, False, False, _file_size(ctx)

    def write() -> bytes:
        families: list[Metric] = [info, *endpoint_families(endpoints, per_endpoint=per_endpoint)]
        if agent is not None:
            families += agent_families(agent, healthy=healthy, backlog=figures.backlog)
        else:
            families.append(database_size(size))
        families += sla_families(figures.slas, counters)
        if read_ms is not None:
            families.append(
                gauge(
                    "probe_agent_sla_figures_timestamp_seconds",
                    "When the SLA figures (and the notification backlog) were read from the store, Unix time in "
                    "seconds",
                    read_ms / 1000,
                )
            )
        return exposition(families)

    # The classic text format (0.0.4): what every Prometheus 2.x parses; our names need none of 1.0.0's escaping.
    return web.Response(body=await asyncio.to_thread(write), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def exposition(families: Iterable[Metric]) -> bytes:
    """The text format of ``families`` (prometheus-client writes it: escaping, float spelling, ``+Inf``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families)))
    return generate_latest(registry)


class _Fixed:
    """A collector of families built for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _info(ctx: ApiContext) -> Metric:
    info = GaugeMetricFamily(
        "probe_agent_info",
        "Always 1; labels: the agent id, mode (daemon: probing in this process; serve: probe-agent serve, reading "
        "the database only) and the version",
        labels=["agent", "mode", "version"],
    )
    info.add_metric([ctx.agent_id, "daemon" if ctx.live is not None else "serve", probe_agent.__version__], 1)
    return info


def _file_size(ctx: ApiContext) -> int | None:
    try:
        return os.stat(ctx.db_path).st_size
    except OSError:
        return None


def add_routes(app: web.Application) -> None:
    app[CACHE] = StoreCache()
    app.router.add_get("/metrics", metrics)
