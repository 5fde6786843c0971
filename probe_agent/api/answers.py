"""Error answers: what a client sent wrong is a 4xx with a JSON message, never a 5xx.

Handlers raise ``BadRequest`` (400) and ``NotFound`` (404); ``errors_middleware`` turns them, aiohttp's own
HTTP errors and the store's unavailability (503) into ``{"error": ..., "status": N}``. Anything else is a bug:
logged with its traceback and answered 500 without details.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from aiohttp import web

from probe_agent.store.schema import StoreError

log = logging.getLogger("probe_agent.api")


class BadRequest(Exception):
    """A parameter the client sent is wrong: the message says which and why (400)."""


class NotFound(Exception):
    """An id the client named does not exist (404)."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BadRequest as exc:
        return error(400, str(exc))
    except NotFound as exc:
        return error(404, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return error(exc.status, exc.reason, headers)
    except (StoreError, sqlite3.OperationalError) as exc:
        # The database is missing, newer than this version, or locked: the server's state, not the request's.
        return error(503, f"the database cannot be read now: {exc}")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "internal error (logged)")
