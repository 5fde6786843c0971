"""The event's JSON and stable id, routing by type and subject, and the outbox rows committing with the state change
through the single writer (or not at all)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from probe_agent.config import Config
from probe_agent.config.notify_schema import EventType
from probe_agent.model import Outcome, ProbeResult
from probe_agent.notify.event import Event, endpoint_down, endpoint_recovered, event_id
from probe_agent.notify.routes import Router
from probe_agent.store.outbox import OutboxRow
from probe_agent.store.writer import StoreWriter

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z


def test_the_down_event_json() -> None:
    event = endpoint_down(
        "ams-1", "web", outage_start_ms=T0, confirmed_ms=T0 + 20_000, error_kind="connect_refused", detail="refused"
    )
    assert event.to_json() == {
        "id": event_id(EventType.ENDPOINT_DOWN, "ams-1", ("endpoint", "web"), T0),
        "type": "endpoint_down",
        "time": "2027-01-15T08:00:20.000Z",
        "agent": "ams-1",
        "endpoint": "web",
        "summary": "web is down (connect_refused: refused), seen by ams-1",
        "details": {"outage_start": "2027-01-15T08:00:00.000Z", "error_kind": "connect_refused", "detail": "refused"},
    }


def test_the_id_depends_on_type_agent_subject_and_episode_start_only() -> None:
    down = endpoint_down("a", "web", outage_start_ms=T0, confirmed_ms=T0 + 2000, error_kind="x", detail="one")
    again = endpoint_down("a", "web", outage_start_ms=T0, confirmed_ms=T0 + 9000, error_kind="y", detail="two")
    assert down.id == again.id  # seen again after a restart, confirmed later, other words: the same event
    up = endpoint_recovered("a", "web", outage_start_ms=T0, recovered_ms=T0 + 90_500)
    assert up.id != down.id and up.id == event_id(EventType.ENDPOINT_RECOVERED, "a", ("endpoint", "web"), T0)
    others = {
        endpoint_down("b", "web", outage_start_ms=T0, confirmed_ms=T0, error_kind="x", detail=None).id,
        endpoint_down("a", "api", outage_start_ms=T0, confirmed_ms=T0, error_kind="x", detail=None).id,
        endpoint_down("a", "web", outage_start_ms=T0 + 1, confirmed_ms=T0, error_kind="x", detail=None).id,
        event_id(EventType.ENDPOINT_DOWN, "a", ("service", "web"), T0),
    }
    assert down.id not in others and len(others) == 4
    assert up.details["duration_ms"] == 90_500 and up.summary == "web recovered after 1m30s500ms, seen by a"


def config(routes: list[dict[str, Any]]) -> Config:
    return Config.model_validate(
        {
            "endpoints": [
                {"id": "web", "tcp": "h:1", "tags": ["edge"]},
                {"id": "db", "tcp": "h:2"},
                {"id": "lone", "tcp": "h:3"},
            ],
            "services": [{"id": "shop", "endpoints": ["web", "db"]}],
            "slas": [
                {"id": "gold", "services": ["shop"], "target": "99.9%", "cycle": {"period": "monthly"}},
                {"id": "solo", "endpoints": ["lone"], "target": "99%", "cycle": {"period": "monthly"}},
            ],
            "notifications": {
                "channels": [{"id": c, "webhook": {"url": "http://h/"}} for c in ("all", "ops", "sla", "tag", "down")],
                "routes": routes,
            },
        }
    )


@pytest.mark.parametrize(
    ("subject", "event_type", "expected"),
    [
        (("endpoint", "web"), EventType.ENDPOINT_DOWN, ("all", "ops", "sla", "tag", "down")),
        (("endpoint", "web"), EventType.ENDPOINT_RECOVERED, ("all", "ops", "sla", "tag")),
        (("endpoint", "db"), EventType.ENDPOINT_DOWN, ("all", "ops", "sla", "down")),
        (("endpoint", "lone"), EventType.ENDPOINT_DOWN, ("all", "down")),
        (("sla", "gold"), EventType.SLA_BREACHED, ("all", "sla")),
        (("sla", "solo"), EventType.SLA_BREACHED, ("all",)),
        (("service", "shop"), EventType.SLA_AT_RISK, ("all", "ops", "sla")),
        (("agent", "a1"), EventType.AGENT_IMPAIRED, ("all", "ops", "sla", "tag")),  # the agent concerns everyone
    ],
)
def test_routes_select_by_type_and_subject(subject: Any, event_type: EventType, expected: tuple[str, ...]) -> None:
    router = Router(
        config(
            [
                {"channels": ["all"]},
                {"channels": ["ops", "all"], "services": ["shop"]},
                {"channels": ["sla"], "slas": ["gold"]},
                {
                    "channels": ["tag"],
                    "tags": ["edge"],
                    "events": ["endpoint_down", "endpoint_recovered", "agent_impaired"],
                },
                {"channels": ["down"], "events": ["endpoint_down"], "endpoints": ["web", "db", "lone"]},
            ]
        )
    )
    assert router.channels_for(event_type, subject) == expected


def test_without_routes_no_channel_gets_anything() -> None:
    assert Router(config([])).channels_for(EventType.ENDPOINT_DOWN, ("endpoint", "web")) == ()


def _result(ts: int, endpoint: str = "web") -> ProbeResult:
    return ProbeResult(ts, "a1", endpoint, Outcome.UP, latency_ms=1.0)


def _row(event: Event, channel: str) -> OutboxRow:
    return OutboxRow(event.agent, event.id, channel, str(event.type), event.summary, event.body(), event.time_ms)


def test_outbox_rows_commit_with_their_result_and_once_per_event_and_channel(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "db.sqlite")
    writer.start()
    event = endpoint_down("a1", "web", outage_start_ms=T0, confirmed_ms=T0 + 2, error_kind="x", detail=None)
    writer.submit(results=[_result(T0)], outbox=[_row(event, "hook"), _row(event, "mail")])
    writer.submit(results=[_result(T0 + 1)], outbox=[_row(event, "hook")])  # enqueued again: ignored
    # A submission with a bad result is rejected whole: its event is not enqueued either.
    bad = endpoint_down("a1", "db", outage_start_ms=T0, confirmed_ms=T0, error_kind="x", detail=None)
    writer.submit(results=[_result(T0)], outbox=[_row(bad, "hook")])  # duplicate result key
    writer.close()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        rows = conn.execute("SELECT event_id, channel, status, attempts, next_attempt_ms FROM outbox").fetchall()
        rejects = conn.execute("SELECT payload FROM write_rejects").fetchall()
    assert rows == [(event.id, "hook", "pending", 0, T0 + 2), (event.id, "mail", "pending", 0, T0 + 2)]
    assert len(rejects) == 1 and bad.id in rejects[0][0]
