"""The daemon in-process under overload: more probes due than ``max_concurrency`` can run. Slots are shed, not
queued without end; the shed time is ``no_data`` (never down or unknown) and the agent says so once, as an
``agent_impaired`` episode (``schedule_lagging``: "N slots skipped")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from probe_agent.agent.impaired import Reason
from tests.agent.daemon_harness import ScriptedProber, in_process
from tests.e2e.harness import agent_config, closed_port

ENDPOINTS = [f"e{i}" for i in range(8)]


async def slow_answer() -> None:
    await asyncio.sleep(0.5)  # each probe holds the one slot for 0.5 s: a ceiling of 2 probes/s


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_overload_sheds_slots_as_no_data_and_opens_one_schedule_lagging_episode(tmp_path: Path) -> None:
    # 8 endpoints at 1 s against a ceiling of 2 probes/s: four times the ceiling.
    doc = agent_config(
        tmp_path / "pa.db", [{"id": e, "tcp": "shop.example:443"} for e in ENDPOINTS], agent={"max_concurrency": 1}
    )
    doc["notifications"] = {  # a receiver that is not there: the outbox rows are what this test reads
        "channels": [{"id": "hook", "webhook": {"url": f"http://127.0.0.1:{closed_port()}/"}}],
        "routes": [{"channels": ["hook"], "events": ["agent_impaired", "agent_impaired_resolved"]}],
    }
    prober = ScriptedProber(gate=dict.fromkeys(ENDPOINTS, slow_answer))
    async with in_process(tmp_path, doc, prober) as run:
        await run.until(lambda: Reason.SCHEDULE_LAGGING in run.daemon.impaired.open, "schedule_lagging", timeout=30)
        await run.until(lambda: all(len(run.results(e)) >= 2 for e in ENDPOINTS), "every endpoint probed twice")
        stats = run.daemon.scheduler.snapshot()
        outbox = run.store.rows("SELECT event_type, summary FROM outbox ORDER BY id")
    assert stats.shed_slots > 0 and stats.waiting <= stats.max_waiting
    assert stats.in_flight <= 1
    # One episode, opened once and still open (not one event a beat), saying how many slots were skipped.
    assert [row[0] for row in outbox] == ["agent_impaired"]
    assert "probing lags behind its schedule: schedule lagging: " in outbox[0][1] and " slots skipped " in outbox[0][1]
    # Every result is up (the targets are healthy), and the time between them is no_data, never down or unknown.
    results = run.store.results()
    assert {r.outcome for r in results} == {"up"}
    states = {iv.state for iv in run.store.intervals()}
    assert "down" not in states and "unknown" not in states and "no_data" in states
