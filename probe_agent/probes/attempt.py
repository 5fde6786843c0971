"""The mutable record of one probe while it runs: where it is, what it has measured so far.

The kind-specific probes (http, tcp, tls, dns) write into it; ``run_probe`` turns it into a ``ProbeResult``. It
exists so that a probe cut short by the deadline still says how far it got (``stage``) and what it measured.
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from probe_agent.model import ErrorKind, PeerCert

if TYPE_CHECKING:
    from probe_agent.probes.dnscache import DnsCache


class Stage(Enum):
    """How far a probe got. The deadline's error kind follows from it."""

    START = "start"  # nothing sent yet
    RESOLVE = "resolve"  # waiting for a DNS answer: a timeout here is the resolver's (dns_temporary)
    CONNECT = "connect"  # TCP connect or TLS handshake: a timeout here is connect_timeout
    CONNECTED = "connected"  # connection up, waiting for or reading the response: read_timeout


class ProbeFailure(Exception):
    """A target's failure, already classified. Raised by the probes, caught by ``run_probe``."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class Attempt:
    """Scratch state of one probe. Phase durations are milliseconds on the monotonic clock, summed over hops."""

    monotonic: Callable[[], float]
    wall_clock_ms: Callable[[], int]
    resolvers: tuple[str, ...] = ()
    deadline_loop_s: float = 0.0  # the hard deadline on the event loop's clock (what asyncio.timeout uses)
    stage: Stage = Stage.START
    phases: dict[str, float] = field(default_factory=dict)
    status_code: int | None = None
    tls_days_left: float | None = None
    peer_cert: PeerCert | None = None  # the verified peer certificate's fingerprint and expiry
    notes: list[str] = field(default_factory=list)  # success detail, in order
    warnings: list[str] = field(default_factory=list)  # a passing probe with a warning is degraded
    tls_start_s: float | None = None  # monotonic time the last TLS handshake began (see tlscontext)
    tls_object: ssl.SSLObject | None = None  # the last TLS connection, for its peer certificate
    dns_cache: DnsCache | None = None  # set for an endpoint with ``dns_cache: ttl`` (see dnscache.py)
    dns_cached: bool = False  # the last lookup was answered from the cache: it records no ``dns`` phase

    def add_phase(self, name: str, start_s: float, end_s: float) -> None:
        """Add ``end_s - start_s`` seconds to phase ``name`` (as ms); a clock going backwards counts as 0."""
        self.phases[name] = self.phases.get(name, 0.0) + max(end_s - start_s, 0.0) * 1000.0

    def remaining_s(self) -> float:
        """Seconds left before the hard deadline (never negative)."""
        return max(self.deadline_loop_s - asyncio.get_running_loop().time(), 0.0)


# The probe running in the current task. Code that aiohttp or asyncio calls on the probe's behalf without passing
# it along (the shared session's resolver; ``wrap_bio``, which asyncio calls inside the task that opens the
# connection) finds its probe here.
current_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("probe_attempt", default=None)
