"""Which SLA alerts are open, and the one transition function that starts and resolves them (pure).

``step(state, evaluation, now_ms)`` compares one SLA's conditions (``sla.alerts.evaluate_alerts``) with the open
alerts and returns the new state and what started and resolved, so each alert starts once, keeps its key (and so
its id), and resolves once:

- a condition that is True and not open starts (``AlertStart``);
- a condition that is False and open resolves (reason ``ended``); an unknown one (None) changes nothing;
- an open alert of the same SLA under another cycle label resolves (reason ``cycle_ended``): a new cycle starts
  fresh keys; so does an open alert of the same SLA and cycle that the evaluation no longer holds (an objective
  removed on reload: reason ``ended``);
- open alerts of other SLAs are left alone (each SLA is stepped on its own; one without data this minute keeps
  its alerts).

A key that resolved may start again in the same cycle (a second burst); each such episode has its own id
(``episode_id``: the key's id and its start), the same on its start and on its resolve.

The state is a value: the daemon keeps it between minutes, and can rebuild it with ``AlertState.of`` from the
alerts it knows to be open (e.g. read back from its outbox after a restart), so a restart starts nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from probe_agent.sla.alerts import AlertKey, Reading, SlaAlerts


def episode_id(key: AlertKey, since_ms: int) -> str:
    """The id of one episode of ``key``: the key's id and the epoch ms it started (``sla_at_risk:api:2026-11:1h@...``).

    A key can start again in its cycle after it resolved (a second burst of errors); each episode has its own id, so a
    receiver that drops repeated deliveries by id does not drop the second one, while every delivery of one start
    (and of its resolve) carries the same id.
    """
    return f"{key.id}@{since_ms}"


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert that started at ``since_ms`` (epoch ms) with ``reading``, and has not resolved."""

    key: AlertKey
    since_ms: int
    reading: Reading

    @property
    def id(self) -> str:
        return episode_id(self.key, self.since_ms)


@dataclass(frozen=True, slots=True)
class AlertState:
    """The open alerts by key (a read-only mapping: ``step`` returns a new state, never changes this one)."""

    open: Mapping[AlertKey, OpenAlert] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, alerts: Iterable[OpenAlert]) -> AlertState:
        return cls(MappingProxyType({a.key: a for a in alerts}))


class ResolveReason(StrEnum):
    ENDED = "ended"  # the condition became False (or is no longer evaluated)
    CYCLE_ENDED = "cycle_ended"  # the SLA is now evaluated in a later cycle


@dataclass(frozen=True, slots=True)
class AlertStart:
    key: AlertKey
    at_ms: int
    reading: Reading

    @property
    def id(self) -> str:
        """The episode's id (``episode_id``); its resolve carries the same one."""
        return episode_id(self.key, self.at_ms)


@dataclass(frozen=True, slots=True)
class AlertResolve:
    """``reading``: the condition's reading at ``at_ms``; None when it is no longer evaluated (another cycle)."""

    key: AlertKey
    since_ms: int
    at_ms: int
    reason: ResolveReason
    reading: Reading | None

    @property
    def id(self) -> str:
        """The id of the episode this resolves (its start's ``id``)."""
        return episode_id(self.key, self.since_ms)

    @property
    def duration_ms(self) -> int:
        return self.at_ms - self.since_ms


def step(
    state: AlertState, evaluation: SlaAlerts, now_ms: int
) -> tuple[AlertState, tuple[AlertStart, ...], tuple[AlertResolve, ...]]:
    """The next state after ``evaluation`` at ``now_ms``, with the alerts that started and resolved (in key order)."""
    opened = dict(state.open)
    starts: list[AlertStart] = []
    resolves: list[AlertResolve] = []
    for key, alert in sorted(state.open.items()):
        if key.sla != evaluation.sla:
            continue
        if key.cycle != evaluation.cycle:
            reason, reading = ResolveReason.CYCLE_ENDED, None
        elif key not in evaluation.readings:
            reason, reading = ResolveReason.ENDED, None
        elif evaluation.readings[key].firing is False:
            reason, reading = ResolveReason.ENDED, evaluation.readings[key]
        else:
            continue
        del opened[key]
        resolves.append(AlertResolve(key, alert.since_ms, now_ms, reason, reading))
    for key, reading in sorted(evaluation.readings.items()):
        if reading.firing is True and key not in opened:
            opened[key] = OpenAlert(key, now_ms, reading)
            starts.append(AlertStart(key, now_ms, reading))
    return AlertState(MappingProxyType(opened)), tuple(starts), tuple(resolves)
