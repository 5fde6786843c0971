"""One ``ProbeClient`` shared by many http probes: each probe still opens a fresh connection, and each endpoint's
settings (headers, TLS verification, address family, deadline) apply to its own probe only; no cookie carries over."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from probe_agent.model import ErrorKind, Outcome
from probe_agent.probes import ProbeClient, run_probe
from tests.probes.servers import (
    LOOPBACK,
    DnsServer,
    RunningServer,
    TlsMaterial,
    endpoint,
    serve_app,
    start_raw_server,
    target_app,
)


@dataclass
class CountingServer:
    """HTTP/1.1 on 127.0.0.1 that keeps connections alive (so a client *could* reuse one), sets a cookie on every
    answer, and records each connection accepted and each request's headers."""

    port: int = 0
    connections: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")[1:]
                self.requests.append(
                    {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
                    b"Set-Cookie: session=secret-from-the-target; Path=/\r\n\r\nok"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"


@contextlib.asynccontextmanager
async def counting_server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    server = await asyncio.start_server(counting.handle, LOOPBACK, 0)
    counting.port = server.sockets[0].getsockname()[1]
    try:
        yield counting
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1)


async def test_every_probe_opens_a_fresh_connection_and_no_cookie_carries_over() -> None:
    async with counting_server() as server, ProbeClient() as client:
        one = endpoint(http={"url": server.url("/a"), "headers": {"X-Probe": "one"}})
        two = endpoint(http={"url": server.url("/b"), "headers": {"X-Probe": "two"}})
        results = [await run_probe(ep, agent="a", client=client) for ep in (one, two, one, two, one)]
    assert [r.outcome for r in results] == [Outcome.UP] * 5, [r.detail for r in results]
    assert server.connections == 5  # one per probe, though the server kept every connection open
    assert all("connect" in r.phases for r in results)  # each probe measured its own connect
    assert [req.get("x-probe") for req in server.requests] == ["one", "two", "one", "two", "one"]
    assert [req.get("cookie") for req in server.requests] == [None] * 5  # the Set-Cookie of each answer is dropped


async def test_tls_verification_is_the_endpoints_own_on_a_shared_client(tls_material: TlsMaterial) -> None:
    async with serve_app(target_app(), tls_material.server_context("self_signed")) as server, ProbeClient() as client:
        strict = endpoint(http={"url": server.url("/ok")})
        lax = endpoint(http={"url": server.url("/ok"), "verify_tls": False})
        results = [await run_probe(ep, agent="a", client=client) for ep in (strict, lax, strict)]
    assert [r.outcome for r in results] == [Outcome.DOWN, Outcome.UP, Outcome.DOWN]
    assert results[0].error_kind is results[2].error_kind is ErrorKind.TLS_INVALID
    assert "tls" in results[1].phases  # a handshake on each probe's own connection


async def test_address_family_is_the_endpoints_own_on_a_shared_client(
    http_server: RunningServer, dns_server: DnsServer
) -> None:
    """ok.test has A 127.0.0.1 and AAAA ::1; the server listens on 127.0.0.1 only, so IPv6 cannot connect."""
    url = f"http://ok.test:{http_server.port}/ok"
    async with ProbeClient() as client:
        v4 = endpoint(http=url, ip_version=4)
        v6 = endpoint(http=url, ip_version=6)
        results = [await run_probe(ep, agent="a", resolvers=[dns_server.address], client=client) for ep in (v4, v6, v4)]
    assert [r.outcome for r in results] == [Outcome.UP, Outcome.DOWN, Outcome.UP], [r.detail for r in results]
    assert results[1].error_kind is ErrorKind.CONNECT_REFUSED, results[1].detail
    assert [q for q in dns_server.queries if q[0] == "ok.test"] == [("ok.test", 1), ("ok.test", 28), ("ok.test", 1)]


async def test_a_deadline_mid_request_leaves_the_client_usable(http_server: RunningServer) -> None:
    silent = await start_raw_server("silent")
    try:
        async with ProbeClient() as client:
            stuck = endpoint(http=f"http://{LOOPBACK}:{silent.port}/", timeout="300ms")
            first = await run_probe(stuck, agent="a", client=client)
            second = await run_probe(endpoint(http=http_server.url("/ok")), agent="a", client=client)
    finally:
        await silent.close()
    assert (first.outcome, first.error_kind) == (Outcome.DOWN, ErrorKind.READ_TIMEOUT)
    assert second.outcome is Outcome.UP


def test_a_client_is_built_without_a_loop_and_opens_nothing_until_used() -> None:
    client = ProbeClient()  # what each worker process builds: no event loop needed, no socket opened
    assert not client.closed and len(client.dns_cache) == 0
    asyncio.run(client.close())
    asyncio.run(client.close())  # idempotent
    assert client.closed


async def test_a_closed_client_refuses_and_closing_closes_its_sessions(http_server: RunningServer) -> None:
    client = ProbeClient()
    assert (await run_probe(endpoint(http=http_server.url("/ok")), agent="a", client=client)).outcome is Outcome.UP
    session = client.session(socket.AF_UNSPEC)
    async with client:
        pass
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.session(socket.AF_UNSPEC)


async def test_a_client_serves_one_event_loop(http_server: RunningServer) -> None:
    client = ProbeClient()
    client.session(socket.AF_INET)

    def other_loop() -> Any:
        async def use() -> None:
            client.session(socket.AF_INET)

        return asyncio.run(use())

    with pytest.raises(RuntimeError, match="one event loop"):
        await asyncio.to_thread(other_loop)
    await client.close()
