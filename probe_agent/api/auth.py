"""Who may call what: bearer tokens, compared in constant time, and each route's guard.

A route declares its guard with ``@guarded(...)``; a route without one is ``READ``:

- ``STATUS_PAGE``: the status page; without a token when ``api.public_status: true``, else as ``READ``.
- ``READ``: any configured token (``Authorization: Bearer <token>``); open to all when no token is configured
  (the config refuses a non-loopback ``listen`` without tokens, so that means this host only).
- ``WRITE``: a token with ``access: write``; a read token gets 403. Never open: with no token configured, a
  write has no owner to record, so it is refused (403) too. Its ``owner`` is put on the request (``OWNER``).
- ``PATH_TOKEN``: the credential is in the path (push pings, ``/ping/{push token}``); the handler checks it.

401 answers carry ``WWW-Authenticate: Bearer``. Which token matched is never logged, nor the token sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web

from probe_agent.api.context import ApiContext
from probe_agent.config.api_schema import Access, ApiToken

CONTEXT = web.AppKey("context", ApiContext)
OWNER = web.RequestKey("owner", str)  # the owner of the token that authorised the request
_GUARD = "_probe_agent_guard"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="probe-agent"'}

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


class Guard(StrEnum):
    STATUS_PAGE = "status_page"
    READ = "read"
    WRITE = "write"
    PATH_TOKEN = "path_token"


def guarded(guard: Guard) -> Callable[[H], H]:
    """Mark a handler with its guard (see the module docstring)."""

    def mark(handler: H) -> H:
        setattr(handler, _GUARD, guard)
        return handler

    return mark


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), or None."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def match_token(tokens: tuple[ApiToken, ...], given: str) -> ApiToken | None:
    """The configured token equal to ``given``. Every token is compared (no early exit), each as a SHA-256 digest
    with ``hmac.compare_digest``, so neither the time taken nor its variation tells how much of a guess was right
    or how long a token is."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    found: ApiToken | None = None
    for entry in tokens:
        if hmac.compare_digest(digest, hashlib.sha256(entry.token.encode()).digest()):
            found = entry
    return found


def _refuse(status: int, message: str) -> web.HTTPException:
    cls = web.HTTPUnauthorized if status == 401 else web.HTTPForbidden
    return cls(reason=message, headers=_CHALLENGE if status == 401 else None)


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    api = request.app[CONTEXT].api
    guard = getattr(request.match_info.handler, _GUARD, Guard.READ)
    if guard is Guard.PATH_TOKEN or (guard is Guard.STATUS_PAGE and api.public_status):
        response: web.StreamResponse = await handler(request)
        return response
    if not api.tokens and guard is not Guard.WRITE:
        response = await handler(request)
        return response
    given = bearer(request)
    if given is None:
        if not api.tokens:
            raise _refuse(403, "writes need a token with access: write (configure api.tokens)")
        raise _refuse(401, "this needs a token: send Authorization: Bearer <token>")
    entry = match_token(api.tokens, given)
    if entry is None:
        raise _refuse(401, "the token is not one of api.tokens")
    if guard is Guard.WRITE and entry.access is not Access.WRITE:
        raise _refuse(403, f"this token (owner {entry.owner}) may only read")
    request[OWNER] = entry.owner
    response = await handler(request)
    return response
