"""``ProbeClient``: what the probes of one event loop share: aiohttp sessions for ``http`` probes and the DNS cache.

One is created per event loop (the daemon's, each worker process's, or a one-shot ``check``) and handed to
``run_probe``; it is cheap to build (nothing is opened until the first http probe) and closed as an async
context manager (or ``close()``), which closes its sessions and every connection still open.

Why it holds what it holds (building and closing a ``ClientSession`` and its ``TCPConnector`` for each probe was
16-19 % of an http probe's CPU: bench/probe_cpu.py, and http.py's docstring):
- **One session per address family** (``ip_version`` 4, 6 or any: the connector's ``family`` is fixed when it is
  built), created on first use. Each has a ``TCPConnector(force_close=True)``: a connection serves one request and
  is closed after it, so every probe opens a fresh TCP connection (and TLS handshake) and sees DNS, connect and
  TLS failures, exactly as a session per probe did. ``limit=0``: the scheduler's concurrency limits bind, not the
  connector's.
- Everything else an endpoint sets is per request: TLS context (trust store, verification) via ``ssl=``, headers,
  method, body, redirects (followed by ``http.py`` itself, hop by hop), and the deadline (``run_probe``'s, over the
  whole probe; the session sets no timeouts of its own).
- **No cookies**: the sessions use ``DummyCookieJar``, which stores nothing, so no cookie a target sets reaches
  the next probe (of this or any other endpoint).
- **Names** are resolved by one ``ProbeResolver`` per session, for the probe of the calling task (the same rules as
  tcp/tls probes; aiohttp's own DNS cache is off). ``dns_cache`` is the ``DnsCache`` that endpoints with
  ``dns_cache: ttl`` use.
"""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

import aiohttp

from probe_agent.probes.dns import ProbeResolver
from probe_agent.probes.dnscache import DnsCache
from probe_agent.probes.http import HTTP_TRACE

_NO_CLIENT_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)


class ProbeClient:
    """Sessions (one per address family, made on first use) and the DNS cache of one event loop's probes."""

    def __init__(self) -> None:
        self.dns_cache = DnsCache()
        self._sessions: dict[socket.AddressFamily, aiohttp.ClientSession] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def session(self, family: socket.AddressFamily) -> aiohttp.ClientSession:
        """The session for ``family``, created on first use in the running loop. RuntimeError once closed, or
        from another event loop than the first use's (a client belongs to one loop)."""
        if self.closed:
            raise RuntimeError("ProbeClient is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a ProbeClient serves the one event loop it was first used in")
        session = self._sessions.get(family)
        if session is None:
            connector = aiohttp.TCPConnector(
                force_close=True,  # a fresh connection per probe: see the module doc
                limit=0,
                family=family,
                use_dns_cache=False,
                resolver=ProbeResolver(),
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=_NO_CLIENT_TIMEOUTS,  # run_probe's deadline covers everything, body and redirects included
                trace_configs=[HTTP_TRACE],  # the phases' marks (http.py), for the probe of each request
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )
            self._sessions[family] = session
        return session

    async def close(self) -> None:
        """Close every session (and any connection still open). Idempotent."""
        self.closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> ProbeClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
