"""``probe-agent serve``: the HTTP server alone over an existing database, no probing (a reader machine, or a
customer's laptop with a copy of the database). Stops on SIGTERM or SIGINT; SIGHUP re-reads the config (tokens,
SLAs, the page's title), keeping the running one if the new one is invalid."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from probe_agent.api.context import ApiContext
from probe_agent.api.server import ApiServer

log = logging.getLogger("probe_agent.api")


async def serve(context: ApiContext, listen: tuple[str, int], reload: Callable[[], None]) -> None:
    """Listen until a stop signal; raises ``ListenError`` when the address cannot be had."""
    server = ApiServer(context, listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await server.stop()
        log.info("HTTP API stopped")
