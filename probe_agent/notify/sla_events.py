"""The SLA alerts' events (pure): ``sla.alert_state.step``'s starts and resolves as notification events, and the
open alerts read back from those events (``open_alerts``) so a restarted daemon resumes its ``AlertState``.

Types: ``sla_at_risk`` / ``sla_at_risk_resolved`` per (SLA, cycle, window pair), ``sla_breached`` /
``sla_breached_resolved`` per (SLA, cycle), ``objective_breached`` / ``objective_breached_resolved`` per (SLA, cycle,
objective). A breach cannot end inside its cycle (the target can no longer be met), so ``sla_breached_resolved``
comes when the SLA is first evaluated in the next cycle (reason ``cycle_ended``), and only after a reload that
changed the target could it come earlier (reason ``ended``).

Ids: the event's subject is the SLA, its episode start the alert's start (epoch ms) and its ``key`` the alert key's
id (``sla_at_risk:api:2026-11:1h``), so the 1 h and 6 h pairs starting in the same minute have distinct ids, and
the same episode found again after a restart has the same id (the outbox drops the second enqueue). ``details``
carries ``alert`` (the key's id), ``episode`` (``sla.alert_state.episode_id``), ``since`` (ISO) and ``since_ms``
(what ``open_alerts`` reads back), and the reading: burn rates as decimal numbers (4 places), ms as integers,
error rates and percents as the report writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from probe_agent.config.notify_schema import EventType
from probe_agent.model import iso
from probe_agent.notify.event import Event
from probe_agent.sla.alert_state import AlertResolve, AlertStart, OpenAlert, episode_id
from probe_agent.sla.alerts import (
    PAIRS,
    AlertKey,
    AlertKind,
    BreachReading,
    ObjectiveReading,
    PairReading,
    Reading,
)
from probe_agent.units import duration_text

STARTED = {
    AlertKind.SLA_AT_RISK: EventType.SLA_AT_RISK,
    AlertKind.SLA_BREACHED: EventType.SLA_BREACHED,
    AlertKind.OBJECTIVE_BREACHED: EventType.OBJECTIVE_BREACHED,
}
RESOLVED = {
    AlertKind.SLA_AT_RISK: EventType.SLA_AT_RISK_RESOLVED,
    AlertKind.SLA_BREACHED: EventType.SLA_BREACHED_RESOLVED,
    AlertKind.OBJECTIVE_BREACHED: EventType.OBJECTIVE_BREACHED_RESOLVED,
}
ALERT_EVENT_TYPES = frozenset(STARTED.values()) | frozenset(RESOLVED.values())


def _rate(rate: Fraction | None) -> float | None:
    return None if rate is None else round(float(rate), 4)


def reading_details(reading: Reading | None) -> dict[str, Any]:
    """The reading as JSON values (empty for None: an alert resolved because it is no longer evaluated)."""
    if isinstance(reading, PairReading):
        return {
            "window": reading.pair.name,
            "long_window_s": reading.pair.long_ms // 1000,
            "short_window_s": reading.pair.short_ms // 1000,
            "factor": _rate(reading.pair.factor),
            "long_burn_rate": _rate(reading.long_rate),
            "short_burn_rate": _rate(reading.short_rate),
        }
    if isinstance(reading, BreachReading):
        return {"counted_down_ms": reading.down_ms, "allowed_down_ms": int(reading.allowed_ms)}
    if isinstance(reading, ObjectiveReading):
        value: float | None = None if reading.value is None else float(reading.value)
        if reading.objective == "error_rate" and value is not None:
            value = round(value * 100, 4)  # percent, as the report shows the error rate
        unit = "error_rate_percent" if reading.objective == "error_rate" else "latency_ms"
        return {"objective": reading.objective, "samples": reading.samples, unit: value}
    return {}


def _what(key: AlertKey) -> str:
    if key.kind is AlertKind.SLA_AT_RISK:
        return f"SLA {key.sla} is at risk in cycle {key.cycle} ({key.detail} burn rate)"
    if key.kind is AlertKind.SLA_BREACHED:
        return f"SLA {key.sla} is breached in cycle {key.cycle}: its target can no longer be met"
    return f"SLA {key.sla} misses its {key.detail.replace('_', ' ')} objective in cycle {key.cycle}"


def _base(key: AlertKey, since_ms: int) -> dict[str, Any]:
    return {"alert": key.id, "episode": episode_id(key, since_ms), "since": iso(since_ms), "since_ms": since_ms}


def start_event(agent: str, start: AlertStart) -> Event:
    key = start.key
    return Event(
        STARTED[key.kind],
        agent,
        ("sla", key.sla),
        start.at_ms,
        start.at_ms,
        f"{_what(key)}, seen by {agent}",
        {**_base(key, start.at_ms), **reading_details(start.reading)},
        cycle=key.cycle,
        key=key.id,
    )


def resolve_event(agent: str, resolve: AlertResolve) -> Event:
    key = resolve.key
    why = "its cycle ended" if resolve.reason == "cycle_ended" else "the condition ended"
    return Event(
        RESOLVED[key.kind],
        agent,
        ("sla", key.sla),
        resolve.since_ms,
        resolve.at_ms,
        f"resolved after {duration_text(resolve.duration_ms)} ({why}): {_what(key)}, seen by {agent}",
        {
            **_base(key, resolve.since_ms),
            "reason": str(resolve.reason),
            "resolved": iso(resolve.at_ms),
            "duration_ms": resolve.duration_ms,
            **reading_details(resolve.reading),
        },
        cycle=key.cycle,
        key=key.id,
    )


def _key_of(alert_id: str) -> AlertKey | None:
    """``AlertKey.id`` read back (``kind:sla:cycle[:detail]``; ids and cycle labels hold no ``:``)."""
    parts = alert_id.split(":")
    if len(parts) not in (3, 4) or parts[0] not in {k.value for k in AlertKind}:
        return None
    return AlertKey(AlertKind(parts[0]), parts[1], parts[2], parts[3] if len(parts) == 4 else "")


def _reading_of(key: AlertKey, details: dict[str, Any]) -> Reading:
    """The reading an open alert started with, as far as its event keeps it (``OpenAlert.reading`` is only
    carried along: ``step`` judges on the new evaluation)."""
    if key.kind is AlertKind.SLA_AT_RISK:
        pair = next((p for p in PAIRS if p.name == key.detail), PAIRS[0])
        return PairReading(pair, None, None, True)
    if key.kind is AlertKind.SLA_BREACHED:
        return BreachReading(int(details.get("counted_down_ms", 0)), Fraction(details.get("allowed_down_ms", 0)), True)
    samples = int(details.get("samples", 0))
    if key.detail == "latency":
        return ObjectiveReading("latency", samples, None, True)
    return ObjectiveReading("error_rate", samples, None, True)


def open_alerts(bodies: Iterable[tuple[str, str]]) -> list[OpenAlert]:
    """The alerts still open after the events ``bodies`` ((event type, JSON body) of the agent's stored SLA alert
    events, any order, repeats allowed): every episode started and not resolved. A body that cannot be read is
    skipped (its alert then starts again, with the same id if it is the same episode)."""
    started: dict[str, OpenAlert] = {}
    resolved: set[str] = set()
    for event_type, body in bodies:
        try:
            details = json.loads(body)["details"]
            key = _key_of(details["alert"])
            since_ms = int(details["since_ms"])
        except (ValueError, KeyError, TypeError):
            continue
        if key is None:
            continue
        episode = episode_id(key, since_ms)
        if event_type in {str(t) for t in RESOLVED.values()}:
            resolved.add(episode)
        elif event_type in {str(t) for t in STARTED.values()}:
            started[episode] = OpenAlert(key, since_ms, _reading_of(key, details))
    # A key has one open episode at most: the latest start that did not resolve.
    latest: dict[AlertKey, OpenAlert] = {}
    for episode, alert in started.items():
        if episode not in resolved and (alert.key not in latest or latest[alert.key].since_ms < alert.since_ms):
            latest[alert.key] = alert
    return sorted(latest.values(), key=lambda a: a.key)
