"""The status page at ``/``. Filled in by issue 12's status page part."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    del app
