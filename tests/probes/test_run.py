"""run_probe's contract: a classified result for anything, outcome rules, clocks, and bugs turned into unknown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.probes import run_probe
from tests.probes.servers import RunningServer, closed_port, endpoint, start_app, target_app


def assert_consistent(result: ProbeResult) -> None:
    """The invariants every result holds, whatever happened."""
    assert isinstance(result, ProbeResult)
    if result.outcome in (Outcome.UP, Outcome.DEGRADED):
        assert result.error_kind is None
    else:
        assert result.error_kind is not None
        assert (result.outcome is Outcome.UNKNOWN) == (result.error_kind is ErrorKind.AGENT_ERROR)
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert "\n" not in result.detail and len(result.detail) <= 300
    assert all(v >= 0 for v in result.phases.values())
    result.to_json_line()  # serialisable


def counting_clock(values: list[float]) -> Callable[[], float]:
    it: Iterator[float] = iter(values)
    last = [values[0]]

    def clock() -> float:
        last[0] = next(it, last[0])
        return last[0]

    return clock


async def test_result_fields_come_from_the_injected_clocks(http_server: RunningServer) -> None:
    readings: list[float] = []

    def recording_clock() -> float:
        readings.append(time.monotonic() + 1000.0)
        return readings[-1]

    result = await run_probe(
        endpoint(http=http_server.url("/ok")),
        agent="vp-1",
        wall_clock_ms=lambda: 1_700_000_000_123,
        monotonic=recording_clock,
        recheck=True,
    )
    assert (result.ts_ms, result.agent, result.recheck) == (1_700_000_000_123, "vp-1", True)
    assert result.latency_ms is not None
    assert result.latency_ms == pytest.approx((readings[-1] - readings[0]) * 1000)
    assert sum(result.phases.values()) <= result.latency_ms


async def test_a_clock_going_backwards_gives_zero_not_negative(http_server: RunningServer) -> None:
    result = await run_probe(
        endpoint(http=http_server.url("/ok")), agent="a", monotonic=counting_clock([50.0, 40.0, 30.0, 20.0])
    )
    assert result.latency_ms == 0.0
    assert_consistent(result)


async def test_an_unexpected_exception_is_unknown_and_logged(
    http_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [0]

    def broken_clock() -> float:
        calls[0] += 1
        if calls[0] == 2:  # inside the probe; the first and last readings work
            raise RuntimeError("clock fell over")
        return float(calls[0])

    with caplog.at_level(logging.ERROR, logger="probe_agent.probes.run"):
        result = await run_probe(endpoint(http=http_server.url("/ok")), agent="a", monotonic=broken_clock)
    assert (result.outcome, result.error_kind) == (Outcome.UNKNOWN, ErrorKind.AGENT_ERROR)
    assert result.detail == "agent error: RuntimeError: clock fell over"
    assert "clock fell over" in caplog.text and caplog.records[0].exc_info is not None


async def test_cancellation_propagates(http_server: RunningServer) -> None:
    task = asyncio.create_task(run_probe(endpoint(http=http_server.url("/sleep/5000")), agent="a"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "spec",
    [
        {"http": "http://[::1]:1/"},
        {"http": "http://127.0.0.1:1/", "ip_version": 6},
        {"http": {"url": "http://127.0.0.1:1/", "headers": {"X-Bad": "a\r\nInjected: yes"}}},
        {"http": {"url": "https://127.0.0.1:1/", "ca_file": "/"}},
        {"tcp": "[::1]:1"},
        {"tls": "127.0.0.1:1"},
        {"dns": {"name": "a..b", "type": "A"}},
        {"dns": {"name": "x" * 300}},
        {"dns": {"name": "localhost", "expect": ["not-an-ip"]}},
    ],
)
async def test_odd_inputs_give_a_classified_result(spec: dict[str, Any]) -> None:
    result = await run_probe(endpoint(timeout="500ms", **spec), agent="a")
    assert_consistent(result)
    assert result.outcome is not Outcome.UP


async def test_odd_resolver_input(http_server: RunningServer) -> None:
    result = await run_probe(endpoint(dns={"name": "a..b"}), agent="a", resolvers=["127.0.0.1:1"])
    assert_consistent(result)
    assert result.error_kind is ErrorKind.DNS_NXDOMAIN


_PATHS = st.sampled_from(
    ["/ok", "/status/500", "/loop", "/chain/2", "/big", "/gzip-ok", "/latin1", "/echo-method", "/nope"]
) | st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), max_size=20).map(lambda t: "/" + t)
_HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "probe.invalid"])


@st.composite
def endpoint_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["http", "tcp", "tls", "dns"]))
    host = draw(_HOSTS)
    port = draw(st.sampled_from(["SERVER", "CLOSED"]))
    spec: dict[str, Any] = {"timeout": "400ms"}
    if kind == "http":
        spec["http"] = {
            "url": f"http://{host}:{port}{draw(_PATHS)}",
            "method": draw(st.sampled_from(["GET", "HEAD", "POST", "DELETE"])),
            "expect_status": draw(st.lists(st.sampled_from(["2xx", "301", "404", "500-599"]), min_size=1, max_size=2)),
            "follow_redirects": draw(st.booleans()),
            "max_body": draw(st.integers(min_value=0, max_value=2_000_000)),
            "body_contains": draw(st.none() | st.text(max_size=5)),
            "body_regex": draw(st.none() | st.sampled_from(["^h", "world$", "(a|b)*c", "\\d+"])),
            "headers": draw(st.dictionaries(st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True), st.text(max_size=10))),
            "body": draw(st.none() | st.text(max_size=20)),
        }
    elif kind in ("tcp", "tls"):
        spec[kind] = {"host": host.strip("[]"), "port": port}
    else:
        spec["dns"] = {
            "name": draw(st.sampled_from(["localhost", "x.invalid", "127.0.0.1", "a" * 70 + ".invalid"])),
            "type": draw(st.sampled_from(["A", "AAAA", "ANY"])),
            "expect": draw(st.lists(st.sampled_from(["127.0.0.1", "::1", "192.0.2.1"]), max_size=2)),
        }
    spec["degraded_after"] = draw(st.none() | st.sampled_from(["1ms", "10s"]))
    spec["ip_version"] = draw(st.sampled_from(["4", "6", "any"]))
    return spec


def _fill_ports(value: Any, server_port: int, dead_port: int) -> Any:
    if isinstance(value, dict):
        return {k: _fill_ports(v, server_port, dead_port) for k, v in value.items()}
    if value == "SERVER":
        return server_port
    if value == "CLOSED":
        return dead_port
    if isinstance(value, str):
        return value.replace(":SERVER", f":{server_port}").replace(":CLOSED", f":{dead_port}")
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=endpoint_specs())
def test_run_probe_never_raises(spec: dict[str, Any]) -> None:
    async def scenario() -> ProbeResult:
        server = await start_app(target_app())
        try:
            try:
                ep = endpoint(**_fill_ports(spec, server.port, closed_port()))
            except ValidationError:
                reject()
            return await run_probe(ep, agent="a")
        finally:
            await server.close()

    assert_consistent(asyncio.run(scenario()))
