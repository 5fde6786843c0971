"""The dns probe, the UDP DNS client, and configured resolvers used by http/tcp probes."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.probes import dnswire, run_probe
from tests.probes.servers import LOOPBACK, DnsServer, RunningServer, endpoint


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def resolve(
    server: DnsServer | None, dns: Any, *, resolvers: list[str] | None = None, **spec: Any
) -> ProbeResult:
    chosen = resolvers if resolvers is not None else [server.address] if server else []
    return await run_probe(endpoint(dns=dns, **spec), agent="a", resolvers=chosen)


@pytest.mark.parametrize(
    ("dns", "outcome", "kind", "detail"),
    [
        ({"name": "ok.test", "type": "A"}, Outcome.UP, None, "A 127.0.0.1"),
        ({"name": "ok.test", "type": "AAAA"}, Outcome.UP, None, "AAAA ::1"),
        ({"name": "ok.test"}, Outcome.UP, None, "ANY 127.0.0.1, ::1"),
        ({"name": "OK.test.", "type": "A"}, Outcome.UP, None, "A 127.0.0.1"),
        ({"name": "two.test", "expect": ["192.0.2.2", "192.0.2.1"]}, Outcome.UP, None, "ANY 192.0.2.1, 192.0.2.2"),
        (
            {"name": "two.test", "expect": ["192.0.2.1", "192.0.2.9"]},
            Outcome.DOWN,
            ErrorKind.DNS_MISMATCH,
            "expected 192.0.2.9; got 192.0.2.1, 192.0.2.2",
        ),
        ({"name": "ok.test", "expect": ["0:0::1"]}, Outcome.UP, None, "ANY 127.0.0.1, ::1"),
        ({"name": "nx.test"}, Outcome.DOWN, ErrorKind.DNS_NXDOMAIN, f"nx.test: NXDOMAIN from {LOOPBACK}:"),
        ({"name": "v4only.test", "type": "AAAA"}, Outcome.DOWN, ErrorKind.DNS_NXDOMAIN, "v4only.test: no AAAA record"),
        ({"name": "fail.test"}, Outcome.DOWN, ErrorKind.DNS_TEMPORARY, "SERVFAIL"),
        ({"name": "refused.test"}, Outcome.DOWN, ErrorKind.DNS_TEMPORARY, "REFUSED"),
        ({"name": "gone.invalid"}, Outcome.DOWN, ErrorKind.DNS_NXDOMAIN, "gone.invalid: names under .invalid"),
    ],
)
async def test_dns_probe_through_a_resolver(
    dns_server: DnsServer, dns: dict[str, Any], outcome: Outcome, kind: ErrorKind | None, detail: str
) -> None:
    result = await resolve(dns_server, dns)
    assert (result.outcome, result.error_kind) == (outcome, kind), result.detail
    assert detail in result.detail, result.detail
    if kind is not ErrorKind.DNS_NXDOMAIN or "invalid" not in dns["name"]:
        assert "dns" in result.phases


async def test_invalid_names_are_never_asked(dns_server: DnsServer) -> None:
    await resolve(dns_server, "x.invalid.")
    assert dns_server.queries == []


@pytest.mark.fault("a silent resolver", expected="dns_temporary within the timeout")
async def test_silent_resolver_is_temporary_within_the_timeout(dns_server: DnsServer) -> None:
    start = time.monotonic()
    result = await resolve(dns_server, "silent.test", timeout="400ms")
    elapsed = time.monotonic() - start
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.DNS_TEMPORARY)
    assert 0.35 <= elapsed < 0.9  # the deadline, plus slack for a loaded machine
    assert ("silent.test", 1) in dns_server.queries and len(dns_server.queries) >= 4  # A and AAAA, retransmitted


async def test_next_resolver_is_asked_after_a_silent_or_dead_one(dns_server: DnsServer) -> None:
    silent = f"{LOOPBACK}:{free_udp_port()}"  # nothing listens: ICMP port unreachable, or silence
    result = await resolve(None, {"name": "ok.test", "type": "A"}, resolvers=[silent, dns_server.address])
    assert (result.outcome, result.detail) == (Outcome.UP, "A 127.0.0.1")


async def test_nxdomain_from_the_first_resolver_is_final(dns_server: DnsServer) -> None:
    other = f"{LOOPBACK}:{free_udp_port()}"
    result = await resolve(None, "nx.test", resolvers=[dns_server.address, other], timeout="2s")
    assert result.error_kind is ErrorKind.DNS_NXDOMAIN
    assert result.latency_ms is not None and result.latency_ms < 500


@pytest.mark.fault("every resolver dead", expected="dns_temporary")
async def test_all_resolvers_dead_is_temporary() -> None:
    dead = [f"{LOOPBACK}:{free_udp_port()}", f"{LOOPBACK}:{free_udp_port()}"]
    result = await resolve(None, "ok.test", resolvers=dead, timeout="600ms")
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.DNS_TEMPORARY)
    assert result.detail.startswith("ok.test: no usable answer from any resolver")


async def test_bad_resolver_address_is_an_agent_error() -> None:
    result = await resolve(None, "ok.test", resolvers=["not-an-ip"])
    assert (result.outcome, result.error_kind) == (Outcome.UNKNOWN, ErrorKind.AGENT_ERROR)


async def test_system_resolver() -> None:
    result = await resolve(None, {"name": "localhost", "type": "A"})
    assert result.outcome is Outcome.UP and "127.0.0.1" in result.detail, result.detail
    result = await resolve(None, "nothing-here.invalid")
    assert result.error_kind is ErrorKind.DNS_NXDOMAIN


async def test_http_and_tcp_use_the_configured_resolvers(dns_server: DnsServer, http_server: RunningServer) -> None:
    url = http_server.url("/ok", host="ok.test")
    up = await run_probe(endpoint(http=url, ip_version=4), agent="a", resolvers=[dns_server.address])
    assert (up.outcome, up.status_code) == (Outcome.UP, 200), up.detail
    assert "dns" in up.phases
    assert ("ok.test", dnswire.QTYPE_A) in dns_server.queries
    assert ("ok.test", dnswire.QTYPE_AAAA) not in dns_server.queries  # ip_version 4: A only
    nx = await run_probe(endpoint(http="http://nx.test/"), agent="a", resolvers=[dns_server.address])
    assert nx.error_kind is ErrorKind.DNS_NXDOMAIN
    tcp = await run_probe(endpoint(tcp=f"fail.test:{http_server.port}"), agent="a", resolvers=[dns_server.address])
    assert tcp.error_kind is ErrorKind.DNS_TEMPORARY
    tcp = await run_probe(
        endpoint(tcp=f"ok.test:{http_server.port}", ip_version=4), agent="a", resolvers=[dns_server.address]
    )
    assert tcp.outcome is Outcome.UP, tcp.detail


async def test_a_silent_resolver_during_an_http_probe_is_dns_temporary(dns_server: DnsServer) -> None:
    result = await run_probe(
        endpoint(http="http://silent.test/", timeout="300ms"), agent="a", resolvers=[dns_server.address]
    )
    assert result.error_kind is ErrorKind.DNS_TEMPORARY


# --- the wire format ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        (" 127.0.0.1 ", ("127.0.0.1", 53)),
    ],
)
def test_parse_server(spec: str, expected: tuple[str, int]) -> None:
    assert dnswire.parse_server(spec) == expected


@pytest.mark.parametrize("spec", ["dns.example", "1.2.3.4:0", "1.2.3.4:70000", "[::1", "[::1]x", "1.2.3.4:x"])
def test_parse_server_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        dnswire.parse_server(spec)


def test_query_layout() -> None:
    assert dnswire.build_query(0x1234, "ok.test.", dnswire.QTYPE_AAAA) == (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x02ok\x04test\x00" + b"\x00\x1c\x00\x01"
    )
    with pytest.raises(ValueError):
        dnswire.encode_name("a" * 64 + ".test")
    with pytest.raises(ValueError):
        dnswire.encode_name("a..test")


def _reply(query_id: int, rcode: int, answers: bytes, ancount: int, flags: int = 0x8180) -> bytes:
    header = struct.pack("!HHHHHH", query_id, flags | rcode, 1, ancount, 0, 0)
    return header + b"\x02ok\x04test\x00\x00\x01\x00\x01" + answers


def test_parse_response_follows_compression_and_skips_other_types() -> None:
    cname = struct.pack("!HHHIH", 0xC00C, dnswire.QTYPE_CNAME, 1, 30, 2) + b"\xc0\x0c"
    a_rec = struct.pack("!HHHIH", 0xC00C, dnswire.QTYPE_A, 1, 60, 4) + bytes([192, 0, 2, 7])
    answer = dnswire.parse_response(_reply(7, 0, cname + a_rec, 2), 7, "ok.test", dnswire.QTYPE_A)
    # The TTL is the chain's shortest: the CNAME's 30 s, not the address record's 60 s.
    assert answer == dnswire.DnsAnswer(rcode=0, addresses=("192.0.2.7",), ttl=30)


def test_parse_response_ttl_with_the_top_bit_set_is_zero_and_no_record_is_no_ttl() -> None:
    a_rec = struct.pack("!HHHIH", 0xC00C, dnswire.QTYPE_A, 1, 0x80000005, 4) + bytes([192, 0, 2, 7])
    assert dnswire.parse_response(_reply(7, 0, a_rec, 1), 7, "ok.test", dnswire.QTYPE_A).ttl == 0  # RFC 2181 s. 8
    assert dnswire.parse_response(_reply(7, 3, b"", 0), 7, "ok.test", dnswire.QTYPE_A).ttl is None


def test_parse_response_rejects_other_replies() -> None:
    with pytest.raises(dnswire.DnsWireError):
        dnswire.parse_response(_reply(8, 0, b"", 0), 7, "ok.test", dnswire.QTYPE_A)  # another id
    with pytest.raises(dnswire.DnsWireError):
        dnswire.parse_response(_reply(7, 0, b"", 0), 7, "other.test", dnswire.QTYPE_A)  # another question
    loop = struct.pack("!H", 0xC000 | 29) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    with pytest.raises(dnswire.DnsWireError):
        dnswire.parse_response(_reply(7, 0, b"\xc0\x1d", 1) + loop, 7, "ok.test", dnswire.QTYPE_A)


def test_truncated_reply_keeps_whole_records() -> None:
    a_rec = struct.pack("!HHHIH", 0xC00C, dnswire.QTYPE_A, 1, 60, 4) + bytes([192, 0, 2, 7])
    answer = dnswire.parse_response(_reply(7, 0, a_rec + a_rec[:6], 2, flags=0x8380), 7, "ok.test", dnswire.QTYPE_A)
    assert (answer.addresses, answer.truncated) == (("192.0.2.7",), True)


@given(st.binary(max_size=300))
def test_parse_response_fails_only_with_dns_wire_error(data: bytes) -> None:
    with contextlib.suppress(dnswire.DnsWireError):
        dnswire.parse_response(data, 7, "ok.test", dnswire.QTYPE_A)


@given(st.binary(max_size=200))
def test_parse_response_on_garbage_after_a_valid_header(tail: bytes) -> None:
    with contextlib.suppress(dnswire.DnsWireError):
        dnswire.parse_response(_reply(7, 0, tail, 3), 7, "ok.test", dnswire.QTYPE_A)
