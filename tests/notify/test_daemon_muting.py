"""The daemon in-process with an SLA in a maintenance window: an outage inside it is muted, the down is told when
the window ends with the endpoint still down (here: a reload ends it), and a down and up inside it tell nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probe_agent.config.notify_schema import EventType
from probe_agent.model import ErrorKind, Outcome, iso
from probe_agent.notify.event import event_id
from tests.agent.daemon_harness import UP, ScriptedProber, in_process
from tests.e2e.harness import agent_config, wall_ms
from tests.notify.sink import webhook_sink
from tests.notify.test_daemon_notify import fast_sender

REFUSED = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
HOUR = 3_600_000


def doc_with(tmp_path: Path, url: str, window: tuple[int, int]) -> dict[str, Any]:
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "shop.example:443"}])
    doc["slas"] = [
        {
            "id": "gold",
            "endpoints": ["web"],
            "target": "99.9%",
            "cycle": {"period": "monthly"},
            "maintenance": [{"from": iso(window[0]), "to": iso(window[1]), "reason": "upgrade"}],
        }
    ]
    doc["notifications"] = {"channels": [{"id": "hook", "webhook": {"url": url}}], "routes": [{"channels": ["hook"]}]}
    return doc


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_an_outage_in_a_window_is_told_when_the_window_ends_with_it_still_down(tmp_path: Path) -> None:
    now = wall_ms()
    prober = ScriptedProber()
    async with webhook_sink() as sink:
        doc = doc_with(tmp_path, sink.url, (now - HOUR, now + HOUR))
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            await run.until(lambda: len(run.results("web")) >= 1, "an up result")
            prober.answers["web"] = REFUSED
            await run.until(lambda: "web" in run.daemon.muting.held, "the down confirmed and muted")
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two more down results")
            assert sink.received == [] and run.store.rows("SELECT count(*) FROM outbox") == [(0,)]
            run.write(doc_with(tmp_path, sink.url, (now - 2 * HOUR, now - HOUR)))  # the window is over
            assert await run.daemon.reload()
            await run.until(lambda: len(sink.received) == 1, "endpoint_down told after the window")
            prober.answers["web"] = UP
            await run.until(lambda: len(sink.received) == 2, "endpoint_recovered")
        results = run.results("web")
    down, up = sink.events()
    start = next(r for r in results if r.outcome == "down").ts_ms
    assert down["type"] == "endpoint_down" and down["details"]["after_maintenance"] is True
    assert down["id"] == event_id(EventType.ENDPOINT_DOWN, "t1", ("endpoint", "web"), start)  # the outage's own id
    assert down["summary"].endswith("(still down as a maintenance window ended)")
    assert down["details"]["outage_start"] == iso(start)
    assert up["type"] == "endpoint_recovered" and up["details"]["outage_start"] == iso(start)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_down_and_up_inside_a_window_tell_nothing(tmp_path: Path) -> None:
    now = wall_ms()
    prober = ScriptedProber()
    async with webhook_sink() as sink:
        doc = doc_with(tmp_path, sink.url, (now - HOUR, now + HOUR))
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            prober.answers["web"] = REFUSED
            await run.until(lambda: "web" in run.daemon.muting.held, "the down confirmed and muted")
            prober.answers["web"] = UP
            await run.until(lambda: "web" not in run.daemon.muting.held, "recovered")
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two up results")
            phases = [i.state for i in run.store.intervals("web")]
        assert sink.received == [] and run.store.rows("SELECT count(*) FROM outbox") == [(0,)]
    assert "down" in phases  # it was an outage all the same: the timeline keeps it
