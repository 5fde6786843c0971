"""The daemon in-process with a webhook channel to a loopback sink: one endpoint_down and one endpoint_recovered per
outage, with times hand-counted from the stored results; blips send nothing; the outbox rows commit with the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probe_agent.model import ErrorKind, Outcome, iso
from probe_agent.notify.sender import SenderSettings
from tests.agent.daemon_harness import UP, ScriptedProber, in_process
from tests.e2e.harness import agent_config
from tests.notify.sink import webhook_sink

REFUSED = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)


def notify_doc(tmp_path: Path, url: str) -> dict[str, Any]:
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "shop.example:443"}])
    doc["notifications"] = {"channels": [{"id": "hook", "webhook": {"url": url}}], "routes": [{"channels": ["hook"]}]}
    return doc


def fast_sender(daemon: Any) -> None:
    daemon.sender_settings = SenderSettings(poll_s=0.05)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_one_outage_gives_one_down_and_one_recovered_and_a_blip_nothing(tmp_path: Path) -> None:
    prober = ScriptedProber()
    async with webhook_sink() as sink:
        async with in_process(tmp_path, notify_doc(tmp_path, sink.url), prober, before_run=fast_sender) as run:
            await run.until(lambda: len(run.results("web")) >= 2, "two up results")
            prober.answers["web"] = REFUSED
            await run.until(lambda: len(sink.received) == 1, "endpoint_down delivered")
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two more down results")
            prober.answers["web"] = UP
            await run.until(lambda: len(sink.received) == 2, "endpoint_recovered delivered")
            # A blip: one down result (confirm is 3), then up again.
            n = len(run.results("web"))
            prober.answers["web"] = REFUSED
            await run.until(lambda: len(run.results("web")) >= n + 1, "one down result")
            prober.answers["web"] = UP
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 3, "three up results after the blip")
            await run.until(
                lambda: run.store.rows("SELECT count(*) FROM outbox WHERE status = 'sent'") == [(2,)], "sent"
            )
        results = run.results("web")
        outbox = run.store.rows("SELECT event_type, status, attempts FROM outbox ORDER BY id")
    events = sink.events()
    assert [e["type"] for e in events] == ["endpoint_down", "endpoint_recovered"]
    # Hand-counted from the stored results: the outage starts at the first down result, is confirmed by the third
    # and ends at the first up result after it.
    outcomes = [r.outcome for r in results]
    first_down = outcomes.index("down")
    confirmed = results[first_down + 2]
    recovered = next(r for r in results[first_down:] if r.outcome == "up")
    start = results[first_down].ts_ms
    down, up = events
    assert down["endpoint"] == "web" and down["agent"] == "t1"
    assert down["time"] == iso(confirmed.ts_ms)
    assert down["details"] == {
        "outage_start": iso(start),
        "error_kind": "connect_refused",
        "detail": "scripted connect_refused",
    }
    assert up["time"] == iso(recovered.ts_ms)
    assert up["details"]["duration_ms"] == recovered.ts_ms - start
    assert up["details"]["outage_start"] == iso(start)
    assert down["id"] != up["id"]
    assert outcomes.count("down") >= 5 + 1  # the outage's results and the blip's one: the blip sent nothing
    assert outbox == [("endpoint_down", "sent", 1), ("endpoint_recovered", "sent", 1)]


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_an_outage_across_a_restart_is_one_down_and_one_recovered(tmp_path: Path) -> None:
    prober = ScriptedProber(answers={"web": REFUSED})
    async with webhook_sink() as sink:
        doc = notify_doc(tmp_path, sink.url)
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            await run.until(lambda: len(sink.received) == 1, "endpoint_down delivered")
            # Marked sent before the stop: a delivery cut short by the stop is made again after it (at least once).
            await run.until(lambda: run.store.rows("SELECT status FROM outbox") == [("sent",)], "marked sent")
        first_run = run.results("web")
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two down results in the second run")
            prober.answers["web"] = UP
            await run.until(lambda: len(sink.received) == 2, "endpoint_recovered delivered")
        results = run.results("web")
    down, up = sink.events()
    assert [down["type"], up["type"]] == ["endpoint_down", "endpoint_recovered"]
    start = first_run[0].ts_ms  # down from the first probe on
    recovered = next(r for r in results if r.outcome == "up")
    assert up["details"]["outage_start"] == down["details"]["outage_start"] == iso(start)
    assert up["details"]["duration_ms"] == recovered.ts_ms - start  # the restart's gap included
    assert run.store.rows("SELECT count(*) FROM outbox") == [(2,)]


def sla_doc(tmp_path: Path, url: str) -> dict[str, Any]:
    doc = notify_doc(tmp_path, url)
    doc["services"] = [{"id": "shop", "endpoints": ["web"]}]
    doc["slas"] = [
        {"id": "gold", "services": ["shop"], "target": "100%", "cycle": {"period": "monthly", "timezone": "UTC"}}
    ]
    doc["notifications"]["routes"] = [{"channels": ["hook"], "slas": ["gold"], "events": ["sla_breached"]}]
    return doc


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_daemon_runs_the_sla_alerts_job_and_a_restart_does_not_send_a_breach_twice(tmp_path: Path) -> None:
    """A 100 % target and an endpoint down from the first probe: the daemon's SLA alerts job (a round called with
    the daemon's own "now", as its minute loop would) enqueues one sla_breached, which its sender delivers; the next
    daemon reads it back from the outbox and sends nothing again."""
    prober = ScriptedProber(answers={"web": REFUSED})
    async with webhook_sink() as sink:
        doc = sla_doc(tmp_path, sink.url)
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            job = run.daemon.sla_alerts
            assert job is not None
            await run.until(lambda: len(run.results("web")) >= 4, "the outage confirmed and counted")
            events = await job.step_at(run.daemon.wall_ms())
            assert [str(e.type) for e in events] == ["sla_breached"]
            await run.until(lambda: len(sink.received) == 1, "sla_breached delivered")
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            job = run.daemon.sla_alerts
            assert job is not None
            await run.until(lambda: len(run.results("web")) >= 6, "more down results")
            await run.until(lambda: job.state.open, "the open breach read back from the outbox")
            assert await job.step_at(run.daemon.wall_ms()) == []
        assert run.store.rows("SELECT event_type FROM outbox") == [("sla_breached",)]
    (breached,) = sink.events()
    assert breached["sla"] == "gold" and breached["details"]["alert"].startswith("sla_breached:gold:")


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_without_channels_there_is_no_sla_alerts_job(tmp_path: Path) -> None:
    doc = sla_doc(tmp_path, "http://127.0.0.1:9/")
    del doc["notifications"]
    async with in_process(tmp_path, doc, ScriptedProber()) as run:
        assert run.daemon.sla_alerts is None
