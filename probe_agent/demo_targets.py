"""Loopback HTTP targets with scripted behaviour, for ``make demo`` and the end-to-end tests.

Each target is a path on one aiohttp server on 127.0.0.1:

- ``/healthy``: always 200 ``ok``.
- ``/outage``: 200, except 503 between ``outage_from`` and ``outage_to`` seconds after start.
- ``/slow``: 200 after ``slow_s`` seconds (to show ``degraded``).
- ``/flappy``: fails every ``flap_every``-th request (single failures: blips, never outages).
- ``/switch``: 200 or 503 as set through ``Targets.set_switch`` (tests drive it).

Times are measured on the monotonic clock from ``start()``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Script:
    outage_from: float = 15.0
    outage_to: float = 35.0
    slow_s: float = 0.6
    flap_every: int = 4


@dataclass
class Targets:
    script: Script = field(default_factory=Script)
    host: str = "127.0.0.1"
    port: int = 0
    switch_up: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _t0: float = 0.0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def set_switch(self, up: bool) -> None:
        self.switch_up = up

    def _count(self, name: str) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        return self.counts[name]

    async def healthy(self, request: web.Request) -> web.Response:
        self._count("healthy")
        return web.Response(text="ok")

    async def outage(self, request: web.Request) -> web.Response:
        self._count("outage")
        t = self.elapsed()
        if self.script.outage_from <= t < self.script.outage_to:
            return web.Response(status=503, text="maintenance in progress")
        return web.Response(text="ok")

    async def slow(self, request: web.Request) -> web.Response:
        self._count("slow")
        await asyncio.sleep(self.script.slow_s)
        return web.Response(text="ok")

    async def flappy(self, request: web.Request) -> web.Response:
        n = self._count("flappy")
        if n % self.script.flap_every == 0:
            return web.Response(status=500, text="transient error")
        return web.Response(text="ok")

    async def switch(self, request: web.Request) -> web.Response:
        self._count("switch")
        return web.Response(text="ok") if self.switch_up else web.Response(status=503, text="switched off")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthy", self.healthy)
        app.router.add_get("/outage", self.outage)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/flappy", self.flappy)
        app.router.add_get("/switch", self.switch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._t0 = time.monotonic()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
