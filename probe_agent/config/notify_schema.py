"""The ``notifications:`` section: channels (webhook, Apprise, email), routes, the rate limit and the dead man's switch.

The event type names a user writes in ``routes[].events`` are ``EventType`` (also the ``type`` of the JSON event,
``notify/event.py``). Cross-references (a route's channel, endpoint, service and SLA ids) and the rule that a secret
setting is a secret reference are checked on the plain document by ``check_notify_refs``, so they are reported with
``file:line:col`` like every config error.

Secrets: the webhook ``secret``, the whole Apprise URL, the SMTP ``password`` and the dead man's ``url`` must be
written as a reference (``${VAR}``, ``file:/path`` or ``credential:NAME``). The loader resolves them (and redacts
their values from every log line and config error); the stored config snapshot keeps the reference, so a literal
secret would reach the database: it is refused instead.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from probe_agent.config.schema import Ident, Model
from probe_agent.config.values import DurationMs, HostPort, parse_host_port
from probe_agent.config.yamlsource import Path_, Positions, Problem, dotted


class EventType(StrEnum):
    """Every event the agent can send (README "Notifications" says when each fires).

    A condition that ends sends its ``..._resolved`` event (``endpoint_down`` ends in ``endpoint_recovered``).
    ``summary`` is the storm control's "N more ... events" message and ``test`` is ``notify test``'s.
    """

    ENDPOINT_DOWN = "endpoint_down"
    ENDPOINT_RECOVERED = "endpoint_recovered"
    SLA_AT_RISK = "sla_at_risk"
    SLA_AT_RISK_RESOLVED = "sla_at_risk_resolved"
    SLA_BREACHED = "sla_breached"
    SLA_BREACHED_RESOLVED = "sla_breached_resolved"
    OBJECTIVE_BREACHED = "objective_breached"
    OBJECTIVE_BREACHED_RESOLVED = "objective_breached_resolved"
    CERT_EXPIRING = "cert_expiring"
    CERT_EXPIRING_RESOLVED = "cert_expiring_resolved"
    AGENT_IMPAIRED = "agent_impaired"
    AGENT_IMPAIRED_RESOLVED = "agent_impaired_resolved"
    CYCLE_CLOSED = "cycle_closed"
    SUMMARY = "summary"
    TEST = "test"


SECRET_PREFIXES = ("file:", "credential:")


def is_secret_reference(text: str) -> bool:
    """Whether a value as written is a secret reference: it contains ``${VAR}`` or is ``file:``/``credential:``."""
    return "${" in text or (text.startswith(SECRET_PREFIXES) and not text.startswith("file://"))


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value may hold a token: it is not echoed here (the loader redacts resolved secrets anyway).
        raise ValueError("not an http:// or https:// URL")
    return url


class Webhook(Model):
    """A POST of the JSON event to ``url``; with ``secret``, signed (``X-Probe-Agent-Signature: sha256=<hex>``)."""

    url: str
    secret: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: DurationMs = 10_000  # ms: the whole request, connect to the last byte of the answer

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _http_url(url)

    @field_validator("timeout")
    @classmethod
    def _timeout_bounds(cls, ms: int) -> int:
        if not 100 <= ms <= 120_000:
            raise ValueError("timeout must be between 100ms and 2m")
        return ms


class Email(Model):
    """Plain SMTP; ``smtp`` is ``host:port``; ``starttls`` (default true) upgrades the connection before logging in."""

    smtp: HostPort
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    from_: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_host_port(self.smtp)


class Channel(Model):
    """One place events go: exactly one of ``webhook``, ``apprise`` (a URL or a list of URLs) and ``email``."""

    id: Ident
    webhook: Webhook | None = None
    apprise: tuple[str, ...] | None = None
    email: Email | None = None

    @field_validator("apprise", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Channel:
        kinds = [k for k in ("webhook", "apprise", "email") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "a channel has exactly one of webhook, apprise, email" + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook is not None else "apprise" if self.apprise is not None else "email"


class Route(Model):
    """Which events go to which channels. Without ``events`` every type; without a subject filter every subject.

    Subject filters (``endpoints``, ``services``, ``slas``, ``tags``) select events about those subjects; an event
    about the agent itself (``agent_impaired``) concerns every subject, so it passes them.
    """

    channels: tuple[str, ...] = Field(min_length=1)
    events: tuple[EventType, ...] = ()
    endpoints: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    slas: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class Deadman(Model):
    """The dead man's switch: ``url`` (a secret reference) is requested every ``every`` while the agent is healthy."""

    url: str
    every: DurationMs = 60_000


