"""The aiohttp application: middlewares (errors outermost, then auth) and every module's routes."""

from __future__ import annotations

from aiohttp import web

from probe_agent.api import health, metrics, page, v1
from probe_agent.api.answers import errors_middleware
from probe_agent.api.auth import CONTEXT, auth_middleware
from probe_agent.api.context import ApiContext

# Every route of this issue is a GET; a request body is never read, so a small cap costs nothing.
MAX_REQUEST_BYTES = 64 * 1024


def build_app(context: ApiContext) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[CONTEXT] = context
    health.add_routes(app)
    metrics.add_routes(app)
    v1.add_routes(app)
    page.add_routes(app)
    return app
