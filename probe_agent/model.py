"""Value types shared by probes, the measurement fold, the store, the SLA core and the renderers.

Time inside the project is an integer count of milliseconds since the Unix epoch, UTC (``*_ms``). It is turned
into timezone-aware datetimes only at the edges (JSON, tables, config). Intervals are half-open: ``[start, end)``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Outcome(StrEnum):
    """What one probe says about its target."""

    UP = "up"
    DEGRADED = "degraded"  # the check passed, but slower than the endpoint's ``degraded_after``
    DOWN = "down"
    UNKNOWN = "unknown"  # the agent could not tell: its own controls failed too, or a local error


class State(StrEnum):
    """What a span of a timeline is. ``no_data`` is time no result speaks for."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"
    NO_DATA = "no_data"


class ErrorKind(StrEnum):
    """The fixed taxonomy of why a probe did not pass. Documented in README.md; never extended silently."""

    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_TEMPORARY = "dns_temporary"
    DNS_MISMATCH = "dns_mismatch"  # resolved, but not to the expected addresses
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECTION_RESET = "connection_reset"
    TLS_INVALID = "tls_invalid"
    TLS_EXPIRED = "tls_expired"
    READ_TIMEOUT = "read_timeout"
    HTTP_STATUS = "http_status"
    BODY_MISMATCH = "body_mismatch"
    TOO_LARGE = "too_large"
    REDIRECT_REFUSED = "redirect_refused"
    AGENT_ERROR = "agent_error"  # a local failure (no sockets, no memory, a bug): outcome unknown
    CONTROLS_FAILED = "controls_failed"  # target failed and so did every control: outcome unknown


# One set of time constants, in milliseconds (every time in probe-agent is integer epoch or duration ms).
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS


def now_ms() -> int:
    """The UTC wall clock in epoch ms: the one place probe-agent reads it. The SLA core never does (time is a
    parameter there); the daemon labels results through ``agent.clock.LabelClock``, which is seeded from it."""
    return time.time_ns() // 1_000_000


def ms_to_dt(ms: int) -> datetime:
    """An aware UTC datetime for an epoch-milliseconds value."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def dt_to_ms(dt: datetime) -> int:
    """Epoch milliseconds for an aware datetime; a naive one is a bug, so it raises ValueError."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: every datetime in probe-agent carries a time zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * DAY_MS + delta.seconds * SECOND_MS + delta.microseconds // 1000