class Notifications(Model):
    channels: tuple[Channel, ...] = ()
    routes: tuple[Route, ...] = ()
    rate_limit: int = Field(default=10, ge=1, le=10_000)  # events a minute per (channel, event type)
    deadman: Deadman | None = None
    # Results a cycle must hold before its error-rate or latency objective can raise ``objective_breached``
    # (the same default as ``sla.alerts.DEFAULT_MIN_SAMPLES``).
    min_samples: int = Field(default=100, ge=1)

    def channel(self, channel_id: str) -> Channel:
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        raise KeyError(channel_id)


# (path inside a channel, what it is) of every secret setting; "apprise" is a URL or a list of them.
_SECRET_KEYS: tuple[tuple[tuple[str, str], str], ...] = (
    (("webhook", "secret"), "the webhook secret"),
    (("email", "password"), "the SMTP password"),
)


def check_notify_refs(doc: dict[str, Any], written: dict[str, Any], positions: Positions) -> list[Problem]:
    """Unique channel ids; routes name known channels, endpoints, services and SLAs; secrets are references.

    ``doc`` is the document with secrets resolved, ``written`` as written (references unresolved): the secret rule
    is about what would be stored.
    """
    section = doc.get("notifications")
    if not isinstance(section, dict):
        return []
    problems: list[Problem] = []

    def problem(path: Path_, message: str, hint: str | None = None) -> None:
        problems.append(Problem(positions.find(path), dotted(path), message, hint))

    channel_ids: set[str] = set()
    channels = section.get("channels")
    for i, ch in enumerate(channels if isinstance(channels, list) else []):
        if not isinstance(ch, dict):
            continue
        if isinstance(ch.get("id"), str):
            if ch["id"] in channel_ids:
                problem(("notifications", "channels", i, "id"), f"duplicate channel id '{ch['id']}'")
            channel_ids.add(ch["id"])
    _check_secrets(written.get("notifications"), problem)
    known: dict[str, set[Any]] = {
        "endpoints": {e.get("id") for e in doc.get("endpoints") or [] if isinstance(e, dict)},
        "services": {s.get("id") for s in doc.get("services") or [] if isinstance(s, dict)},
        "slas": {s.get("id") for s in doc.get("slas") or [] if isinstance(s, dict)},
        "channels": channel_ids,
    }
    routes = section.get("routes")
    for i, route in enumerate(routes if isinstance(routes, list) else []):
        if not isinstance(route, dict):
            continue
        for key, ids in known.items():
            refs = route.get(key)
            for j, ref in enumerate(refs if isinstance(refs, list) else []):
                if isinstance(ref, str) and ref not in ids:
                    hint = "channels are defined under notifications.channels" if key == "channels" else None
                    problem(("notifications", "routes", i, key, j), f"unknown {key[:-1]} '{ref}'", hint)
    return problems


def _check_secrets(written: Any, problem: Callable[..., None]) -> None:
    """Each secret setting as written must be a reference; the problem names the setting, never echoes the value."""
    if not isinstance(written, dict):
        return
    hint = "write it as ${ENV_VAR}, file:/path or credential:NAME so the value is never stored or logged"
    channels = written.get("channels")
    for i, ch in enumerate(channels if isinstance(channels, list) else []):
        if not isinstance(ch, dict):
            continue
        for (kind, key), what in _SECRET_KEYS:
            block = ch.get(kind)
            value = block.get(key) if isinstance(block, dict) else None
            if isinstance(value, str) and not is_secret_reference(value):
                problem(("notifications", "channels", i, kind, key), f"{what} is written literally", hint)
        urls = ch.get("apprise")
        listed = urls if isinstance(urls, list) else [urls]
        for j, url in enumerate(listed):
            if isinstance(url, str) and not is_secret_reference(url):
                path: Path_ = ("notifications", "channels", i, "apprise", *((j,) if isinstance(urls, list) else ()))
                problem(path, "an Apprise URL (it carries credentials) is written literally", hint)
    deadman = written.get("deadman")
    url = deadman.get("url") if isinstance(deadman, dict) else None
    if isinstance(url, str) and not is_secret_reference(url):
        problem(("notifications", "deadman", "url"), "the dead man's switch URL is written literally", hint)
