"""Name resolution for every probe kind, and the ``dns`` probe itself.

One function, :func:`lookup_addresses`, resolves names for all probes: through the system resolver
(``getaddrinfo``) when the agent has no ``resolvers``, else through them with the UDP client in ``dnswire``.
``http`` probes reach it through :class:`ProbeResolver` (an aiohttp resolver), ``tcp``/``tls`` probes directly.
For an endpoint with ``dns_cache: ttl`` the probe's ``Attempt`` carries its event loop's ``DnsCache``: an answer
of the configured resolvers is reused for at most its TTL (``dnscache.py``), and a probe answered from it records
no ``dns`` phase (no lookup took place, as for an IP literal).

Rules:
- Names under ``.invalid`` are NXDOMAIN without asking anybody (RFC 6761 section 6.4).
- IP literals are not resolved.
- Configured resolvers are tried in order, each with an equal share of the time left; NXDOMAIN from one is final,
  SERVFAIL/REFUSED/silence moves on to the next; if none answers, the lookup is ``dns_temporary``.
- ``ANY`` in a dns check means A and AAAA (asked in parallel); real ANY queries are deprecated (RFC 8482).
- A name that exists but has no address of the asked family is reported as ``dns_nxdomain`` ("no A record"),
  as ``getaddrinfo`` does (EAI_NODATA).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from probe_agent.config.schema import Endpoint
from probe_agent.model import ErrorKind
from probe_agent.probes import dnswire
from probe_agent.probes.attempt import Attempt, ProbeFailure, Stage, current_attempt
from probe_agent.probes.classify import DnsLookupError, classify_gaierror
from probe_agent.probes.dnscache import DnsCache

_QTYPES = {
    socket.AF_INET: (dnswire.QTYPE_A,),
    socket.AF_INET6: (dnswire.QTYPE_AAAA,),
    socket.AF_UNSPEC: (dnswire.QTYPE_A, dnswire.QTYPE_AAAA),
}
_FAMILY_RECORDS = {socket.AF_INET: "A", socket.AF_INET6: "AAAA", socket.AF_UNSPEC: "A or AAAA"}
_CHECK_FAMILY = {"A": socket.AF_INET, "AAAA": socket.AF_INET6, "ANY": socket.AF_UNSPEC}
_TEMPORARY_RCODES = {
    dnswire.RCODE_SERVFAIL,
    dnswire.RCODE_REFUSED,
    dnswire.RCODE_FORMERR,
    dnswire.RCODE_NOTIMP,
}
_MIN_SHARE_S = 0.05  # never ask a nameserver with less time than this: the deadline cuts it short anyway


def family_for(ip_version: str) -> socket.AddressFamily:
    """The socket family an endpoint's ``ip_version`` (``"4"``, ``"6"``, ``"any"``) asks for."""
    return {"4": socket.AF_INET, "6": socket.AF_INET6}.get(ip_version, socket.AF_UNSPEC)


def check_literal_family(host: str, family: socket.AddressFamily) -> None:
    """An IP literal of the other family than ``ip_version`` asks for is a config error: ``agent_error``."""
    literal = _ip_literal(host)
    if literal is not None and family != socket.AF_UNSPEC and _family_of(literal) != family:
        version = 4 if family == socket.AF_INET else 6
        raise DnsLookupError(ErrorKind.AGENT_ERROR, f"{host} is not an IPv{version} address (ip_version {version})")


def is_invalid_tld(name: str) -> bool:
    """True for ``invalid`` and names under it, which must never resolve (RFC 6761)."""
    bare = name.rstrip(".").lower()
    return bare == "invalid" or bare.endswith(".invalid")


@functools.lru_cache(maxsize=4096)  # asked for every probe of every host; a failed parse raises, which is slow
def _ip_literal(name: str) -> str | None:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return None


def _family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def lookup_addresses(
    name: str, family: socket.AddressFamily, attempt: Attempt, *, for_connect: bool = True
) -> list[str]:
    """The addresses of ``name`` (normalised text, in answer order, no duplicates). Raises DnsLookupError.

    ``for_connect`` asks the system resolver for addresses this host can use (AI_ADDRCONFIG), as aiohttp does;
    the dns probe asks without it, since it checks the records rather than connecting (and never uses the cache).
    ``attempt.dns_cached`` tells afterwards whether the answer came from ``attempt.dns_cache``.
    """
    attempt.dns_cached = False
    literal = _ip_literal(name)
    if literal is not None:
        check_literal_family(name, family)
        return [literal]
    if is_invalid_tld(name):
        raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: names under .invalid never resolve (RFC 6761)")
    if not attempt.resolvers:
        return await _lookup_system(name, family, for_connect)
    cache = attempt.dns_cache if for_connect else None
    if cache is None:
        return (await _lookup_wire(name, family, attempt))[0]
    key = DnsCache.key(name, family, attempt.resolvers)
    asked_s = attempt.monotonic()
    cached = cache.get(key, asked_s)
    if cached is not None:
        attempt.dns_cached = True
        return cached
    addresses, ttl = await _lookup_wire(name, family, attempt)  # a failure raises: never cached
    cache.put(key, addresses, ttl, asked_s)
    return addresses


