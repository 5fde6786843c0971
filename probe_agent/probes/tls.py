"""The ``tls`` probe: TCP connect, TLS handshake with SNI, chain and hostname verification; no HTTP request.

SNI and the name the certificate must match are ``server_name`` or else ``host``. The trust store is the
system's plus ``ca_file``. The detail names the protocol version, the issuer and the expiry date.
"""

from __future__ import annotations

import asyncio
from typing import Any

from probe_agent.config.schema import Endpoint
from probe_agent.probes.attempt import Attempt, Stage
from probe_agent.probes.dns import family_for
from probe_agent.probes.tcp import open_socket
from probe_agent.probes.tlscontext import client_context, issuer_text, note_certificate

# How long a closed TLS connection may wait for the peer's close_notify before it is dropped (it runs in the
# background after the probe has returned).
_SHUTDOWN_S = 2.0


async def probe_tls(endpoint: Endpoint, attempt: Attempt) -> None:
    check = endpoint.tls
    assert check is not None
    context = client_context(True, check.ca_file)
    server_name = check.server_name or check.host
    sock = await open_socket(check.host, check.port, family_for(endpoint.ip_version), attempt)
    loop = asyncio.get_running_loop()
    start = attempt.monotonic()
    try:
        transport, _ = await loop.create_connection(
            asyncio.Protocol,
            sock=sock,
            ssl=context,
            server_hostname=server_name,
            # The probe's own deadline governs; this only has to be later than it.
            ssl_handshake_timeout=attempt.remaining_s() + 1.0,
            ssl_shutdown_timeout=_SHUTDOWN_S,
        )
    except BaseException:
        sock.close()
        raise
    try:
        attempt.add_phase("tls", start, attempt.monotonic())
        attempt.stage = Stage.CONNECTED
        cert: dict[str, Any] | None = transport.get_extra_info("peercert")
        tls_object = transport.get_extra_info("ssl_object")
        version = tls_object.version() if tls_object is not None else None
        note_certificate(endpoint, cert, attempt, tls_object.getpeercert(True) if tls_object is not None else None)
        expires = cert.get("notAfter") if cert else None
        attempt.notes.append(
            ", ".join(p for p in (version, f"issuer {issuer_text(cert or {})}", expires and f"expires {expires}") if p)
        )
    finally:
        transport.close()
