"""Maintenance muting in routing (pure): hand-counted per route, endpoint and set of SLAs in a window.

web is in services shop and pay, so covered by gold (through shop) and silver (through pay); api only by gold
(shop); lone by no SLA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from probe_agent.config import Config
from probe_agent.config.notify_schema import EventType
from probe_agent.notify.routes import Router

DOWN, UP = EventType.ENDPOINT_DOWN, EventType.ENDPOINT_RECOVERED


def router(extra_routes: Sequence[dict[str, Any]] = ()) -> Router:
    sla = {"target": "99.9%", "cycle": {"period": "monthly"}}
    return Router(
        Config.model_validate(
            {
                "endpoints": [{"id": i, "tcp": f"h:{n}"} for n, i in enumerate(("web", "api", "lone"), 1)],
                "services": [{"id": "shop", "endpoints": ["web", "api"]}, {"id": "pay", "endpoints": ["web"]}],
                "slas": [{"id": "gold", "services": ["shop"], **sla}, {"id": "silver", "services": ["pay"], **sla}],
                "notifications": {
                    "channels": [{"id": c, "webhook": {"url": "http://h/"}} for c in "gpaebx"],
                    "routes": [
                        {"channels": ["g"], "slas": ["gold"]},  # filtered to an SLA
                        {"channels": ["p"], "services": ["pay"]},  # filtered to silver's service
                        {"channels": ["a"]},  # no filter
                        {"channels": ["e"], "endpoints": ["web"]},  # filtered, but to no SLA
                        {"channels": ["b"], "slas": ["gold", "silver"]},
                        *extra_routes,
                    ],
                },
            }
        )
    )


@pytest.mark.parametrize(
    ("endpoint", "in_window", "expected"),
    [
        ("web", set(), ("g", "p", "a", "e", "b")),
        ("web", {"gold"}, ("p", "a", "e", "b")),  # only the gold route: silver still covers web
        ("web", {"silver"}, ("g", "a", "e", "b")),  # pay's route is silver's
        ("web", {"gold", "silver"}, ()),  # every SLA covering web is in a window: every route muted
        ("api", {"gold"}, ()),  # gold is api's only SLA
        ("api", {"silver"}, ("g", "a", "b")),  # silver does not cover api: nothing muted
        ("lone", {"gold", "silver"}, ("a",)),  # no SLA covers lone: never muted
    ],
)
def test_down_and_recovered_are_muted_by_the_windows_of_the_slas_concerned(
    endpoint: str, in_window: set[str], expected: tuple[str, ...]
) -> None:
    r = router()
    assert r.channels_for(DOWN, ("endpoint", endpoint), in_window) == expected
    assert r.channels_for(UP, ("endpoint", endpoint), in_window) == expected


def test_other_events_are_never_muted() -> None:
    r = router()
    everyone = {"gold", "silver"}
    assert r.channels_for(EventType.SLA_BREACHED, ("sla", "gold"), everyone) == ("g", "a", "b")
    assert r.channels_for(EventType.AGENT_IMPAIRED, ("agent", "x"), everyone) == ("g", "p", "a", "e", "b")
    assert r.channels_for(EventType.CERT_EXPIRING, ("endpoint", "web"), everyone) == ("g", "p", "a", "e", "b")


def test_a_channel_is_muted_only_when_every_route_naming_it_is() -> None:
    r = router([{"channels": ["x", "a"], "slas": ["gold"]}, {"channels": ["x"], "endpoints": ["api"]}])
    # web: the extra gold route is muted, but "a" has its unfiltered route; "x" has only the muted one for web.
    assert r.channels_for(DOWN, ("endpoint", "web"), {"gold"}) == ("p", "a", "e", "b")
    # api with silver in a window: nothing muted; x comes through both routes, once.
    assert r.channels_for(DOWN, ("endpoint", "api"), {"silver"}) == ("g", "a", "b", "x")
    # api with gold: the api-only route is "other", and gold is api's only SLA: x muted too.
    assert r.channels_for(DOWN, ("endpoint", "api"), {"gold"}) == ()
