"""The JSON API under ``/api/v1/``. Filled in by issue 12's API part."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    del app
