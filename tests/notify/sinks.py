"""Loopback receivers for the notification channels' tests: an HTTP sink that records each request and answers
with a status the test sets (a webhook, Apprise's ``json://``, a dead man's switch ping URL)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """Records every request; answers ``status`` (change it to make the receiver fail)."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.arrived:
            self.requests.append(Received(request.method, request.path, dict(request.headers), body))
            self.arrived.notify_all()
        return web.Response(status=self.status, text="sink says hi" if self.status < 400 else "sink is down")

    async def wait_for(self, count: int, timeout_s: float = 20) -> list[Received]:
        """Until ``count`` requests arrived (a generous timeout: the machine may be loaded); all of them."""
        async with asyncio.timeout(timeout_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    def json(self, index: int = -1) -> Any:
        import json

        return json.loads(self.requests[index].body)
