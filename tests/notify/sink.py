"""A webhook sink on loopback: an aiohttp server that records every POST and answers what the test says.

``refuse`` answers 503 (``status``) to the first N requests, then 200; ``received`` holds (headers, raw body) of
every request, refused or not, so a test sees each attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sink:
    url: str = ""
    refuse: int = 0  # how many requests to refuse (then accept)
    status: int = 503  # the refusal
    answer: str = "ok"
    echo: str | None = None  # a request header whose value the refusal repeats (a careless receiver)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The events of the requests answered 2xx, parsed."""
        return [json.loads(body) for _, body in self.received[self.refused_count :]]

    @property
    def refused_count(self) -> int:
        return min(self.refuse, len(self.received))

    def events(self) -> list[dict[str, Any]]:
        """Every event received (refused attempts too), parsed."""
        return [json.loads(body) for _, body in self.received]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (README "Notifications"): recompute the HMAC over the raw body, compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Probe-Agent-Signature", ""))


@asynccontextmanager
async def webhook_sink(refuse: int = 0, status: int = 503) -> AsyncIterator[Sink]:
    sink = Sink(refuse=refuse, status=status)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        sink.received.append((dict(request.headers), body))
        if len(sink.received) <= sink.refuse:
            echoed = f" ({request.headers.get(sink.echo, '')})" if sink.echo else ""
            return web.Response(status=sink.status, text="try later" + echoed)
        return web.Response(status=200, text=sink.answer)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sink.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield sink
    finally:
        await runner.cleanup()
