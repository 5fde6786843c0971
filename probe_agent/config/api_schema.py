"""The ``api:`` section: the HTTP server (status page, JSON API, ``/metrics``, ``/healthz``). Off when absent.

``api: {}`` turns it on at ``127.0.0.1:9472`` with no tokens, which is open to every process on this host and
nobody else. Listening beyond loopback without any token would serve every figure (and the results) to anyone who
can reach the port: ``check_api`` refuses it, like every config error, with ``file:line`` and exit 2.

Tokens are secret references (``${VAR}``, ``file:/path``, ``credential:NAME``), never literals: the stored config
snapshot keeps what was written, so a literal token would reach the database. A token has an ``owner`` (recorded
as the author of what it writes) and an ``access``: ``read`` (every GET) or ``write`` (also the write routes later
issues add: incident actions).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from probe_agent.config.notify_schema import is_secret_reference
from probe_agent.config.schema import Ident, Model
from probe_agent.config.values import DurationMs, HostPort, parse_host_port
from probe_agent.config.yamlsource import Path_, Positions, Problem, dotted

DEFAULT_LISTEN = "127.0.0.1:9472"
# Shorter tokens are guessable over a network; 16 characters of a random token are ~96 bits.
MIN_TOKEN_LENGTH = 16


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class ApiToken(Model):
    token: str  # the resolved secret value
    owner: Ident
    access: Access = Access.READ


class ApiMetrics(Model):
    # Per-endpoint result counters and latency histograms: off by default, since they multiply the series count by
    # the number of endpoints (the four per-endpoint gauges are always served).
    per_endpoint: bool = False
    # How long the SLA figures of /metrics and the status page are reused before they are computed again (ms):
    # each is a read of the current cycle, which a scrape every few seconds need not repeat.
    cache: DurationMs = 15_000


class Api(Model):
    listen: HostPort = DEFAULT_LISTEN
    tokens: tuple[ApiToken, ...] = ()
    public_status: bool = False  # serve the status page at / without a token
    title: str = Field(default="Service status", min_length=1, max_length=200)  # the status page's heading
    metrics: ApiMetrics = Field(default_factory=ApiMetrics)
    # Where people reach this server (behind a reverse proxy: its public address), for links in notifications
    # (``cycle_closed``'s ``report_url``); None: no links.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                "write the server's address as http(s)://host[:port][/path], e.g. https://status.example.com"
            )
        return value.rstrip("/")

    def report_url(self, sla: str, start: str, end: str, cycle: str) -> str | None:
        """The JSON API's address of an SLA's report for one cycle (``cycle`` when it is a month, else its bounds),
        or None without ``public_url``."""
        if self.public_url is None:
            return None
        query = f"cycle={cycle}" if re.fullmatch(r"\d{4}-\d{2}", cycle) else f"from={quote(start)}&to={quote(end)}"
        return f"{self.public_url}/api/v1/slas/{quote(sla)}/report?{query}"

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_host_port(self.listen)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as written in ``listen``) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or 0.0.0.0/:: (every interface)


def check_api(doc: dict[str, Any], written: dict[str, Any], positions: Positions) -> list[Problem]:
    """Tokens are secret references, long enough and distinct; a non-loopback ``listen`` needs a token.

    ``doc`` has secrets resolved, ``written`` is as written: the reference rule is about what would be stored.
    """
    section = doc.get("api")
    if not isinstance(section, dict):
        return []
    problems: list[Problem] = []

    def problem(path: Path_, message: str, hint: str | None = None) -> None:
        problems.append(Problem(positions.find(path), dotted(path), message, hint))

    written_section = written.get("api")
    written_tokens = written_section.get("tokens") if isinstance(written_section, dict) else None
    tokens = section.get("tokens")
    seen: set[str] = set()
    for i, entry in enumerate(tokens if isinstance(tokens, list) else []):
        if not isinstance(entry, dict):
            continue
        as_written = written_tokens[i].get("token") if isinstance(written_tokens, list) else None
        if isinstance(as_written, str) and not is_secret_reference(as_written):
            problem(
                ("api", "tokens", i, "token"),
                "the API token is written literally",
                "write it as ${ENV_VAR}, file:/path or credential:NAME so the value is never stored or logged",
            )
            continue
        value = entry.get("token")
        if not isinstance(value, str):
            continue
        if len(value) < MIN_TOKEN_LENGTH:
            problem(
                ("api", "tokens", i, "token"),
                f"the API token is shorter than {MIN_TOKEN_LENGTH} characters",
                "generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
            )
        elif value in seen:
            problem(("api", "tokens", i, "token"), "the same API token is listed twice")
        seen.add(value)
    _check_listen(section, bool(tokens), problem)
    return problems


def _check_listen(section: dict[str, Any], has_tokens: bool, problem: Callable[..., None]) -> None:
    listen = section.get("listen", DEFAULT_LISTEN)
    if isinstance(listen, str) and (message := open_listen_problem(listen, has_tokens)) is not None:
        problem(("api", "listen"), message, OPEN_LISTEN_HINT)


OPEN_LISTEN_HINT = "add api.tokens (a secret reference each), or listen on 127.0.0.1 behind a reverse proxy"


def open_listen_problem(listen: str, has_tokens: bool) -> str | None:
    """Why serving on ``listen`` is refused (beyond loopback without any token), or None. Also ``serve --listen``."""
    try:
        host, _ = parse_host_port(listen)
    except ValueError:
        return None  # the model (or the option's own check) reports it
    if is_loopback(host) or has_tokens:
        return None
    return f"listening on {listen} without any token would serve every figure and result to anyone who can reach it"
