"""The validated, frozen configuration model.

Durations are integer milliseconds (fields named as in YAML: ``interval`` holds ms). Every model forbids unknown
keys, so a misspelt key is an error rather than a silently ignored setting. The ``defaults`` section is merged into
each endpoint and control before they are validated (``Config``, with ``inherited``), so an ``Endpoint``'s timing
settings are plain values.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from probe_agent.config.values import (
    ControlCache,
    Grace,
    Heartbeat,
    Interval,
    Percent,
    Retention,
    SizeBytes,
    StopTimeout,
    Timeout,
    parse_host_port,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN)]
# agent.workers' upper bound: past this many probe processes the single main process (folds, store writer) is the
# ceiling, and each process costs ~40 MB of RSS.
MAX_WORKERS = 64


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StatusRange(Model):
    """An inclusive range of HTTP status codes."""

    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def _status_ranges(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, StatusRange):
            out.append(item)
            continue
        text = str(item).strip()
        match = re.fullmatch(r"([1-5]\d\d)(?:\s*-\s*([1-5]\d\d))?|([1-5])xx", text)
        if not match:
            raise ValueError(f"{item!r} is not a status code, a range such as 200-299, or 2xx")
        if match.group(3):
            low = int(match.group(3)) * 100
            out.append(StatusRange(low=low, high=low + 99))
            continue
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise ValueError(f"{item!r}: the range is backwards")
        out.append(StatusRange(low=low, high=high))
    return tuple(out)


# The form nearly every URL takes: http(s), a host name or IPv4 address, a port, printable ASCII after.
_SIMPLE_URL = re.compile(r"https?://(?P<host>[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:[/?#][!-~]*)?")


class HttpCheck(Model):
    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: tuple[StatusRange, ...] = (StatusRange(low=200, high=299),)
    body_contains: str | None = None
    body_regex: str | None = None
    follow_redirects: bool = False
    verify_tls: bool = True
    ca_file: str | None = None  # extra CA bundle (PEM) to trust, e.g. a private CA
    max_body: SizeBytes = 1 << 20  # read cap, also on the decompressed size

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("expect_status", mode="before")
    @classmethod
    def _ranges(cls, v: Any) -> Any:
        return _status_ranges(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        simple = _SIMPLE_URL.fullmatch(v)
        if simple and 0 < int(simple.group(2) or 80) < 65536:
            return v  # (what urlsplit accepts too, without its cost: a third of an endpoint's validation)
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http:// or https:// URL with a host")
        try:
            port = parts.port
        except ValueError:
            port = 0  # out of 0-65535, or not a number
        if port == 0:
            raise ValueError(f"{v!r}: the port must be a number from 1 to 65535")
        return v

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return v

    @property
    def host(self) -> str:
        simple = _SIMPLE_URL.fullmatch(self.url)
        if simple:
            return simple.group("host").lower()  # (as urlsplit's hostname: asked per endpoint at start)
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


class TcpCheck(Model):
    host: str
    port: int = Field(ge=1, le=65535)


class TlsCheck(Model):
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None  # SNI and the name the certificate must match; defaults to host
    ca_file: str | None = None


class DnsCheck(Model):
    name: str
    type: Literal["A", "AAAA", "ANY"] = "ANY"
    expect: tuple[str, ...] = ()  # if given, the answer must include every one of these addresses


def _host_port_form(value: Any, default_port: int | None = None) -> Any:
    if isinstance(value, str):
        if default_port is not None and ":" not in value:
            return {"host": value, "port": default_port}
        host, port = parse_host_port(value)
        return {"host": host, "port": port}
    return value


class Endpoint(Model):
    """One thing to probe. Exactly one of ``http``, ``tcp``, ``tls``, ``dns``."""

    id: Ident
    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    tls: TlsCheck | None = None
    dns: DnsCheck | None = None
    interval: Interval
    timeout: Timeout
    retry_interval: Interval
    confirm: int = Field(ge=1, le=20)
    grace: Grace  # how long past its interval a result still speaks (left out: the timeout)
    degraded_after: Grace | None = None  # None: never degraded for slowness
    ip_version: Literal["4", "6", "any"] = "any"
    # none: resolve on every probe; ttl: reuse an answer of agent.resolvers for at most its TTL (config/dns_cache.py)
    dns_cache: Literal["none", "ttl"] = "none"
    tags: tuple[str, ...] = ()
    cert_expiry_warning: int | None = Field(default=None, ge=1, le=3650)  # days

    @model_validator(mode="before")
    @classmethod
    def _grace_is_the_timeout(cls, data: Any) -> Any:
        """``grace`` left out (or null) is the timeout, as written. A timeout that is itself invalid is reported at
        its own key; grace then takes a placeholder, so the one mistake is not reported twice."""
        if not isinstance(data, dict) or data.get("grace") is not None:
            return data
        try:
            _TIMEOUT.validate_python(data.get("timeout"))
        except ValidationError:
            return {**data, "grace": 0}  # never seen: the endpoint fails validation at its timeout
        return {**data, "grace": data["timeout"]}

    @field_validator("ip_version", mode="before")
    @classmethod
    def _ipv(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("http", mode="before")
    @classmethod
    def _http_short(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v

    @field_validator("tcp", mode="before")
    @classmethod
    def _tcp_short(cls, v: Any) -> Any:
        return _host_port_form(v)

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_short(cls, v: Any) -> Any:
        return _host_port_form(v, default_port=443)

    @field_validator("dns", mode="before")
    @classmethod
    def _dns_short(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_kind(self) -> Endpoint:
        kinds = [k for k in ("http", "tcp", "tls", "dns") if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"an endpoint needs exactly one of http, tcp, tls, dns (found: {found})")
        if self.cert_expiry_warning is not None and not (
            self.tls is not None or (self.http is not None and self.http.url.startswith("https:"))
        ):
            raise ValueError("cert_expiry_warning applies to tls endpoints and https URLs only")
        return self

    @property
    def kind(self) -> str:
        for k in ("http", "tcp", "tls", "dns"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated endpoint without a kind")

    @property
    def host(self) -> str | None:
        """The host this endpoint connects to (for per-host concurrency limits); None for dns."""
        if self.http is not None:
            return self.http.host
        if self.tcp is not None:
            return self.tcp.host
        if self.tls is not None:
            return self.tls.host
        return None


_TIMEOUT: TypeAdapter[int] = TypeAdapter(Timeout)


class Defaults(Model):
    """What an endpoint or control that leaves a setting out takes (see ``inherited``); the built-in values here
    are the only copy of them."""

    interval: Interval = 60_000
    timeout: Timeout = 10_000
    retry_interval: Interval = 5_000
    confirm: int = Field(default=3, ge=1, le=20)
    degraded_after: Grace | None = None

    @property
    def grace(self) -> int:
        """An endpoint's grace when it sets none: its timeout (here, the default timeout)."""
        return self.timeout


