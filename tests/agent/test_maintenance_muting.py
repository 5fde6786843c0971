"""Which SLAs are in a maintenance window at an instant (what muting asks), hand-counted."""

from __future__ import annotations

import pytest

from probe_agent.agent.maintenance import Muting, slas_in_window
from probe_agent.config import Config
from probe_agent.model import parse_ts
from probe_agent.notify.event import endpoint_down
from probe_agent.notify.routes import Router


def config() -> Config:
    sla = {"target": "99.9%", "cycle": {"period": "monthly", "timezone": "Europe/Berlin"}}
    return Config.model_validate(
        {
            "endpoints": [{"id": "web", "tcp": "h:1"}],
            "slas": [
                # 02:00-03:00 Berlin every night: 01:00-02:00Z in winter
                {
                    "id": "nightly",
                    "endpoints": ["web"],
                    **sla,
                    "maintenance": [{"cron": "0 2 * * *", "duration": "1h"}],
                },
                {
                    "id": "once",
                    "endpoints": ["web"],
                    **sla,
                    "maintenance": [{"from": "2027-01-15T08:00:00Z", "to": "2027-01-15T09:30:00Z"}],
                },
                {"id": "never", "endpoints": ["web"], **sla},
            ],
        }
    )


def test_windows_hold_from_their_start_up_to_but_not_at_their_end() -> None:
    c = config()
    at = parse_ts
    assert slas_in_window(c, at("2027-01-15T00:59:59.999Z")) == frozenset()
    assert slas_in_window(c, at("2027-01-15T01:00:00Z")) == {"nightly"}
    assert slas_in_window(c, at("2027-01-15T01:59:59.999Z")) == {"nightly"}
    assert slas_in_window(c, at("2027-01-15T02:00:00Z")) == frozenset()
    assert slas_in_window(c, at("2027-01-15T08:00:00Z")) == {"once"}
    assert slas_in_window(c, at("2027-01-15T09:30:00Z")) == frozenset()
    assert slas_in_window(c, at("2027-07-15T00:30:00Z")) == {"nightly"}  # summer: 02:00 Berlin is 00:00Z


def test_a_failure_while_muting_routes_the_event_unmuted(caplog: pytest.LogCaptureFixture) -> None:
    c = Config.model_validate(
        {
            "endpoints": [{"id": "web", "tcp": "h:1"}],
            "notifications": {
                "channels": [{"id": "hook", "webhook": {"url": "http://h/"}}],
                "routes": [{"channels": ["hook"]}],
            },
        }
    )

    def broken() -> Config:
        raise RuntimeError("a window that cannot be computed")

    muting = Muting(broken, lambda: Router(c))
    event = endpoint_down("a1", "web", outage_start_ms=1000, confirmed_ms=3000, error_kind="timeout", detail=None)
    rows = muting.rows(event)
    assert [(r.channel, r.event_id) for r in rows] == [("hook", event.id)]
    assert "maintenance muting failed for endpoint_down; routing it unmuted" in caplog.text
