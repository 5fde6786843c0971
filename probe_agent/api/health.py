"""``GET /healthz``: 200 when the agent measures well, 503 naming each reason when it does not.

Inside the daemon the reasons are its live ones (``LiveView.problems``: scheduler lagging, store not writable,
controls failing, heartbeat stalled). Under ``probe-agent serve`` there is no probing to judge: healthy means the
database can be read.
"""

from __future__ import annotations

import sqlite3

from aiohttp import web

from probe_agent.api.auth import CONTEXT
from probe_agent.store.schema import StoreError


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    mode = "daemon" if ctx.live is not None else "serve"
    if ctx.live is not None:
        problems = ctx.live.problems()
    else:
        try:
            await ctx.read(lambda conn: conn.execute("SELECT 1").fetchone())
            problems = []
        except (StoreError, sqlite3.Error) as exc:
            problems = [f"store not readable: {exc}"]
    body = {"status": "unhealthy" if problems else "ok", "mode": mode, "agent": ctx.agent_id, "problems": problems}
    return web.json_response(body, status=503 if problems else 200)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
