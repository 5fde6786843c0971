"""The tls and https probes tell the verified peer certificate (fingerprint and expiry), for ``cert_expiring``."""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509

from probe_agent.model import Outcome
from probe_agent.probes import run_probe
from tests.probes.servers import LOOPBACK, TlsMaterial, endpoint, serve_app, target_app


def expected(material: TlsMaterial, which: str) -> tuple[str, int]:
    """By hand: SHA-256 of the leaf's DER bytes; its notAfter in epoch ms (whole seconds, as X.509 stores it)."""
    pem = material.certs[which].cert_chain_pems[0].bytes()
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    return hashlib.sha256(der).hexdigest(), int(not_after.timestamp()) * 1000


async def test_tls_and_https_probes_record_the_peer_certificate(tls_material: TlsMaterial) -> None:
    async with serve_app(target_app(), tls_material.server_context("soon")) as server:
        tls = await run_probe(
            endpoint(tls={"host": LOOPBACK, "port": server.port, "ca_file": tls_material.ca_file}), agent="a"
        )
        https = await run_probe(endpoint(http={"url": server.url("/ok"), "ca_file": tls_material.ca_file}), agent="a")
        unverified = await run_probe(endpoint(http={"url": server.url("/ok"), "verify_tls": False}), agent="a")
    sha, not_after_ms = expected(tls_material, "soon")
    for result in (tls, https):
        assert result.outcome is Outcome.UP and result.peer_cert is not None, result.detail
        assert (result.peer_cert.sha256, result.peer_cert.not_after_ms) == (sha, not_after_ms)
    assert unverified.outcome is Outcome.UP and unverified.peer_cert is None  # not verified: nothing known
    assert "peer_cert" not in tls.to_json()  # not part of the stored result schema
