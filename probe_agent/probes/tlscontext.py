"""TLS contexts for probes, handshake timing, and what a probe reads from the peer certificate.

Contexts are cached (building one loads the system CA store, milliseconds of CPU: too much per probe at 1,000
probes/s), keyed by the ``ca_file``'s path, size and mtime so a rotated CA file is picked up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import ssl
from typing import Any

from probe_agent.config.schema import Endpoint
from probe_agent.model import DAY_MS, ErrorKind, PeerCert
from probe_agent.probes.attempt import Attempt, ProbeFailure, current_attempt

# asyncio builds the TLS object (``wrap_bio``) inside the task that opens the connection, right after the TCP
# connect, so ``current_attempt`` tells the context which probe's handshake is starting.
__all__ = ["TimedTlsContext", "client_context", "current_attempt", "days_left", "issuer_text", "note_certificate"]


class TimedTlsContext(ssl.SSLContext):
    """An SSLContext that notes when each handshake starts and keeps its SSLObject for the peer certificate.

    This is how the ``tls`` phase is told apart from ``connect`` inside aiohttp, which has no trace event for
    the end of the TCP connect; and how the certificate is read even when aiohttp has already closed the
    connection (a force-closed connection is gone once the response is read).
    """

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        tls_object = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        attempt = current_attempt.get()
        if attempt is not None:
            attempt.tls_start_s = attempt.monotonic()
            attempt.tls_object = tls_object
        return tls_object


@functools.lru_cache(maxsize=64)
def _cached_context(verify: bool, ca_file: str | None, _stamp: tuple[int, int] | None) -> TimedTlsContext:
    context = TimedTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname by default
    if verify:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_context(verify: bool, ca_file: str | None) -> TimedTlsContext:
    """The (cached) client context: system CAs plus ``ca_file``; ``verify=False`` checks nothing.

    A missing or unreadable ``ca_file`` is the agent's problem, not the target's: ``agent_error``.
    """
    stamp = None
    if ca_file is not None:
        try:
            info = os.stat(ca_file)
        except OSError as exc:
            raise ProbeFailure(ErrorKind.AGENT_ERROR, f"cannot read ca_file {ca_file}: {exc.strerror}") from exc
        stamp = (info.st_mtime_ns, info.st_size)
    try:
        return _cached_context(verify, ca_file, stamp)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailure(ErrorKind.AGENT_ERROR, f"cannot load ca_file {ca_file}: {exc}") from exc


def days_left(cert: dict[str, Any], now_ms: int) -> float | None:
    """Days (fractional) from ``now_ms`` to the certificate's notAfter; None if the cert says nothing."""
    not_after = cert.get("notAfter")
    if not isinstance(not_after, str):
        return None
    try:
        expiry_ms = ssl.cert_time_to_seconds(not_after) * 1000
    except ValueError:
        return None
    return (expiry_ms - now_ms) / DAY_MS


def issuer_text(cert: dict[str, Any]) -> str:
    """The issuer as ``O=..., CN=...`` (organisation and common name only: short enough for a detail)."""
    parts: list[str] = []
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            if key == "organizationName":
                parts.append(f"O={value}")
            elif key == "commonName":
                parts.append(f"CN={value}")
    return ", ".join(parts) or "unknown issuer"


def note_certificate(
    endpoint: Endpoint, cert: dict[str, Any] | None, attempt: Attempt, der: bytes | None = None
) -> None:
    """Record days left and, with the DER bytes, the certificate's fingerprint and expiry (``cert_expiring``);
    fewer than ``cert_expiry_warning`` days is a warning (degraded), not downtime."""
    if not cert:
        return  # verification off: the certificate was not parsed, so nothing is known about it
    left = days_left(cert, attempt.wall_clock_ms())
    attempt.tls_days_left = left
    not_after = cert.get("notAfter")
    if der and isinstance(not_after, str):
        with contextlib.suppress(ValueError):
            attempt.peer_cert = PeerCert(hashlib.sha256(der).hexdigest(), ssl.cert_time_to_seconds(not_after) * 1000)
    warning = endpoint.cert_expiry_warning
    if left is not None and warning is not None and left < warning:
        attempt.warnings.append(f"certificate expires in {max(math.floor(left), 0)} days")
