"""A loopback HTTP target for the benches: an aiohttp server in its own process answering 200 "ok" on every path.

A separate process (spawned, not forked: a clean interpreter) so the target's CPU is not the agent's: the agent's
process CPU then measures the agent alone. The server counts the requests it answered and its own CPU seconds in
shared memory, so a bench can tell "the client could not send" from "the server could not answer".
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# The listen backlog: bursts of fresh connections must not overflow it (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096
_REQUESTS, _CPU_S = 0, 1


@dataclass(frozen=True)
class TargetCounters:
    """What the server did so far: requests answered, and CPU seconds (user + system) its process used."""

    requests: int
    cpu_s: float


def _serve(port_out: multiprocessing.connection.Connection, shared: Any) -> None:
    """The child process: serve on 127.0.0.1 (an ephemeral port, sent back through ``port_out``) until killed."""

    async def ok(_request: web.Request) -> web.Response:
        shared[_REQUESTS] += 1  # one writer (this process's event loop): no lock needed
        return web.Response(text="ok")

    async def cpu_meter() -> None:
        while True:
            shared[_CPU_S] = time.process_time()
            await asyncio.sleep(0.2)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", ok)
        runner = web.AppRunner(app, access_log=None)  # access logging would cost more than answering
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=BACKLOG)
        await site.start()
        port_out.send(runner.addresses[0][1])
        port_out.close()
        await cpu_meter()

    asyncio.run(main())


class LoopbackTarget:
    """Start with :meth:`start` (returns the port), read :meth:`counters`, end with :meth:`stop`."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._shared = self._ctx.Array("d", 2, lock=False)
        self._process: multiprocessing.process.BaseProcess | None = None
        self.port = 0

    def start(self, timeout_s: float = 30.0) -> int:
        """Spawn the server and wait (up to ``timeout_s``) until it listens; returns its port."""
        receiver, sender = self._ctx.Pipe(duplex=False)
        self._process = self._ctx.Process(target=_serve, args=(sender, self._shared), daemon=True)
        self._process.start()
        sender.close()
        if not receiver.poll(timeout_s):
            self.stop()
            raise RuntimeError(f"the loopback target did not start within {timeout_s} s")
        self.port = int(receiver.recv())
        receiver.close()
        return self.port

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def counters(self) -> TargetCounters:
        """A snapshot; the CPU figure lags by up to 0.2 s (the server refreshes it on a timer)."""
        return TargetCounters(requests=int(self._shared[_REQUESTS]), cpu_s=float(self._shared[_CPU_S]))

    def stop(self) -> None:
        """Terminate the server process (only the one this object started) and reap it."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = None
