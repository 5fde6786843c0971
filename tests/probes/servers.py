"""Real loopback servers for probe tests (and for other tests that need a target): HTTP(S), raw TCP
misbehaviour, a full-backlog listener and a small authoritative-style UDP DNS server. 127.0.0.1 only.

Everything here is a plain async helper or class, so any test module can import it; ``conftest.py`` wraps the
common ones as fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import trustme
from aiohttp import web

from probe_agent.config.document import Config
from probe_agent.config.schema import Endpoint

LOOPBACK = "127.0.0.1"


def endpoint(**spec: Any) -> Endpoint:
    """A validated endpoint with the config's defaults applied, e.g. ``endpoint(http=url, timeout="1s")``."""
    return Config.model_validate({"endpoints": [{"id": "target", **spec}]}).endpoints[0]


class TlsMaterial:
    """A private CA (written to ``ca_file``) and server certificates for every TLS case the tests need.

    ``valid``: localhost and 127.0.0.1; ``expired``; ``soon`` (5 days left); ``wrong_host`` (other.example);
    ``self_signed``: issued by another CA that nobody trusts.
    """

    def __init__(self, directory: str) -> None:
        now = datetime.now(UTC)
        self.ca = trustme.CA()
        self.ca_file = f"{directory}/ca.pem"
        self.ca.cert_pem.write_to_path(self.ca_file)
        stranger = trustme.CA()
        names = ("localhost", LOOPBACK)
        self.certs = {
            "valid": self.ca.issue_cert(*names),
            "expired": self.ca.issue_cert(
                *names, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
            ),
            "soon": self.ca.issue_cert(*names, not_after=now + timedelta(days=5, hours=12)),
            "wrong_host": self.ca.issue_cert("other.example"),
            "self_signed": stranger.issue_cert(*names),
        }

    def server_context(self, which: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.certs[which].configure_cert(context)
        return context


@dataclass
class RunningServer:
    """An aiohttp app served on 127.0.0.1 at an ephemeral port."""

    runner: web.AppRunner
    port: int
    scheme: str = "http"

    def url(self, path: str = "/", host: str = LOOPBACK) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_app(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    return RunningServer(runner, port, "https" if ssl_context is not None else "http")


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[RunningServer]:
    server = await start_app(app, ssl_context)
    try:
        yield server
    finally:
        await server.close()


@lru_cache(maxsize=1)
def gzip_bomb(inflated_bytes: int = 1 << 30) -> bytes:
    """A single gzip member of ``inflated_bytes`` zeros (1 GiB -> about 1 MB), built by streaming."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated_bytes // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def target_app() -> web.Application:
    """Routes for every HTTP behaviour the probe tests need (``/elsewhere?to=URL`` redirects anywhere)."""
    routes = web.RouteTableDef()

    @routes.get("/ok")
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="hello probe world; version 1.2.3")

    @routes.route("*", "/echo-method")
    async def echo_method(request: web.Request) -> web.Response:
        body = await request.text()
        return web.Response(text=f"{request.method} {body}")

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    @routes.get("/sleep/{ms}")
    async def sleep(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.Response(text="late")

    @routes.get("/trickle")
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"x")
            await asyncio.sleep(0.2)
        return response

    @routes.get("/big")
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=bytes(10 * 1000 * 1000))

    @routes.get("/big-chunked")
    async def big_chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        block = b"y" * 65536
        for _ in range(160):  # 10 MiB, no Content-Length
            await response.write(block)
        return response

    @routes.get("/bomb")
    async def bomb(_: web.Request) -> web.Response:
        return web.Response(body=gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    @routes.get("/gzip-ok")
    async def gzip_ok(_: web.Request) -> web.Response:
        body = zlib.compress(b"compressed hello", wbits=31)
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    @routes.get("/latin1")
    async def latin1(_: web.Request) -> web.Response:
        return web.Response(body="café".encode("latin-1"), content_type="text/plain", charset="latin-1")

    @routes.get("/loop")
    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    @routes.get("/loop-a")
    async def loop_a(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop-b")

    @routes.get("/loop-b")
    async def loop_b(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop-a")

    @routes.get("/chain/{n}")
    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text="end of chain")
        raise web.HTTPMovedPermanently(f"/chain/{n - 1}")

    @routes.post("/see-other")
    async def see_other(_: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/echo-method")

    @routes.get("/elsewhere")
    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    @routes.get("/redirect-no-location")
    async def no_location(_: web.Request) -> web.Response:
        return web.Response(status=302)

    app = web.Application()
    app.add_routes(routes)
    return app


@dataclass
class RawServer:
    """A plain asyncio TCP server that misbehaves in one of several ways (see ``start_raw_server``)."""

    server: asyncio.Server
    port: int

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_raw_server(mode: str) -> RawServer:
    """``reset``: read the request, then close with SO_LINGER 0 (an RST).
    ``partial``: promise 1000 bytes, send 10, close. ``garbage``: answer with something that is not HTTP.
    ``silent``: accept, read, never answer.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
        try:
            if mode == "reset":
                sock: socket.socket = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if mode == "partial":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)
            elif mode == "garbage":
                writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            elif mode == "silent":
                await asyncio.sleep(30)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, LOOPBACK, 0)
    return RawServer(server, server.sockets[0].getsockname()[1])


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def full_backlog(max_fillers: int = 64) -> Iterator[int]:
    """A listener whose accept queue is full, so new connects hang (SYNs dropped): a connect timeout on loopback.

    Yields its port; raises RuntimeError if the queue never filled (the kernel kept accepting).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(max_fillers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(0.2)
            fillers.append(sock)
            try:
                sock.connect((LOOPBACK, port))
            except TimeoutError:
                break  # this one hangs: the queue is full
        else:
            raise RuntimeError("the accept queue never filled")
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


# --- DNS -------------------------------------------------------------------------------------------------------

QTYPE_A, QTYPE_AAAA = 1, 28


@dataclass
class DnsZone:
    """What the test DNS server answers. Names are lower-case without the trailing dot."""

    a: dict[str, list[str]] = field(default_factory=dict)
    aaaa: dict[str, list[str]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)  # never answered
    ttl: dict[str, int] = field(default_factory=dict)  # seconds per name (default 60)

    def known(self, name: str) -> bool:
        return name in self.a or name in self.aaaa


def default_zone() -> DnsZone:
    return DnsZone(
        a={"ok.test": ["127.0.0.1"], "two.test": ["192.0.2.1", "192.0.2.2"], "v4only.test": ["127.0.0.1"]},
        aaaa={"ok.test": ["::1"]},
        servfail={"fail.test"},
        refused={"refused.test"},
        silent={"silent.test"},
    )


def _question(packet: bytes) -> tuple[str, int, int]:
    offset, labels = 12, []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode().lower())
        offset += 1 + length
    qtype = struct.unpack_from("!H", packet, offset + 1)[0]
    return ".".join(labels), qtype, offset + 5


class DnsServer(asyncio.DatagramProtocol):
    """A UDP DNS server on 127.0.0.1 answering from a ``DnsZone``; unknown names get NXDOMAIN."""

    def __init__(self, zone: DnsZone) -> None:
        self.zone = zone
        self.queries: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: on 3.11 the selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        name, qtype, end = _question(data)
        self.queries.append((name, qtype))
        if name in self.zone.silent:
            return
        rcode, records = 0, []
        if name in self.zone.servfail:
            rcode = 2
        elif name in self.zone.refused:
            rcode = 5
        elif not self.zone.known(name):
            rcode = 3
        elif qtype == QTYPE_A:
            records = [(QTYPE_A, socket.inet_pton(socket.AF_INET, a)) for a in self.zone.a.get(name, [])]
        elif qtype == QTYPE_AAAA:
            records = [(QTYPE_AAAA, socket.inet_pton(socket.AF_INET6, a)) for a in self.zone.aaaa.get(name, [])]
        query_id, flags = struct.unpack_from("!HH", data)
        header = struct.pack("!HHHHHH", query_id, 0x8000 | 0x0080 | (flags & 0x0100) | rcode, 1, len(records), 0, 0)
        ttl = self.zone.ttl.get(name, 60)
        answers = b"".join(struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata for rtype, rdata in records)
        assert self.transport is not None
        self.transport.sendto(header + data[12:end] + answers, addr)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def start_dns_server(zone: DnsZone | None = None) -> DnsServer:
    loop = asyncio.get_running_loop()
    _, server = await loop.create_datagram_endpoint(lambda: DnsServer(zone or default_zone()), local_addr=(LOOPBACK, 0))
    assert server.transport is not None
    server.port = server.transport.get_extra_info("sockname")[1]
    return server
