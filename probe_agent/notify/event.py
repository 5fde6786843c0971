"""The notification event: one JSON object a receiver gets, and its stable id. Pure: no I/O, no clock.

The JSON: ``{"id", "type", "time", "agent", "endpoint"|"service"|"sla", "cycle"?, "summary", "details": {...}}``.
``time`` is when the condition was seen (ISO 8601 UTC, ms). ``id`` is derived from (type, agent, subject, the
episode's start in epoch ms, and ``key`` when an event has one: an SLA alert's), nothing else: every repeat
delivery of an event, and the same event found again after a restart, carry the same id, so a receiver drops
duplicates by it. The ``..._resolved``/``endpoint_recovered`` event of an episode is derived the same way from its
own type, so it has its own id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from probe_agent.config.notify_schema import EventType
from probe_agent.model import iso
from probe_agent.units import duration_text

__all__ = ["Event", "EventType", "Subject", "endpoint_down", "endpoint_recovered", "event_id"]

Subject = tuple[str, str]  # (kind, id): ("endpoint", "web"), ("service", ...), ("sla", ...), ("agent", ...)
ID_HEX_CHARS = 32  # 128 bits of SHA-256: collisions are not a concern at any realistic event count


def event_id(event_type: EventType, agent: str, subject: Subject, episode_start_ms: int, key: str = "") -> str:
    """The stable id: hex of SHA-256 over the parts, unambiguously joined (JSON of a list). ``key`` tells apart
    episodes of one subject that may start at the same ms (an SLA's 1 h and 6 h pairs): left out when empty, so
    the ids of events without one are as they were."""
    fields: list[object] = [str(event_type), agent, subject[0], subject[1], episode_start_ms]
    parts = json.dumps(fields + ([key] if key else []), separators=(",", ":"))
    return hashlib.sha256(parts.encode()).hexdigest()[:ID_HEX_CHARS]


@dataclass(frozen=True)
class Event:
    """One event. ``subject`` is what it is about; ``details`` holds JSON values only."""

    type: EventType
    agent: str
    subject: Subject
    episode_start_ms: int  # the start of the condition (an outage's first down result): part of the id
    time_ms: int  # when it was seen
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    cycle: str | None = None
    key: str = ""  # part of the id only: what tells apart concurrent episodes of one subject (see ``event_id``)

    @property
    def id(self) -> str:
        return event_id(self.type, self.agent, self.subject, self.episode_start_ms, self.key)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "type": str(self.type), "time": iso(self.time_ms), "agent": self.agent}
        kind, name = self.subject
        if kind != "agent":
            doc[kind] = name
        if self.cycle is not None:
            doc["cycle"] = self.cycle
        doc["summary"] = self.summary
        doc["details"] = self.details
        return doc

    def body(self) -> str:
        """The JSON text that is stored in the outbox and sent (and signed) byte for byte."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))


def endpoint_down(
    agent: str, endpoint: str, *, outage_start_ms: int, confirmed_ms: int, error_kind: str, detail: str | None
) -> Event:
    """A confirmed outage: the fold's phase turned down at ``confirmed_ms``; it started at its first down result."""
    what = f"{error_kind}: {detail}" if detail else error_kind
    return Event(
        EventType.ENDPOINT_DOWN,
        agent,
        ("endpoint", endpoint),
        outage_start_ms,
        confirmed_ms,
        f"{endpoint} is down ({what}), seen by {agent}",
        {"outage_start": iso(outage_start_ms), "error_kind": error_kind, "detail": detail},
    )


def endpoint_recovered(agent: str, endpoint: str, *, outage_start_ms: int, recovered_ms: int) -> Event:
    """The outage that started at ``outage_start_ms`` ended at ``recovered_ms`` (the first result that was up):
    its duration is the difference, in ms (``details.duration_ms``) and words."""
    duration = max(0, recovered_ms - outage_start_ms)
    return Event(
        EventType.ENDPOINT_RECOVERED,
        agent,
        ("endpoint", endpoint),
        outage_start_ms,
        recovered_ms,
        f"{endpoint} recovered after {duration_text(duration)}, seen by {agent}",
        {"outage_start": iso(outage_start_ms), "recovered": iso(recovered_ms), "duration_ms": duration},
    )
