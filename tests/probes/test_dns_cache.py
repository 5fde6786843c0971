"""``dns_cache: ttl``: an answer of the configured resolvers reused for at most its TTL, counted at the loopback DNS
server; failures never kept; a cached answer records no ``dns`` phase. And the config's refusals."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from probe_agent.config import ConfigError, load_config
from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.probes import ProbeClient, run_probe
from probe_agent.probes.dnscache import DnsCache
from tests.probes.servers import DnsServer, RunningServer, default_zone, endpoint, start_dns_server


class Clock:
    """The monotonic clock run_probe reads (the cache's clock), stepped by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def probes(
    dns: DnsServer, client: ProbeClient, clock: Clock, spec: dict[str, Any], at: list[float]
) -> list[ProbeResult]:
    out = []
    ep = endpoint(**spec)
    for t in at:
        clock.now = 1000.0 + t
        out.append(await run_probe(ep, agent="a", resolvers=[dns.address], client=client, monotonic=clock))
    return out


def asked(dns: DnsServer, name: str) -> int:
    return sum(1 for q in dns.queries if q[0] == name)


async def test_http_reuses_an_answer_until_its_ttl_runs_out(dns_server: DnsServer, http_server: RunningServer) -> None:
    spec = {"http": f"http://ok.test:{http_server.port}/ok", "ip_version": 4, "dns_cache": "ttl"}
    async with ProbeClient() as client:
        results = await probes(dns_server, client, Clock(), spec, at=[0, 30, 59.9, 60, 61])
    assert [r.outcome for r in results] == [Outcome.UP] * 5, [r.detail for r in results]
    # The zone's TTL is 60 s from the query at 0: reused at 30 and 59.9, asked again at 60 (never longer), reused at 61.
    assert asked(dns_server, "ok.test") == 2
    assert ["dns" in r.phases for r in results] == [True, False, False, True, False]  # cached: no lookup, no phase


async def test_without_the_option_every_probe_resolves(dns_server: DnsServer, http_server: RunningServer) -> None:
    spec = {"http": f"http://ok.test:{http_server.port}/ok", "ip_version": 4}
    async with ProbeClient() as client:
        results = await probes(dns_server, client, Clock(), spec, at=[0, 1, 2])
    assert [r.outcome for r in results] == [Outcome.UP] * 3
    assert asked(dns_server, "ok.test") == 3
    assert all("dns" in r.phases for r in results)


async def test_tcp_probes_use_the_cache_too(dns_server: DnsServer, http_server: RunningServer) -> None:
    spec = {"tcp": f"ok.test:{http_server.port}", "ip_version": 4, "dns_cache": "ttl"}
    async with ProbeClient() as client:
        results = await probes(dns_server, client, Clock(), spec, at=[0, 10])
    assert [r.outcome for r in results] == [Outcome.UP] * 2
    assert asked(dns_server, "ok.test") == 1
    assert ["dns" in r.phases for r in results] == [True, False]


async def test_a_failed_lookup_is_never_kept() -> None:
    zone = default_zone()
    dns = await start_dns_server(zone)
    try:
        async with ProbeClient() as client:
            spec = {"tcp": "flaky.test:9", "ip_version": 4, "dns_cache": "ttl", "timeout": "1s"}
            zone.servfail.add("flaky.test")
            failed = await probes(dns, client, Clock(), spec, at=[0, 1])
            zone.servfail.discard("flaky.test")
            zone.a["flaky.test"] = ["127.0.0.1"]
            zone.ttl["flaky.test"] = 0  # TTL 0: usable once, never kept
            answered = await probes(dns, client, Clock(), spec, at=[2, 3])
    finally:
        dns.close()
    assert [r.error_kind for r in failed] == [ErrorKind.DNS_TEMPORARY] * 2
    assert [r.error_kind for r in answered] == [ErrorKind.CONNECT_REFUSED] * 2  # resolved; nobody on port 9
    assert asked(dns, "flaky.test") == 4  # both failures asked, and both answers with TTL 0
    assert len(client.dns_cache) == 0


def test_the_cache_key_and_expiry() -> None:
    cache = DnsCache()
    key = DnsCache.key("OK.test.", socket.AF_INET, ("127.0.0.1:53",))
    assert key == DnsCache.key("ok.test", socket.AF_INET, ["127.0.0.1:53"])
    cache.put(key, ["192.0.2.1"], 5, asked_s=100.0)
    assert cache.get(key, 104.999) == ["192.0.2.1"]
    assert cache.get(key, 105.0) is None and len(cache) == 0  # expired at asked + ttl exactly, and dropped
    cache.put(key, ["192.0.2.1"], None, asked_s=100.0)  # no TTL known: not kept
    assert cache.get(key, 100.0) is None
    for i in range(200):  # the sweep keeps the cache to the live entries
        cache.put(DnsCache.key(f"n{i}.test", socket.AF_INET, ()), ["192.0.2.1"], 1, asked_s=float(i))
    assert len(cache) < 130


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return [(p.mark.line if p.mark else 0, p.path, p.message) for p in info.value.problems]


def test_config_refuses_ttl_without_resolvers_and_on_a_dns_endpoint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        endpoints:
          - id: web
            http: http://example.test/
            dns_cache: ttl
          - id: lookup
            dns: example.test
            dns_cache: ttl
          - id: plain
            tcp: example.test:80
            dns_cache: none
        """,
    )
    found = problems(path)
    assert [(line, key) for line, key, _ in found] == [(4, "endpoints[0].dns_cache"), (7, "endpoints[1].dns_cache")]
    assert "needs agent.resolvers" in found[0][2]
    assert "does not apply to a dns endpoint" in found[1][2]


def test_config_takes_ttl_with_resolvers_and_refuses_other_words(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        agent: {resolvers: ["192.0.2.53"]}
        endpoints:
          - {id: web, http: "http://example.test/", dns_cache: ttl}
          - {id: other, http: "http://example.test/"}
        """,
    )
    config = load_config(path, env={}).config
    assert [ep.dns_cache for ep in config.endpoints] == ["ttl", "none"]
    path.write_text(path.read_text().replace("dns_cache: ttl", "dns_cache: forever"))
    assert [(line, key) for line, key, _ in problems(path)] == [(3, "endpoints[0].dns_cache")]