async def _lookup_system(name: str, family: socket.AddressFamily, for_connect: bool) -> list[str]:
    loop = asyncio.get_running_loop()
    flags = socket.AI_ADDRCONFIG if for_connect else 0
    try:
        infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM, flags=flags)
    except socket.gaierror as exc:
        raise DnsLookupError(*classify_gaierror(exc, name)) from exc
    except UnicodeError as exc:  # an empty or over-long label: no such name can exist
        raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: not a valid domain name ({exc})") from exc
    addresses: list[str] = []
    for info_family, _type, _proto, _canon, sockaddr in infos:
        if info_family in (socket.AF_INET, socket.AF_INET6):
            text = str(ipaddress.ip_address(sockaddr[0]))
            if text not in addresses:
                addresses.append(text)
    if not addresses:
        raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: no {_FAMILY_RECORDS[family]} record")
    return addresses


async def _lookup_wire(name: str, family: socket.AddressFamily, attempt: Attempt) -> tuple[list[str], int | None]:
    """The addresses and the smallest TTL among the answers that gave them (None: none said)."""
    try:
        servers = [dnswire.parse_server(spec) for spec in attempt.resolvers]
    except ValueError as exc:
        raise DnsLookupError(ErrorKind.AGENT_ERROR, f"bad resolver address: {exc}") from exc
    qtypes = _QTYPES[family]
    problems: list[str] = []
    for index, server in enumerate(servers):
        label = f"{server[0]}:{server[1]}" if server[1] != 53 else server[0]
        share_s = max(attempt.remaining_s() / (len(servers) - index), _MIN_SHARE_S)
        replies = await asyncio.gather(
            *(dnswire.query(server, name, qtype, share_s) for qtype in qtypes), return_exceptions=True
        )
        answers = [r for r in replies if isinstance(r, dnswire.DnsAnswer)]
        for r in replies:
            if isinstance(r, ValueError):  # an unencodable name: no nameserver can answer it
                raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: not a valid domain name ({r})") from r
            if isinstance(r, BaseException) and not isinstance(r, dnswire.DnsWireError | OSError):
                raise r  # a bug, not the nameserver's fault
        addresses = [a for answer in answers for a in answer.addresses]
        if addresses:
            ttls = [a.ttl for a in answers if a.addresses and a.ttl is not None]
            return list(dict.fromkeys(addresses)), min(ttls, default=None)
        if any(a.rcode == dnswire.RCODE_NXDOMAIN for a in answers):
            raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: NXDOMAIN from {label}")
        failures = [str(r) for r in replies if isinstance(r, BaseException)]
        failures += [a.rcode_name for a in answers if a.rcode in _TEMPORARY_RCODES or a.rcode > dnswire.RCODE_REFUSED]
        failures += ["truncated reply" for a in answers if a.truncated]
        if failures:
            problems.append(f"{label}: {', '.join(dict.fromkeys(failures))}")
            continue
        raise DnsLookupError(ErrorKind.DNS_NXDOMAIN, f"{name}: no {_FAMILY_RECORDS[family]} record ({label})")
    raise DnsLookupError(ErrorKind.DNS_TEMPORARY, f"{name}: no usable answer from any resolver ({'; '.join(problems)})")


async def resolve_for_connect(host: str, family: socket.AddressFamily, attempt: Attempt) -> list[str]:
    """``lookup_addresses`` for tcp/tls probes: sets the stage and records the ``dns`` phase (none for an IP
    literal or a cached answer: no lookup took place)."""
    if _ip_literal(host) is None:
        attempt.stage = Stage.RESOLVE
    start = attempt.monotonic()
    try:
        return await lookup_addresses(host, family, attempt)
    finally:
        if _ip_literal(host) is None and not attempt.dns_cached:
            attempt.add_phase("dns", start, attempt.monotonic())


class ProbeResolver(AbstractResolver):
    """aiohttp's resolver for the probes: the same rules (system or configured resolvers, .invalid, the cache) as
    tcp/tls. One serves every probe of a shared session: each lookup is for the probe running in the calling task
    (``current_attempt``; aiohttp calls the resolver inside the request's task)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        attempt = current_attempt.get()
        if attempt is None:  # a request outside run_probe: a bug, reported as the agent's own error
            raise DnsLookupError(ErrorKind.AGENT_ERROR, f"{host}: resolved outside a probe")
        addresses = await lookup_addresses(host, family, attempt)
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            ResolveResult(hostname=host, host=a, port=port, family=_family_of(a), proto=0, flags=flags)
            for a in addresses
        ]

    async def close(self) -> None:
        return None


async def probe_dns(endpoint: Endpoint, attempt: Attempt) -> None:
    """Resolve the check's name; every ``expect`` address must be in the answer (else ``dns_mismatch``)."""
    check = endpoint.dns
    assert check is not None
    attempt.stage = Stage.RESOLVE
    start = attempt.monotonic()
    try:
        addresses = await lookup_addresses(check.name, _CHECK_FAMILY[check.type], attempt, for_connect=False)
    finally:
        attempt.add_phase("dns", start, attempt.monotonic())
    answered = {_canonical(a) for a in addresses}
    missing = [e for e in check.expect if _canonical(e) not in answered]
    shown = ", ".join(addresses[:4]) + (f" (+{len(addresses) - 4} more)" if len(addresses) > 4 else "")
    if missing:
        raise ProbeFailure(ErrorKind.DNS_MISMATCH, f"expected {', '.join(missing)}; got {shown}")
    attempt.notes.append(f"{check.type} {shown}")


def _canonical(address: str) -> str:
    literal = _ip_literal(address.strip())
    return literal if literal is not None else address.strip().lower()
