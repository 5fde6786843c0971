"""One probe of each endpoint, now, with the controls rule applied: what ``check`` shows (nothing is stored)."""

from __future__ import annotations

import asyncio

from probe_agent.agent.controls import Controls
from probe_agent.config.document import Config
from probe_agent.config.schema import Endpoint
from probe_agent.model import ProbeResult


async def probe_now(config: Config, endpoints: list[Endpoint], concurrency: int = 50) -> list[ProbeResult]:
    """Probe each endpoint once, applying the controls rule, at most ``concurrency`` at a time; the results are
    in the order of ``endpoints``. Never raises for a failed probe: a failure is a result."""
    from probe_agent.probes import ProbeClient, run_probe

    agent = config.agent.id
    resolvers = config.agent.resolvers
    async with ProbeClient() as client:  # shared by these probes (and their controls), closed when they are done

        async def raw(ep: Endpoint) -> ProbeResult:
            return await run_probe(ep, agent=agent, resolvers=resolvers, client=client)

        controls = Controls(config.controls, raw, cache_s=config.agent.control_cache / 1000)
        limit = asyncio.Semaphore(concurrency)

        async def one(ep: Endpoint) -> ProbeResult:
            async with limit:
                return await controls.judge(await raw(ep))

        return list(await asyncio.gather(*(one(ep) for ep in endpoints)))
