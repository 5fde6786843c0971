"""The status page at ``/`` (guard ``STATUS_PAGE``: without a token when ``api.public_status: true``).

With ``public_status: true`` the page at ``/`` is the public one for everyone (service and SLA names and figures,
no lone endpoints, no maintenance reasons); without it, it is the operator's page behind the API's tokens.

The built page (document and HTML) is kept for ``api.metrics.cache`` ms and shared by every request in that time:
one build at a time (a lock), so a burst of visitors costs one read of the store. A reload of the config (a new
``Config`` object) or a change of ``public_status`` builds anew. "Last updated" on the page is when it was built.

Every answer carries a strict ``Content-Security-Policy`` (nothing but the page's own inline style: no script, no
image, no font, no connection, no frame), ``nosniff``, no referrer, and a ``Cache-Control`` that lets a reverse
proxy keep the public page for the cache time and keeps the private one out of every shared cache.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import sqlite3
from dataclasses import dataclass

from aiohttp import web

from probe_agent.api.auth import CONTEXT, Guard, guarded
from probe_agent.api.context import ApiContext
from probe_agent.config.document import Config
from probe_agent.render.status_page import status_page_html
from probe_agent.reports.status_page import build_status_page

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class BuiltPage:
    config: Config
    public: bool
    built_ms: int
    body: bytes
    gzipped: bytes  # the same, gzip-compressed once per build (500 services make ~5 MB of HTML, ~10x smaller)
    etag: str


class PageCache:
    """The last built page and the lock that makes concurrent requests share one build."""

    def __init__(self) -> None:
        self.page: BuiltPage | None = None
        self.lock = asyncio.Lock()

    def fresh(self, config: Config, public: bool, now_ms: int, max_age_ms: int) -> BuiltPage | None:
        page = self.page
        if page is None or page.config is not config or page.public != public:
            return None
        return page if 0 <= now_ms - page.built_ms < max_age_ms else None

    async def get(self, ctx: ApiContext) -> BuiltPage:
        config = ctx.config()
        api = ctx.api
        public, max_age = api.public_status, api.metrics.cache
        page = self.fresh(config, public, ctx.now_ms(), max_age)
        if page is not None:
            return page
        async with self.lock:
            now_ms = ctx.now_ms()
            page = self.fresh(config, public, now_ms, max_age)  # built while this request waited
            if page is None:

                def build(conn: sqlite3.Connection) -> tuple[bytes, bytes]:
                    doc = build_status_page(conn, config, now_ms, public=public)
                    body = status_page_html(doc).encode("utf-8")
                    return body, gzip.compress(body, compresslevel=6, mtime=0)

                body, gzipped = await ctx.read(build)
                etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
                page = self.page = BuiltPage(config, public, now_ms, body, gzipped, etag)
            return page


PAGE_CACHE = web.AppKey("status_page_cache", PageCache)


@guarded(Guard.STATUS_PAGE)
async def status_page(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    page = await request.app[PAGE_CACHE].get(ctx)
    max_age_s = ctx.api.metrics.cache // 1000
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "ETag": page.etag,
        "Cache-Control": f"public, max-age={max_age_s}" if page.public else "private, no-store",
        "Vary": "Accept-Encoding",
    }
    if page.public and page.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=page.gzipped, content_type="text/html", charset="utf-8", headers=headers)
    return web.Response(body=page.body, content_type="text/html", charset="utf-8", headers=headers)


def add_routes(app: web.Application) -> None:
    app[PAGE_CACHE] = PageCache()
    app.router.add_get("/", status_page)
