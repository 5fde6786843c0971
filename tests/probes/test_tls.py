"""https and the tls probe against loopback servers with trustme certificates."""

from __future__ import annotations

import time
from typing import Any

import pytest

from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.probes import run_probe
from tests.probes.servers import (
    LOOPBACK,
    RunningServer,
    TlsMaterial,
    endpoint,
    full_backlog,
    serve_app,
    start_app,
    target_app,
)


async def probe(**spec: Any) -> ProbeResult:
    return await run_probe(endpoint(**spec), agent="a")


@pytest.mark.parametrize(
    ("which", "outcome", "kind", "detail_part"),
    [
        ("valid", Outcome.UP, None, "HTTP 200"),
        ("expired", Outcome.DOWN, ErrorKind.TLS_EXPIRED, "certificate has expired"),
        ("wrong_host", Outcome.DOWN, ErrorKind.TLS_INVALID, "certificate rejected"),
        ("self_signed", Outcome.DOWN, ErrorKind.TLS_INVALID, "certificate rejected"),
    ],
)
@pytest.mark.fault("bad TLS certificates", expected="tls_invalid / tls_expired")
async def test_https_certificates(
    tls_material: TlsMaterial, which: str, outcome: Outcome, kind: ErrorKind | None, detail_part: str
) -> None:
    async with serve_app(target_app(), tls_material.server_context(which)) as server:
        result = await probe(http={"url": server.url("/ok"), "ca_file": tls_material.ca_file})
    assert (result.outcome, result.error_kind) == (outcome, kind), result.detail
    assert detail_part in result.detail
    if outcome is Outcome.UP:
        assert result.tls_days_left is not None and result.tls_days_left > 300
        assert {"connect", "tls", "first_byte"} <= set(result.phases)
    else:
        assert result.status_code is None


async def test_https_without_the_ca_is_invalid_and_verify_off_accepts_it(tls_material: TlsMaterial) -> None:
    async with serve_app(target_app(), tls_material.server_context("valid")) as server:
        unknown_ca = await probe(http=server.url("/ok"))
        unverified = await probe(http={"url": server.url("/ok"), "verify_tls": False})
    assert unknown_ca.error_kind is ErrorKind.TLS_INVALID
    assert (unverified.outcome, unverified.tls_days_left) == (Outcome.UP, None)  # unverified: cert not parsed


async def test_certificate_expiring_soon_is_degraded(tls_material: TlsMaterial) -> None:
    async with serve_app(target_app(), tls_material.server_context("soon")) as server:
        warned = await probe(http={"url": server.url("/ok"), "ca_file": tls_material.ca_file}, cert_expiry_warning=21)
        quiet = await probe(http={"url": server.url("/ok"), "ca_file": tls_material.ca_file}, cert_expiry_warning=3)
        head = await probe(
            http={"url": server.url("/ok"), "ca_file": tls_material.ca_file, "method": "HEAD"},
            cert_expiry_warning=21,
        )
    assert (warned.outcome, warned.error_kind) == (Outcome.DEGRADED, None)
    assert "certificate expires in 5 days" in warned.detail
    assert warned.tls_days_left is not None and 5 < warned.tls_days_left < 6
    assert quiet.outcome is Outcome.UP
    assert head.outcome is Outcome.DEGRADED  # the certificate is read even when no body keeps the connection


async def test_https_to_http_redirect_is_refused(tls_material: TlsMaterial, http_server: RunningServer) -> None:
    async with serve_app(target_app(), tls_material.server_context("valid")) as server:
        url = server.url(f"/elsewhere?to={http_server.url('/ok')}")
        result = await probe(http={"url": url, "ca_file": tls_material.ca_file, "follow_redirects": True})
    assert (result.error_kind, result.detail) == (ErrorKind.REDIRECT_REFUSED, "redirect from https to http refused")


async def test_missing_ca_file_is_an_agent_error(tls_material: TlsMaterial, tmp_path: Any) -> None:
    result = await probe(http={"url": "https://127.0.0.1:1/", "ca_file": str(tmp_path / "nope.pem")})
    assert (result.outcome, result.error_kind) == (Outcome.UNKNOWN, ErrorKind.AGENT_ERROR)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = await probe(http={"url": "https://127.0.0.1:1/", "ca_file": str(bad)})
    assert (result.outcome, result.error_kind) == (Outcome.UNKNOWN, ErrorKind.AGENT_ERROR)


@pytest.mark.parametrize(
    ("which", "server_name", "outcome", "kind"),
    [
        ("valid", None, Outcome.UP, None),
        ("valid", "localhost", Outcome.UP, None),
        ("valid", "other.example", Outcome.DOWN, ErrorKind.TLS_INVALID),
        ("wrong_host", "other.example", Outcome.UP, None),
        ("expired", None, Outcome.DOWN, ErrorKind.TLS_EXPIRED),
        ("self_signed", None, Outcome.DOWN, ErrorKind.TLS_INVALID),
    ],
)
async def test_tls_probe(
    tls_material: TlsMaterial, which: str, server_name: str | None, outcome: Outcome, kind: ErrorKind | None
) -> None:
    server = await start_app(target_app(), tls_material.server_context(which))
    try:
        tls: dict[str, Any] = {"host": LOOPBACK, "port": server.port, "ca_file": tls_material.ca_file}
        if server_name:
            tls["server_name"] = server_name
        result = await probe(tls=tls)
    finally:
        await server.close()
    assert (result.outcome, result.error_kind) == (outcome, kind), result.detail
    if outcome is Outcome.UP:
        assert "issuer" in result.detail and "expires" in result.detail and "TLSv1" in result.detail
        assert result.tls_days_left is not None and result.tls_days_left > 300
        assert {"connect", "tls"} <= set(result.phases)


async def test_tls_probe_expiring_soon_is_degraded(tls_material: TlsMaterial) -> None:
    async with serve_app(target_app(), tls_material.server_context("soon")) as server:
        result = await probe(
            tls={"host": LOOPBACK, "port": server.port, "ca_file": tls_material.ca_file}, cert_expiry_warning=21
        )
    assert result.outcome is Outcome.DEGRADED
    assert "certificate expires in 5 days" in result.detail


async def test_tls_probe_against_a_plain_http_port_is_invalid(http_server: RunningServer) -> None:
    result = await probe(tls={"host": LOOPBACK, "port": http_server.port})
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.TLS_INVALID), result.detail


async def test_tls_probe_connect_timeout_within_deadline() -> None:
    with full_backlog() as port:
        start = time.monotonic()
        result = await probe(tls={"host": LOOPBACK, "port": port}, timeout="300ms")
        elapsed = time.monotonic() - start
    assert (result.outcome, result.error_kind) == (Outcome.DOWN, ErrorKind.CONNECT_TIMEOUT)
    assert elapsed < 0.8  # 300 ms deadline, plus slack for a loaded machine
