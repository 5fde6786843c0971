"""Turning what went wrong into the fixed error taxonomy (``ErrorKind``) and a short, human detail.

Rules (documented in README):
- DNS: "no such name" / "no address of that family" -> ``dns_nxdomain``; a resolver that fails, refuses or does
  not answer -> ``dns_temporary`` (the probe reports it ``down``; the daemon's controls rule may make it unknown).
- Connect: refused, host or network unreachable -> ``connect_refused`` (an active "no" from the network path);
  the deadline before the connection is up -> ``connect_timeout``; reset/aborted/broken pipe -> ``connection_reset``.
- TLS: certificate expired (OpenSSL verify code 10) -> ``tls_expired``; every other verification or handshake
  failure (unknown CA, self-signed, hostname mismatch, not yet valid, protocol mismatch) -> ``tls_invalid``.
- Local trouble (no file descriptors, no ephemeral ports, no memory, a bad local CA file) -> ``agent_error``,
  outcome ``unknown``: it says nothing about the target.
- An error this module does not recognise is ``agent_error`` too: the agent cannot tell, so it must not count as
  the target's downtime.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl

import aiohttp

from probe_agent.model import ErrorKind, Outcome
from probe_agent.probes.attempt import ProbeFailure, Stage
from probe_agent.units import duration_text

_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")
X509_V_ERR_CERT_HAS_EXPIRED = 10  # OpenSSL's verify code for "certificate has expired"


class DnsLookupError(OSError):
    """A failed name lookup, already classified (an OSError so that aiohttp wraps it as a DNS error)."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


_GAI_NXDOMAIN = {
    code
    for code in (
        getattr(socket, "EAI_NONAME", None),
        getattr(socket, "EAI_NODATA", None),
        getattr(socket, "EAI_ADDRFAMILY", None),
    )
    if code is not None
}

_RESET_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}
_REFUSED_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
# The agent's own resources or permissions: nothing here is the target's fault.
_LOCAL_ERRNOS = {
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOBUFS,
    errno.ENOMEM,
    errno.EADDRNOTAVAIL,
    errno.EACCES,
    errno.EPERM,
    errno.EAFNOSUPPORT,
}


def outcome_for(kind: ErrorKind) -> Outcome:
    """Local failures are ``unknown``; every other failure kind is the target's and therefore ``down``."""
    if kind in (ErrorKind.AGENT_ERROR, ErrorKind.CONTROLS_FAILED):
        return Outcome.UNKNOWN
    return Outcome.DOWN


def classify_gaierror(exc: socket.gaierror, host: str) -> tuple[ErrorKind, str]:
    """``getaddrinfo`` failures: EAI_NONAME/EAI_NODATA -> nxdomain, anything else (EAI_AGAIN, EAI_FAIL) temporary."""
    if exc.errno in _GAI_NXDOMAIN:
        return ErrorKind.DNS_NXDOMAIN, f"{host}: no such name ({exc.strerror})"
    return ErrorKind.DNS_TEMPORARY, f"{host}: resolver failed ({exc.strerror})"


def classify_timeout(stage: Stage, timeout_ms: int) -> tuple[ErrorKind, str]:
    """The hard deadline expired; what it means depends on how far the probe got."""
    timeout = duration_text(timeout_ms)
    if stage is Stage.RESOLVE:
        return ErrorKind.DNS_TEMPORARY, f"no DNS answer within the {timeout} timeout"
    if stage is Stage.CONNECTED:
        return ErrorKind.READ_TIMEOUT, f"no complete response within the {timeout} timeout"
    return ErrorKind.CONNECT_TIMEOUT, f"not connected within the {timeout} timeout"


def classify_tls(exc: ssl.SSLError) -> tuple[ErrorKind, str]:
    """Expired certificates apart from every other verification or handshake failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or getattr(exc, "reason", None) or str(exc)
        if exc.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
            return ErrorKind.TLS_EXPIRED, "certificate has expired"
        return ErrorKind.TLS_INVALID, f"certificate rejected: {message}"
    return ErrorKind.TLS_INVALID, f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"


def classify_os_error(exc: OSError, host: str = "") -> tuple[ErrorKind, str] | None:
    """Socket-level failures by errno; None when the errno is not one this module knows."""
    if isinstance(exc, DnsLookupError):
        return exc.kind, exc.detail
    if isinstance(exc, socket.gaierror):
        return classify_gaierror(exc, host)
    if isinstance(exc, ssl.SSLError):
        return classify_tls(exc)
    reason = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or exc.errno in _REFUSED_ERRNOS:
        return ErrorKind.CONNECT_REFUSED, f"connection refused ({reason})"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError) or exc.errno in _RESET_ERRNOS:
        return ErrorKind.CONNECTION_RESET, f"connection reset by peer ({reason})"
    if exc.errno == errno.ETIMEDOUT:
        return ErrorKind.CONNECT_TIMEOUT, f"connect timed out ({reason})"
    if exc.errno in _LOCAL_ERRNOS:
        return ErrorKind.AGENT_ERROR, f"local error: {reason}"
    if exc.errno is None:
        # aiohappyeyeballs joins the errors of several addresses into one errno-less OSError when they differ
        # ("Multiple exceptions: [Errno 101] ..., [Errno 111] ..."): the target-side one says what happened.
        for code in _ERRNO_IN_TEXT.findall(str(exc)):
            found = classify_os_error(OSError(int(code), str(exc)), host)
            if found is not None and found[0] is not ErrorKind.AGENT_ERROR:
                return found
    return None


def classify(exc: BaseException, host: str = "") -> tuple[ErrorKind, str] | None:
    """The error kind and detail for an exception raised by a probe, or None if it is not recognised (a bug)."""
    if isinstance(exc, ProbeFailure):
        return exc.kind, exc.detail
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        if isinstance(cert_error, ssl.SSLError):
            return classify_tls(cert_error)
        return ErrorKind.TLS_INVALID, f"certificate rejected: {cert_error}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        os_error = exc.os_error
        if isinstance(os_error, ssl.SSLError):
            return classify_tls(os_error)
        return ErrorKind.TLS_INVALID, f"TLS handshake failed: {os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return classify_os_error(exc.os_error, host)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.CONNECTION_RESET, "server closed the connection before the response was complete"
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, aiohttp.http_exceptions.ContentEncodingError) or "content-encoding" in str(exc):
            return ErrorKind.BODY_MISMATCH, "response body cannot be decoded (bad content-encoding)"
        return ErrorKind.CONNECTION_RESET, "response body incomplete: the connection broke mid-body"
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp raises this for a response it cannot parse (bad status line, bad headers).
        return ErrorKind.HTTP_STATUS, f"invalid HTTP response: {exc.message}"[:200]
    if isinstance(exc, aiohttp.ClientOSError | OSError):
        return classify_os_error(exc, host)
    if isinstance(exc, MemoryError):
        return ErrorKind.AGENT_ERROR, "local error: out of memory"
    return None