INHERITED = ("interval", "timeout", "retry_interval", "confirm", "degraded_after")
_BUILT_IN = Defaults().model_dump()  # durations in their written form ("1m"), which parse back to the same ms


def inherited(defaults: Any) -> dict[str, Any]:
    """Per key of ``INHERITED``, the value an endpoint or control that leaves it out (or sets it to null) takes, as
    written: the ``defaults`` section's own (a raw mapping from the file, or a ``Defaults``), else the built-in
    default. Values are taken as written, not validated: an invalid one is the caller's to handle (``Config``
    substitutes the built-in, so the mistake is reported once, at ``defaults.<key>``)."""
    given = defaults.model_dump() if isinstance(defaults, Defaults) else defaults if isinstance(defaults, dict) else {}
    return {key: given[key] if key in given else _BUILT_IN[key] for key in INHERITED}


def invalid_defaults(defaults: Any) -> set[str]:
    """The keys of a raw ``defaults`` section whose value is invalid (each reported at ``defaults.<key>``)."""
    if not isinstance(defaults, dict):
        return set()
    try:
        Defaults.model_validate(defaults)
    except ValidationError as exc:
        return {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    return set()


class Agent(Model):
    id: Ident = "default"
    database: str = "./probe-agent.db"
    timezone: str | None = None  # IANA zone; None = the machine's
    resolvers: tuple[str, ...] = ()  # nameserver IPs; empty = the system resolver
    max_concurrency: int = Field(default=100, ge=1, le=10_000)
    per_host_limit: int = Field(default=4, ge=1, le=1000)
    heartbeat: Heartbeat = 5_000
    retention: Retention = 400 * 86_400_000  # raw results; intervals and rollups are kept forever
    stop_timeout: StopTimeout = 10_000  # SIGTERM: in-flight probes get this long before they are abandoned
    control_cache: ControlCache = 5_000  # how long one controls verdict is reused
    # Results waiting in memory for the store (a full disk, a lock held past the busy timeout); when this many wait,
    # probing pauses and the paused time is no_data. About 1 KiB each with its fold snapshot (1.05 KiB measured for
    # an HTTP result), so the default holds ~100 MiB at worst and the upper bound ~1 GiB.
    queue_limit: int = Field(default=100_000, ge=1, le=1_000_000)
    # The coverage below which every SLA warns, unless it sets its own coverage_warning.
    coverage_warning: Percent = Decimal("90")
    # Probe processes: "auto" (one per usable core) or a number; 1 probes in the daemon's own process, as before.
    # ``workers_count()`` resolves it; a reload that changes it takes effect at the next restart.
    workers: int | Literal["auto"] = "auto"

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> int | str:
        # One message for every wrong spelling (pydantic's union would print one error per member).
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_WORKERS):
            return v  # type: ignore[no-any-return]
        raise ValueError(
            f"want `auto` (one probe process per usable core) or a number of processes from 1 to {MAX_WORKERS} "
            f"(1: probe in the daemon's own process), got {v!r}"
        )

    def workers_count(self) -> int:
        """The number of probe processes: ``workers``, or for ``auto`` the cores this process may run on (its CPU
        affinity, as a container or ``taskset`` limits it, not the machine's count), at most ``MAX_WORKERS``."""
        if self.workers != "auto":
            return int(self.workers)
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # no affinity call on this OS
            usable = os.cpu_count() or 1
        return max(1, min(usable, MAX_WORKERS))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            _check_zone(v)
        return v


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Amsterdam, UTC)") from None


class Quorum(Model):
    quorum: int = Field(ge=1)


Rule = Literal["all", "any"] | Quorum


class Service(Model):
    id: Ident
    endpoints: tuple[str, ...] = Field(min_length=1)
    rule: Rule = "all"
    vantage: Literal["with_data", "all", "any"] | Quorum = "with_data"
    description: str | None = None

    @field_validator("rule")
    @classmethod
    def _quorum_fits(cls, rule: Rule, info: ValidationInfo) -> Rule:
        # A quorum k of n endpoints is down when k are down; k > n could never be reached, so it is refused rather
        # than quietly read as n. (A vantage quorum is over agents, whose number the config cannot know: it is
        # capped at the agents that have data, see README "How the numbers are made".)
        n = len(info.data.get("endpoints", ()))
        if isinstance(rule, Quorum) and n and rule.quorum > n:
            raise ValueError(
                f"quorum {rule.quorum} is larger than the service's {n} endpoints: use 1 to {n} "
                f"({{quorum: {n}}} is down only when every endpoint is down, like rule: any)"
            )
        return rule
