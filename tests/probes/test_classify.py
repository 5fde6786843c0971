"""The error taxonomy table: exceptions as the OS, ssl and aiohttp raise them -> (kind, outcome)."""

from __future__ import annotations

import errno
import socket
import ssl

import aiohttp
import pytest

from probe_agent.model import ErrorKind, Outcome
from probe_agent.probes.attempt import ProbeFailure, Stage
from probe_agent.probes.classify import (
    DnsLookupError,
    classify,
    classify_gaierror,
    classify_timeout,
    outcome_for,
)


def _cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    exc.verify_code = code
    exc.verify_message = message
    return exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ErrorKind.CONNECT_REFUSED),
        (OSError(errno.EHOSTUNREACH, "no route to host"), ErrorKind.CONNECT_REFUSED),
        (OSError(errno.ENETUNREACH, "network is unreachable"), ErrorKind.CONNECT_REFUSED),
        (ConnectionResetError(errno.ECONNRESET, "reset"), ErrorKind.CONNECTION_RESET),
        (BrokenPipeError(errno.EPIPE, "broken pipe"), ErrorKind.CONNECTION_RESET),
        (OSError(errno.ETIMEDOUT, "timed out"), ErrorKind.CONNECT_TIMEOUT),
        (OSError(errno.EMFILE, "too many open files"), ErrorKind.AGENT_ERROR),
        (OSError(errno.EADDRNOTAVAIL, "cannot assign requested address"), ErrorKind.AGENT_ERROR),
        (
            OSError("Multiple exceptions: [Errno 101] unreachable, [Errno 111] Connect call failed"),
            ErrorKind.CONNECT_REFUSED,
        ),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ErrorKind.DNS_NXDOMAIN),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), ErrorKind.DNS_TEMPORARY),
        (socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure"), ErrorKind.DNS_TEMPORARY),
        (DnsLookupError(ErrorKind.DNS_MISMATCH, "x"), ErrorKind.DNS_MISMATCH),
        (_cert_error(10, "certificate has expired"), ErrorKind.TLS_EXPIRED),
        (_cert_error(9, "certificate is not yet valid"), ErrorKind.TLS_INVALID),
        (_cert_error(18, "self-signed certificate"), ErrorKind.TLS_INVALID),
        (_cert_error(62, "Hostname mismatch"), ErrorKind.TLS_INVALID),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), ErrorKind.TLS_INVALID),
        (aiohttp.ServerDisconnectedError(), ErrorKind.CONNECTION_RESET),
        (aiohttp.ClientPayloadError("Response payload is not completed"), ErrorKind.CONNECTION_RESET),
        (ProbeFailure(ErrorKind.TOO_LARGE, "big"), ErrorKind.TOO_LARGE),
        (MemoryError(), ErrorKind.AGENT_ERROR),
    ],
)
def test_classify_table(exc: BaseException, kind: ErrorKind) -> None:
    found = classify(exc, "example.test")
    assert found is not None and found[0] is kind, found


@pytest.mark.parametrize("exc", [RuntimeError("bug"), KeyError("k"), OSError(12345, "odd errno"), OSError("plain")])
def test_unrecognised_errors_are_none(exc: BaseException) -> None:
    assert classify(exc) is None  # run_probe logs these and reports agent_error


def test_gaierror_detail_names_the_host() -> None:
    assert classify_gaierror(socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "db.test") == (
        ErrorKind.DNS_NXDOMAIN,
        "db.test: no such name (Name or service not known)",
    )


@pytest.mark.parametrize(
    ("stage", "kind"),
    [
        (Stage.START, ErrorKind.CONNECT_TIMEOUT),
        (Stage.RESOLVE, ErrorKind.DNS_TEMPORARY),
        (Stage.CONNECT, ErrorKind.CONNECT_TIMEOUT),
        (Stage.CONNECTED, ErrorKind.READ_TIMEOUT),
    ],
)
def test_timeout_by_stage(stage: Stage, kind: ErrorKind) -> None:
    assert classify_timeout(stage, 500)[0] is kind


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_outcome_for_every_kind(kind: ErrorKind) -> None:
    local = kind in (ErrorKind.AGENT_ERROR, ErrorKind.CONTROLS_FAILED)
    assert outcome_for(kind) is (Outcome.UNKNOWN if local else Outcome.DOWN)
