"""The tcp probe, and connect timeouts made on loopback by a full accept queue."""

from __future__ import annotations

import time

from probe_agent.model import ErrorKind, Outcome
from probe_agent.probes import run_probe
from tests.probes.servers import LOOPBACK, RunningServer, closed_port, endpoint, full_backlog, start_raw_server


async def test_open_port_is_up_with_connect_phase(http_server: RunningServer) -> None:
    result = await run_probe(endpoint(tcp=f"{LOOPBACK}:{http_server.port}"), agent="a")
    assert (result.outcome, result.error_kind, result.status_code) == (Outcome.UP, None, None)
    assert result.detail == f"connected to {LOOPBACK}:{http_server.port}"
    assert set(result.phases) == {"connect"}


async def test_closed_port_is_connect_refused() -> None:
    port = closed_port()
    result = await run_probe(endpoint(tcp=f"{LOOPBACK}:{port}"), agent="a")
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
    assert result.detail.startswith(f"{LOOPBACK}:{port}: connection refused")


async def test_a_server_that_resets_after_reading_is_up_for_tcp() -> None:
    server = await start_raw_server("reset")  # tcp only connects and closes: it never sees the reset
    try:
        result = await run_probe(endpoint(tcp=f"{LOOPBACK}:{server.port}"), agent="a")
    finally:
        await server.close()
    assert result.outcome is Outcome.UP


async def test_full_accept_queue_is_connect_timeout_within_deadline() -> None:
    with full_backlog() as port:
        for spec in ({"tcp": f"{LOOPBACK}:{port}"}, {"http": f"http://{LOOPBACK}:{port}/"}):
            start = time.monotonic()
            result = await run_probe(endpoint(timeout="300ms", **spec), agent="a")
            elapsed = time.monotonic() - start
            assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.CONNECT_TIMEOUT), spec
            assert 0.3 <= elapsed < 0.8  # the deadline, plus slack for a loaded 2-core CI machine
            assert result.detail == "not connected within the 300ms timeout"


async def test_localhost_by_name(http_server: RunningServer) -> None:
    result = await run_probe(endpoint(tcp=f"localhost:{http_server.port}", ip_version=4), agent="a")
    assert result.outcome is Outcome.UP, result.detail
    assert set(result.phases) == {"dns", "connect"}


async def test_invalid_tld_is_nxdomain() -> None:
    result = await run_probe(endpoint(tcp="db.example.invalid:5432"), agent="a")
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.DNS_NXDOMAIN)
