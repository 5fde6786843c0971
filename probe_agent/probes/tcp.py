"""The ``tcp`` probe (connect, then close, within the timeout) and the connect step the ``tls`` probe shares.

Addresses are tried one after the other in resolver order (no happy eyeballs: a probe measures one path, and
the deadline bounds the whole attempt). The first address's error is reported if none connects.
"""

from __future__ import annotations

import asyncio
import socket

from probe_agent.config.schema import Endpoint
from probe_agent.probes.attempt import Attempt, ProbeFailure, Stage
from probe_agent.probes.classify import classify_os_error
from probe_agent.probes.dns import family_for, resolve_for_connect


def _sockaddr(address: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    return (address, port, 0, 0) if ":" in address else (address, port)


async def open_socket(host: str, port: int, family: socket.AddressFamily, attempt: Attempt) -> socket.socket:
    """A connected non-blocking TCP socket to ``host:port``; records the ``dns`` and ``connect`` phases.

    Raises ProbeFailure (classified) when no address accepts; a socket that cannot even be created (no file
    descriptors) raises its OSError, which ``run_probe`` classifies as ``agent_error``.
    """
    addresses = await resolve_for_connect(host, family, attempt)
    attempt.stage = Stage.CONNECT
    loop = asyncio.get_running_loop()
    start = attempt.monotonic()
    first_error: tuple[str, OSError] | None = None
    for address in addresses:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, _sockaddr(address, port))
        except OSError as exc:
            sock.close()
            if first_error is None:
                first_error = (address, exc)
            continue
        except BaseException:
            sock.close()
            raise
        attempt.add_phase("connect", start, attempt.monotonic())
        return sock
    assert first_error is not None  # resolvers never return an empty list
    address, error = first_error
    classified = classify_os_error(error, host)
    if classified is None:
        raise error
    kind, detail = classified
    raise ProbeFailure(kind, f"{_show(address, port)}: {detail}") from error


async def probe_tcp(endpoint: Endpoint, attempt: Attempt) -> None:
    """Connect to ``host:port`` and close again (a FIN, not a reset: a polite probe)."""
    check = endpoint.tcp
    assert check is not None
    sock = await open_socket(check.host, check.port, family_for(endpoint.ip_version), attempt)
    attempt.stage = Stage.CONNECTED
    peer = sock.getpeername()
    sock.close()
    attempt.notes.append(f"connected to {_show(peer[0], peer[1])}")


def _show(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
