"""The SLA alerts' events (pure): ids per episode and key, and the open alerts read back from stored events."""

from __future__ import annotations

from fractions import Fraction

from probe_agent.notify.event import Event
from probe_agent.notify.sla_events import open_alerts, resolve_event, start_event
from probe_agent.sla.alert_state import AlertResolve, AlertStart, ResolveReason
from probe_agent.sla.alerts import PAIRS, AlertKey, AlertKind, BreachReading, PairReading

T = 1_790_000_000_000
ONE = AlertKey(AlertKind.SLA_AT_RISK, "gold", "2026-10", "1h")
SIX = AlertKey(AlertKind.SLA_AT_RISK, "gold", "2026-10", "6h")
BREACH = AlertKey(AlertKind.SLA_BREACHED, "gold", "2026-10")


def at_risk(key: AlertKey, at: int) -> AlertStart:
    pair = PAIRS[0] if key.detail == "1h" else PAIRS[1]
    return AlertStart(key, at, PairReading(pair, Fraction(50), Fraction(100), True))


def test_two_pairs_starting_in_the_same_ms_have_distinct_ids_and_a_resolve_its_own() -> None:
    one, six = start_event("a1", at_risk(ONE, T)), start_event("a1", at_risk(SIX, T))
    assert one.id != six.id
    assert one.id == start_event("a1", at_risk(ONE, T)).id  # found again: the same id
    done = resolve_event("a1", AlertResolve(ONE, T, T + 60_000, ResolveReason.ENDED, None))
    assert done.id not in (one.id, six.id)
    assert str(done.type) == "sla_at_risk_resolved" and done.details["duration_ms"] == 60_000
    assert done.details["episode"] == one.details["episode"] == f"{ONE.id}@{T}"


def bodies(*events: Event) -> list[tuple[str, str]]:
    return [(str(e.type), e.body()) for e in events]


def test_open_alerts_are_the_starts_without_a_resolve_the_latest_episode_per_key() -> None:
    first = start_event("a1", at_risk(ONE, T))
    first_done = resolve_event("a1", AlertResolve(ONE, T, T + 60_000, ResolveReason.ENDED, None))
    second = start_event("a1", at_risk(ONE, T + 120_000))
    six = start_event("a1", at_risk(SIX, T))
    six_done = resolve_event("a1", AlertResolve(SIX, T, T + 60_000, ResolveReason.ENDED, None))
    breach = start_event("a1", AlertStart(BREACH, T, BreachReading(2000, Fraction(1500), True)))
    got = open_alerts([*bodies(first, first_done, second, six, six_done, breach, breach), ("sla_at_risk", "{oops")])
    assert [(a.key, a.since_ms) for a in got] == [(ONE, T + 120_000), (BREACH, T)]
    assert got[0].id == f"{ONE.id}@{T + 120_000}"
    assert got[1].reading == BreachReading(2000, Fraction(1500), True)
