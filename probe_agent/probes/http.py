"""The ``http`` probe: one request (plus same-origin redirects, if allowed) on fresh connections.

Decisions (documented in README):
- A fresh TCP connection (and TLS handshake) per probe, so every probe sees DNS, connect and TLS failures: the
  requests go through the event loop's ``ProbeClient`` (client.py): one ``ClientSession`` per address family with
  a ``TCPConnector(force_close=True)``, no cookie jar, the resolver of the probe's own rules; everything else an
  endpoint sets goes with each request. Until issue 14 each probe built and closed a session of its own; py-spy
  on bench/bench_probes.py at 1,000 probes/s put that at about a tenth of ``run_probe``'s samples
  (``TCPConnector`` construction, the shielded close), and bench/probe_cpu.py measured 0.79 -> 0.64 ms of CPU
  per probe (asyncio; 0.58 -> 0.48 on uvloop) with one session per event loop. It buys no truth: the
  connection is fresh either way.
- The body is always read, up to ``max_body`` bytes *after* decompression, even without a body check: a server
  that dies mid-body is down, and a body over the cap is ``too_large``. Reading stops at the cap; aiohttp
  inflates compressed bodies in bounded steps as they are read, so a gzip bomb is never inflated past it. A
  ``Content-Length`` over the cap (uncompressed) is ``too_large`` without reading.
- A status outside ``expect_status`` is ``http_status`` and the body is not read.
- ``follow_redirects`` (off by default, then a 3xx is judged by ``expect_status``): only 301/302/303/307/308 with
  a ``Location``, only to the same scheme, host and port, at most 5 hops; any other target, a loop (a URL seen
  before in this probe) or a sixth hop is ``redirect_refused``. 303 (and 301/302 after a POST) continue as GET
  without a body, as browsers do.
- Phases (ms, summed over hops): ``dns``, ``connect`` (TCP), ``tls`` (handshake), ``first_byte`` (connection up
  to response headers).
"""

from __future__ import annotations

import codecs
import functools
import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from probe_agent.config.schema import Endpoint, HttpCheck
from probe_agent.model import ErrorKind
from probe_agent.probes.attempt import Attempt, ProbeFailure, Stage
from probe_agent.probes.dns import check_literal_family, family_for
from probe_agent.probes.tlscontext import client_context, note_certificate

if TYPE_CHECKING:
    from probe_agent.probes.client import ProbeClient

USER_AGENT = "probe-agent/0.1 (uptime probe)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_READ_CHUNK = 64 * 1024