def iso(ms: int) -> str:
    """ISO 8601 UTC with millisecond precision and a ``Z``: ``2026-11-22T07:47:44.123Z``."""
    return ms_to_dt(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(value: Any) -> int:
    """Epoch milliseconds from an ISO 8601 string with an offset, or a number of epoch seconds.

    Raises ValueError for naive timestamps (their zone would be a guess) and for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("a timestamp must be ISO 8601 with an offset or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        return _epoch_seconds_ms(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _epoch_seconds_ms(number)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from exc
        if dt.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no UTC offset; add 'Z' or '+01:00'")
        return _epoch_seconds_ms(dt_to_ms(dt) / 1000)
    raise ValueError(f"a timestamp must be ISO 8601 with an offset or epoch seconds, got {type(value).__name__}")


# Timestamps outside 1970..9000 are typos or garbage (and would overflow date arithmetic and SQLite integers).
_MAX_EPOCH_S = 221_845_392_000  # 9000-01-01T00:00:00Z


def _epoch_seconds_ms(seconds: float) -> int:
    if not math.isfinite(seconds) or not 0 <= seconds < _MAX_EPOCH_S:
        raise ValueError(f"timestamp {seconds!r} is outside 1970-01-01 .. 9000-01-01 (epoch seconds)")
    return round(seconds * 1000)


_EMPTY: Mapping[str, float] = MappingProxyType({})
# The keys of the one result schema, in the order JSON and CSV write them.
RESULT_KEYS = (
    "ts", "agent", "endpoint", "outcome", "latency_ms", "status_code", "error_kind", "detail", "phases",
    "tls_days_left", "recheck",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PeerCert:
    """The certificate a TLS handshake was answered with: ``sha256`` is the hex SHA-256 of its DER bytes (its
    fingerprint), ``not_after_ms`` its expiry (epoch ms). Known to the live probe only: not stored, not exported."""

    sha256: str
    not_after_ms: int


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe of one endpoint from one agent (vantage point).

    ``ts_ms`` is the wall clock (UTC) at probe start; ``latency_ms`` is measured on the monotonic clock.
    ``phases`` holds milliseconds per phase (``dns``, ``connect``, ``tls``, ``first_byte``) where known.
    ``recheck`` marks a probe run at ``retry_interval`` because the endpoint was suspect or down: such probes
    count for latency objectives but not for the error rate.
    """

    ts_ms: int
    agent: str
    endpoint: str
    outcome: Outcome
    latency_ms: float | None = None
    status_code: int | None = None
    error_kind: ErrorKind | None = None
    detail: str = ""
    phases: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    tls_days_left: float | None = None
    recheck: bool = False
    # For cert_expiring (agent/certwatch.py); not part of the result schema, so it takes no part in equality either.
    peer_cert: PeerCert | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The one result schema used by ``check --format json``, export, import, the API and evidence."""
        return {
            "ts": iso(self.ts_ms),
            "agent": self.agent,
            "endpoint": self.endpoint,
            "outcome": self.outcome.value,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "status_code": self.status_code,
            "error_kind": None if self.error_kind is None else self.error_kind.value,
            "detail": self.detail,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "tls_days_left": None if self.tls_days_left is None else round(self.tls_days_left, 2),
            "recheck": self.recheck,
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, agent: str | None = None, default_agent: str | None = None
    ) -> ProbeResult:
        """Parse the result schema. ``agent`` overrides (or supplies) the vantage point; ``default_agent`` supplies
        it only where the record has none (``import``: the config's ``agent.id``).

        Raises ValueError with a message naming the offending key.
        """
        if not isinstance(data, Mapping):
            raise ValueError("a result must be a JSON object")
        unknown = sorted(set(data) - set(RESULT_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s): {', '.join(unknown)}")
        for key in ("ts", "endpoint", "outcome"):
            if data.get(key) in (None, ""):
                raise ValueError(f"missing required key '{key}'")
        try:
            ts_ms = parse_ts(data["ts"])
        except ValueError as exc:
            raise ValueError(f"ts: {exc}") from None
        vantage = agent if agent is not None else data.get("agent") or default_agent
        if not isinstance(vantage, str) or not vantage:
            raise ValueError("missing 'agent' (give it per line, or import with --agent)")
        endpoint = data["endpoint"]
        if not isinstance(endpoint, str):
            raise ValueError("endpoint: must be a string")
        try:
            outcome = Outcome(data["outcome"])
        except ValueError:
            raise ValueError(
                f"outcome: {data['outcome']!r} is not one of {', '.join(o.value for o in Outcome)}"
            ) from None
        error_kind = None
        if data.get("error_kind") not in (None, ""):
            try:
                error_kind = ErrorKind(data["error_kind"])
            except ValueError:
                raise ValueError(f"error_kind: {data['error_kind']!r} is not in the taxonomy") from None
        latency = _opt_float(data, "latency_ms")
        if latency is not None and latency < 0:
            raise ValueError("latency_ms: must not be negative")
        status = data.get("status_code")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise ValueError("status_code: must be an integer")
        phases_raw = data.get("phases") or {}
        if not isinstance(phases_raw, Mapping):
            raise ValueError("phases: must be an object of milliseconds")
        phases: dict[str, float] = {}
        for name, value in phases_raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"phases.{name}: must be a number of milliseconds")
            phases[str(name)] = float(value)
        detail = data.get("detail") or ""
        if not isinstance(detail, str):
            raise ValueError("detail: must be a string")
        recheck = data.get("recheck", False)
        if not isinstance(recheck, bool):
            raise ValueError("recheck: must be true or false")
        return cls(
            ts_ms=ts_ms,
            agent=vantage,
            endpoint=endpoint,
            outcome=outcome,
            latency_ms=latency,
            status_code=status,
            error_kind=error_kind,
            detail=detail,
            phases=MappingProxyType(phases) if phases else _EMPTY,
            tls_days_left=_opt_float(data, "tls_days_left"),
            recheck=recheck,
        )

    def to_json_line(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)


def _opt_float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: must be a number")
    return float(value)


@dataclass(frozen=True, slots=True)
class StateInterval:
    """A closed span ``[start_ms, end_ms)`` of one (agent, endpoint)'s timeline.

    ``cause`` is the first error kind of the failure that made the span (down/unknown spans), else None.
    ``outage_start_ms`` is set on every span that lies inside a confirmed outage, including the unknown and
    no_data spans within it, so one outage stays one incident from its start to its end.
    """

    agent: str
    endpoint: str
    start_ms: int
    end_ms: int
    state: State
    cause: str | None = None
    outage_start_ms: int | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class AgentRun:
    """One run of the daemon for an agent id: from start to clean stop, or (after a crash) to its last heartbeat.

    ``end_ms`` is None while the run is live.
    """

    run_id: int
    agent: str
    start_ms: int
    end_ms: int | None
    clean: bool | None = None
