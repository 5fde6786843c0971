"""``GET /metrics``: Prometheus text exposition (prometheus-client). Filled in by issue 12's metrics part."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    del app