class _Hop:
    """Monotonic marks of one request/response exchange, filled by aiohttp's trace callbacks."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.connect_from: float | None = None
        self.connected_at: float | None = None


async def _on_create_start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
    hop: _Hop = ctx.trace_request_ctx
    hop.attempt.stage = Stage.CONNECT
    hop.connect_from = hop.attempt.monotonic()


async def _on_dns_start(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
    hop: _Hop = ctx.trace_request_ctx
    hop.attempt.stage = Stage.RESOLVE
    hop.connect_from = hop.attempt.monotonic()


async def _on_dns_end(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
    hop: _Hop = ctx.trace_request_ctx
    now = hop.attempt.monotonic()
    if hop.connect_from is not None and not hop.attempt.dns_cached:  # a cached answer: no lookup, no dns phase
        hop.attempt.add_phase("dns", hop.connect_from, now)
    hop.attempt.stage = Stage.CONNECT
    hop.connect_from = now


async def _on_create_end(_s: aiohttp.ClientSession, ctx: SimpleNamespace, _p: Any) -> None:
    hop: _Hop = ctx.trace_request_ctx
    attempt = hop.attempt
    now = attempt.monotonic()
    start = hop.connect_from if hop.connect_from is not None else now
    tls_start = attempt.tls_start_s
    if tls_start is not None and tls_start >= start:
        attempt.add_phase("connect", start, tls_start)
        attempt.add_phase("tls", tls_start, now)
    else:
        attempt.add_phase("connect", start, now)
    attempt.stage = Stage.CONNECTED
    hop.connected_at = now


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_create_start.append(_on_create_start)
    config.on_dns_resolvehost_start.append(_on_dns_start)
    config.on_dns_resolvehost_end.append(_on_dns_end)
    config.on_connection_create_end.append(_on_create_end)
    config.freeze()
    return config


HTTP_TRACE = _trace_config()  # frozen and stateless: shared by every session (ProbeClient)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redirect_target(current: URL, location: str, hop: int, seen: set[str]) -> URL:
    """The next URL, or ProbeFailure(redirect_refused) if the rules forbid following it."""
    try:
        target = current.join(URL(location)).with_fragment(None)
    except ValueError as exc:
        raise ProbeFailure(ErrorKind.REDIRECT_REFUSED, "redirect to an invalid Location") from exc
    if target.scheme != current.scheme:
        if current.scheme == "https" and target.scheme == "http":
            raise ProbeFailure(ErrorKind.REDIRECT_REFUSED, "redirect from https to http refused")
        raise ProbeFailure(ErrorKind.REDIRECT_REFUSED, f"redirect to scheme {_short(target.scheme, 10)!r} refused")
    if (target.host or "").lower() != (current.host or "").lower() or target.port != current.port:
        raise ProbeFailure(
            ErrorKind.REDIRECT_REFUSED, f"redirect to another host ({target.host}:{target.port}) refused"
        )
    if str(target) in seen:
        raise ProbeFailure(ErrorKind.REDIRECT_REFUSED, f"redirect loop after {hop + 1} redirect(s)")
    if hop >= MAX_REDIRECTS:
        raise ProbeFailure(ErrorKind.REDIRECT_REFUSED, f"more than {MAX_REDIRECTS} redirects")
    return target


async def _read_capped(response: aiohttp.ClientResponse, cap: int, keep: bool) -> bytes:
    """The (decoded) body up to ``cap`` bytes; ProbeFailure(too_large) as soon as it goes past the cap."""
    declared = response.content_length
    if declared is not None and declared > cap and "Content-Encoding" not in response.headers:
        raise ProbeFailure(ErrorKind.TOO_LARGE, f"body is {declared} bytes, over the {cap}-byte cap")
    kept = bytearray()
    total = 0
    while chunk := await response.content.read(_READ_CHUNK):
        total += len(chunk)
        if total > cap:
            raise ProbeFailure(ErrorKind.TOO_LARGE, f"body exceeds the {cap}-byte cap")
        if keep:
            kept += chunk
    return bytes(kept)


def _decode(response: aiohttp.ClientResponse, body: bytes) -> str:
    charset = response.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"  # an unknown charset label: read it as UTF-8 rather than fail the check
    return body.decode(charset, errors="replace")


def _check_body(check: HttpCheck, text: str) -> None:
    if check.body_contains is not None and check.body_contains not in text:
        raise ProbeFailure(ErrorKind.BODY_MISMATCH, f"body does not contain {_short(check.body_contains)!r}")
    if check.body_regex is not None and _compiled(check.body_regex).search(text) is None:
        raise ProbeFailure(ErrorKind.BODY_MISMATCH, f"body does not match /{_short(check.body_regex)}/")


def _note_certificate(endpoint: Endpoint, attempt: Attempt) -> None:
    if attempt.tls_object is None:
        return
    try:
        cert = attempt.tls_object.getpeercert()
        der = attempt.tls_object.getpeercert(True)
    except ValueError:  # no completed handshake on this object
        return
    note_certificate(endpoint, cert, attempt, der)


async def _exchange(session: aiohttp.ClientSession, endpoint: Endpoint, check: HttpCheck, attempt: Attempt) -> None:
    url = URL(check.url)
    # aiohttp skips the resolver for IP literals and fails on a family mismatch with an assertion: say it first.
    check_literal_family(url.host or "", family_for(endpoint.ip_version))
    tls = client_context(check.verify_tls, check.ca_file) if url.scheme == "https" else None
    headers: CIMultiDict[str] = CIMultiDict({"User-Agent": USER_AGENT})
    headers.update(check.headers)
    method, data = check.method, check.body
    seen = {str(url)}
    for hop in range(MAX_REDIRECTS + 1):
        state = _Hop(attempt)
        attempt.tls_start_s = None
        attempt.tls_object = None
        async with session.request(
            method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            ssl=tls if tls is not None else True,
            trace_request_ctx=state,
        ) as response:
            now = attempt.monotonic()
            if state.connected_at is not None:
                attempt.add_phase("first_byte", state.connected_at, now)
            attempt.status_code = response.status
            if url.scheme == "https":
                _note_certificate(endpoint, attempt)
            location = response.headers.get("Location")
            if check.follow_redirects and response.status in REDIRECT_STATUSES and location:
                url = _redirect_target(url, location, hop, seen)
                seen.add(str(url))
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, data = ("HEAD" if method == "HEAD" else "GET"), None
                continue
            if not any(response.status in r for r in check.expect_status):
                expected = ", ".join(str(r) for r in check.expect_status)
                raise ProbeFailure(ErrorKind.HTTP_STATUS, f"HTTP {response.status}, expected {expected}")
            needs_text = check.body_contains is not None or check.body_regex is not None
            body = b"" if method == "HEAD" else await _read_capped(response, check.max_body, needs_text)
            if needs_text:
                _check_body(check, _decode(response, body))
            attempt.notes.append(f"HTTP {response.status}" + (f" after {hop} redirect(s)" if hop else ""))
            return
    raise AssertionError("the redirect loop returns or raises")  # pragma: no cover


async def probe_http(endpoint: Endpoint, attempt: Attempt, client: ProbeClient) -> None:
    """Run the http check through ``client``'s session for the endpoint's address family; raises ProbeFailure
    (or an aiohttp/OS error for ``classify``) when it fails. A deadline that cancels it mid-request leaves the
    session as it was: aiohttp closes that request's connection."""
    check = endpoint.http
    assert check is not None
    await _exchange(client.session(family_for(endpoint.ip_version)), endpoint, check, attempt)
