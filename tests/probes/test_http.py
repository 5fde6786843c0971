"""The http probe against real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import resource
import time
from typing import Any

import pytest

from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.probes import run_probe
from tests.probes.servers import RunningServer, closed_port, endpoint, start_raw_server

AGENT = "test-agent"


async def probe(url: str, **spec: Any) -> ProbeResult:
    http = {"url": url, **spec.pop("http", {})}
    return await run_probe(endpoint(http=http, **spec), agent=AGENT)


async def test_200_is_up_with_status_phases_and_timestamps(http_server: RunningServer) -> None:
    before = time.time_ns() // 1_000_000
    result = await probe(http_server.url("/ok"))
    after = time.time_ns() // 1_000_000
    assert result.outcome is Outcome.UP
    assert result.error_kind is None
    assert result.status_code == 200
    assert result.detail == "HTTP 200"
    assert result.agent == AGENT and result.endpoint == "target" and result.recheck is False
    assert before <= result.ts_ms <= after
    assert result.latency_ms is not None and 0 <= result.latency_ms < 1000
    assert set(result.phases) == {"connect", "first_byte"}  # an IP literal: no DNS phase; http: no TLS
    assert all(v >= 0 for v in result.phases.values())
    assert result.tls_days_left is None


async def test_503_is_down_with_http_status(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/status/503"))
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.DOWN, ErrorKind.HTTP_STATUS, 503)
    assert result.detail == "HTTP 503, expected 200-299"


@pytest.mark.parametrize(
    ("path", "expect", "outcome"),
    [
        ("/status/503", ["503"], Outcome.UP),
        ("/status/404", ["2xx", "404"], Outcome.UP),
        ("/status/204", ["200"], Outcome.DOWN),
        ("/loop", ["2xx"], Outcome.DOWN),  # follow_redirects off: a 302 is judged by expect_status
        ("/loop", ["3xx"], Outcome.UP),
    ],
)
async def test_expect_status_ranges(http_server: RunningServer, path: str, expect: list[str], outcome: Outcome) -> None:
    result = await probe(http_server.url(path), http={"expect_status": expect})
    assert result.outcome is outcome


async def test_method_and_body_are_sent(http_server: RunningServer) -> None:
    result = await probe(
        http_server.url("/echo-method"), http={"method": "POST", "body": "ping", "body_contains": "POST ping"}
    )
    assert result.outcome is Outcome.UP, result.detail


async def test_head_reads_no_body(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/ok"), http={"method": "HEAD"})
    assert (result.outcome, result.status_code) == (Outcome.UP, 200)


async def test_sleep_past_timeout_is_read_timeout_within_deadline(http_server: RunningServer) -> None:
    start = time.monotonic()
    result = await probe(http_server.url("/sleep/5000"), timeout="500ms")
    elapsed = time.monotonic() - start
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.READ_TIMEOUT)
    assert 0.5 <= elapsed < 1.0  # the deadline, plus slack for a loaded machine
    assert result.latency_ms is not None and 500 <= result.latency_ms < 1000


@pytest.mark.slow
@pytest.mark.fault("a server trickling its body (slowloris)", expected="read_timeout within the deadline")
async def test_trickling_body_cannot_hold_the_probe_past_its_deadline(http_server: RunningServer) -> None:
    start = time.monotonic()
    result = await probe(http_server.url("/trickle"), timeout="1s")
    elapsed = time.monotonic() - start
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.DOWN, ErrorKind.READ_TIMEOUT, 200)
    assert 1.0 <= elapsed < 1.5  # the deadline, plus slack for a loaded machine


@pytest.mark.fault("a body over max_body", expected="too_large quickly")
@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_body_over_cap_is_too_large_quickly(http_server: RunningServer, path: str) -> None:
    start = time.monotonic()
    result = await probe(http_server.url(path), http={"max_body": "1MiB"})
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.TOO_LARGE)
    assert time.monotonic() - start < 1.0


@pytest.mark.slow
@pytest.mark.fault("a gzip bomb", expected="too_large without inflating it")
async def test_gzip_bomb_is_too_large_without_inflating_it(http_server: RunningServer) -> None:
    from tests.probes.servers import gzip_bomb

    gzip_bomb()  # build it before timing (about 2 s, once per session)
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    result = await probe(http_server.url("/bomb"))
    elapsed = time.monotonic() - start
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib) / 1024
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.TOO_LARGE)
    assert result.detail == "body exceeds the 1048576-byte cap"
    assert elapsed < 2.0  # inflating 1 GiB takes many seconds
    assert rss_growth_mib < 100  # and holding it would take 1 GiB


async def test_small_gzip_body_is_decoded_for_body_checks(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/gzip-ok"), http={"body_contains": "compressed hello"})
    assert result.outcome is Outcome.UP, result.detail


async def test_charset_is_honoured_for_body_checks(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/latin1"), http={"body_regex": "^caf\u00e9$"})
    assert result.outcome is Outcome.UP, result.detail


@pytest.mark.parametrize(
    ("check", "detail"),
    [
        ({"body_contains": "version 9"}, "body does not contain 'version 9'"),
        ({"body_regex": r"version \d+\.\d+\.9"}, r"body does not match /version \d+\.\d+\.9/"),
    ],
)
async def test_body_mismatch(http_server: RunningServer, check: dict[str, str], detail: str) -> None:
    result = await probe(http_server.url("/ok"), http=check)
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.DOWN, ErrorKind.BODY_MISMATCH, 200)
    assert result.detail == detail


async def test_body_checks_pass(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/ok"), http={"body_contains": "probe", "body_regex": r"version \d+\.\d+"})
    assert result.outcome is Outcome.UP


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/loop", "redirect loop after 1 redirect(s)"),
        ("/loop-a", "redirect loop after 2 redirect(s)"),
        ("/chain/6", "more than 5 redirects"),
    ],
)
@pytest.mark.fault("redirect tricks", expected="redirect_refused")
async def test_redirects_refused(http_server: RunningServer, path: str, detail: str) -> None:
    result = await probe(http_server.url(path), http={"follow_redirects": True})
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.REDIRECT_REFUSED)
    assert result.detail == detail


async def test_redirect_to_another_host_or_port_is_refused(http_server: RunningServer) -> None:
    same_port_other_name = http_server.url("/ok", host="localhost")
    other_port = f"http://127.0.0.1:{closed_port()}/ok"
    for target in (same_port_other_name, other_port):
        result = await probe(http_server.url(f"/elsewhere?to={target}"), http={"follow_redirects": True})
        assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.REDIRECT_REFUSED), target
        assert "another host" in result.detail


async def test_five_same_origin_redirects_are_followed(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/chain/5"), http={"follow_redirects": True})
    assert (result.outcome, result.status_code, result.detail) == (Outcome.UP, 200, "HTTP 200 after 5 redirect(s)")


async def test_see_other_continues_as_get(http_server: RunningServer) -> None:
    result = await probe(
        http_server.url("/see-other"),
        http={"method": "POST", "body": "x", "follow_redirects": True, "body_contains": "GET"},
    )
    assert result.outcome is Outcome.UP, result.detail


async def test_redirect_without_location_is_judged_by_status(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/redirect-no-location"), http={"follow_redirects": True})
    assert (result.error_kind, result.status_code) == (ErrorKind.HTTP_STATUS, 302)


async def test_closed_port_is_connect_refused() -> None:
    result = await probe(f"http://127.0.0.1:{closed_port()}/")
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.DOWN, ErrorKind.CONNECT_REFUSED, None)


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("reset", ErrorKind.CONNECTION_RESET),
        ("partial", ErrorKind.CONNECTION_RESET),  # the server died mid-body: down, not up
        ("garbage", ErrorKind.HTTP_STATUS),
    ],
)
@pytest.mark.fault("misbehaving servers", expected="each classified within the timeout")
async def test_misbehaving_servers(mode: str, kind: ErrorKind) -> None:
    server = await start_raw_server(mode)
    try:
        result = await probe(f"http://127.0.0.1:{server.port}/")
    finally:
        await server.close()
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, kind), result.detail


async def test_silent_server_is_read_timeout() -> None:
    server = await start_raw_server("silent")
    try:
        result = await probe(f"http://127.0.0.1:{server.port}/", timeout="300ms")
    finally:
        await server.close()
    assert result.error_kind is ErrorKind.READ_TIMEOUT


async def test_slower_than_degraded_after_is_degraded(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/sleep/150"), degraded_after="50ms")
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.DEGRADED, None, 200)
    assert "slower than degraded_after" in result.detail
    fast = await probe(http_server.url("/ok"), degraded_after="5s")
    assert fast.outcome is Outcome.UP


async def test_invalid_tld_is_nxdomain_without_asking() -> None:
    result = await probe("http://probe-target.invalid/")
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.DNS_NXDOMAIN)


async def test_localhost_name_resolves_and_has_dns_phase(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/ok", host="localhost"), ip_version=4)
    assert result.outcome is Outcome.UP, result.detail
    assert "dns" in result.phases


async def test_ipv6_only_against_an_ipv4_literal_is_an_agent_error(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/ok"), ip_version=6)
    assert (result.outcome, result.error_kind) == (Outcome.UNKNOWN, ErrorKind.AGENT_ERROR)


async def test_request_headers_are_sent_but_never_echoed(http_server: RunningServer) -> None:
    result = await probe(http_server.url("/status/500"), http={"headers": {"Authorization": "Bearer s3cret"}})
    assert result.error_kind is ErrorKind.HTTP_STATUS
    assert "s3cret" not in result.to_json_line()
