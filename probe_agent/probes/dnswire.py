"""A small UDP DNS client (RFC 1035): one question, A or AAAA, recursion desired. Stdlib only.

Only what a probe needs: build a query, send it to one nameserver over UDP (retransmitting once), and read the
rcode and the A/AAAA records of the answer section (CNAME chains are followed by the recursive resolver; we take
every address record it returns), and the smallest TTL among the answer's records (a CNAME's too: the chain is only
as fresh as its shortest-lived link), which bounds how long ``dns_cache: ttl`` may reuse the answer. A truncated
answer (TC bit) is used as far as it goes; there is no TCP fallback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import struct
from dataclasses import dataclass

QTYPE_A = 1
QTYPE_AAAA = 28
QTYPE_CNAME = 5
QCLASS_IN = 1

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

_FLAG_QR = 0x8000
_FLAG_TC = 0x0200
_FLAG_RD = 0x0100
_HEADER = struct.Struct("!HHHHHH")
_MAX_POINTER_HOPS = 64  # a compression-pointer loop in a hostile answer must not spin forever


class DnsWireError(Exception):
    """No usable answer from one nameserver: silence, a malformed reply or a reply to another question."""


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One nameserver's reply: the rcode and the addresses (normalised text form) in its answer section.

    ``ttl`` is the smallest TTL (seconds) of the class-IN records read from the answer section, None when it has
    none (NXDOMAIN, NODATA, or a truncated reply that kept no whole record).
    """

    rcode: int
    addresses: tuple[str, ...]
    truncated: bool = False
    ttl: int | None = None

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")


def parse_server(spec: str) -> tuple[str, int]:
    """``"192.0.2.53"``, ``"192.0.2.53:5353"``, ``"::1"``, ``"[::1]:5353"`` -> (ip, port); raises ValueError."""
    text = spec.strip()
    port = 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"nameserver {spec!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"nameserver {spec!r}: expected ':port' after ']'")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    else:
        host = text
    ipaddress.ip_address(host)  # nameservers are addresses: resolving them would need a resolver
    if not 1 <= port <= 65535:
        raise ValueError(f"nameserver {spec!r}: port out of range")
    return host, port


def encode_name(name: str) -> bytes:
    """The wire form of a domain name (labels, then a zero byte). Raises ValueError for an unencodable name."""
    stripped = name.rstrip(".")
    out = bytearray()
    if stripped:
        for label in stripped.split("."):
            raw = label.encode("idna") if not label.isascii() else label.encode("ascii")
            if not 1 <= len(raw) <= 63:
                raise ValueError(f"{name!r}: a label must have 1 to 63 bytes")
            out += bytes([len(raw)]) + raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"{name!r}: a name must not exceed 255 bytes")
    return bytes(out)


def build_query(query_id: int, name: str, qtype: int) -> bytes:
    """A standard query with recursion desired."""
    return _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, QCLASS_IN)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset just past it in the record."""
    labels: list[str] = []
    end: int | None = None
    hops = 0
    while True:
        if offset >= len(data):
            raise DnsWireError("truncated name")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsWireError("truncated compression pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            hops += 1
            if hops > _MAX_POINTER_HOPS:
                raise DnsWireError("compression pointer loop")
            continue
        if length & 0xC0:
            raise DnsWireError("unsupported label type")
        offset += 1
        if length == 0:
            break
        labels.append(data[offset : offset + length].decode("ascii", errors="replace").lower())
        offset += length
    return ".".join(labels), end if end is not None else offset


def parse_response(data: bytes, query_id: int, name: str, qtype: int) -> DnsAnswer:
    """Parse a reply to our question. Raises DnsWireError if it is malformed or answers something else."""
    if len(data) < _HEADER.size:
        raise DnsWireError("reply shorter than a DNS header")
    reply_id, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(data)
    if reply_id != query_id or not flags & _FLAG_QR:
        raise DnsWireError("reply to another query")
    offset = _HEADER.size
    want = name.rstrip(".").lower()
    for _ in range(qdcount):
        qname, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise DnsWireError("truncated question")
        rqtype, _rqclass = struct.unpack_from("!HH", data, offset)
        offset += 4
        if qname != want or rqtype != qtype:
            raise DnsWireError("reply to another question")
    addresses: list[str] = []
    ttl: int | None = None
    for _ in range(ancount):
        try:
            _owner, offset = _read_name(data, offset)
        except DnsWireError:
            if flags & _FLAG_TC:
                break  # a truncated reply: keep what arrived whole
            raise
        if offset + 10 > len(data):
            if flags & _FLAG_TC:
                break
            raise DnsWireError("truncated answer record")
        rtype, rclass, record_ttl, rdlength = struct.unpack_from("!HHIH", data, offset)
        offset += 10
        rdata = data[offset : offset + rdlength]
        if len(rdata) != rdlength:
            if flags & _FLAG_TC:
                break
            raise DnsWireError("truncated answer data")
        offset += rdlength
        if rclass != QCLASS_IN:
            continue
        # RFC 2181 section 8: a TTL with the top bit set is read as zero.
        record_ttl = 0 if record_ttl & 0x80000000 else record_ttl
        ttl = record_ttl if ttl is None else min(ttl, record_ttl)
        if rtype == QTYPE_A == qtype and rdlength == 4:
            addresses.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == QTYPE_AAAA == qtype and rdlength == 16:
            addresses.append(str(ipaddress.IPv6Address(rdata)))
    return DnsAnswer(rcode=flags & 0x000F, addresses=tuple(addresses), truncated=bool(flags & _FLAG_TC), ttl=ttl)


class _ReplyCatcher(asyncio.DatagramProtocol):
    def __init__(self, query_id: int, name: str, qtype: int) -> None:
        self.answer: asyncio.Future[DnsAnswer] = asyncio.get_running_loop().create_future()
        self._query = (query_id, name, qtype)
        self.last_problem = "no reply"

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.answer.done():
            return
        try:
            self.answer.set_result(parse_response(data, *self._query))
        except (DnsWireError, ValueError, struct.error) as exc:
            self.last_problem = str(exc)  # a stray or forged datagram: keep waiting for the real reply

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable arrives here on a connected UDP socket: nobody serves DNS there.
        if not self.answer.done():
            self.answer.set_exception(DnsWireError(f"nameserver unreachable ({exc})"))


async def query(server: tuple[str, int], name: str, qtype: int, timeout_s: float) -> DnsAnswer:
    """Ask ``server`` about ``name``/``qtype`` over UDP; retransmit once at half of ``timeout_s``.

    Raises DnsWireError when no usable reply arrives within ``timeout_s``, ValueError for an unencodable name.
    """
    query_id = secrets.randbelow(1 << 16)
    packet = build_query(query_id, name, qtype)
    loop = asyncio.get_running_loop()
    # A connected socket: the kernel drops datagrams from any other address than the nameserver's.
    transport, catcher = await loop.create_datagram_endpoint(
        lambda: _ReplyCatcher(query_id, name, qtype), remote_addr=server
    )
    try:
        for wait_s in (timeout_s / 2, timeout_s / 2):
            transport.sendto(packet)
            try:
                return await asyncio.wait_for(asyncio.shield(catcher.answer), wait_s)
            except TimeoutError:
                continue
        raise DnsWireError(f"{catcher.last_problem} within {timeout_s * 1000:.0f} ms")
    finally:
        transport.close()
        if not catcher.answer.done():
            catcher.answer.cancel()
        elif not catcher.answer.cancelled():
            catcher.answer.exception()  # mark retrieved: an unreachable error after a timeout is not news
