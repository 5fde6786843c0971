"""The controls rule end to end: the agent's own network failure is unknown, never the target's downtime.

Two daemons run at once against the same failing target (the /switch turned off, plus a closed port): one whose
only control is a closed loopback port (the agent "cannot reach anything"), one whose control answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe_agent.demo_targets import Targets
from tests.e2e.harness import (
    DaemonLauncher,
    StoreReader,
    agent_config,
    assert_tiled,
    closed_port,
    wait_until,
    write_config,
)

CONFIRM = 3


@pytest.mark.fault(
    "agent network down (controls on a closed port)", expected="failures recorded unknown/controls_failed, no incident"
)
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_failures_are_unknown_when_controls_fail_and_down_when_a_control_answers(
    tmp_path: Path, launcher: DaemonLauncher, targets: Targets
) -> None:
    targets.set_switch(False)
    dead_port = closed_port()
    failing = [
        {"id": "sw", "http": targets.url("/switch")},
        {"id": "gone", "tcp": f"127.0.0.1:{dead_port}"},
    ]
    blind_db, seeing_db = tmp_path / "blind.db", tmp_path / "seeing.db"
    blind_cfg = agent_config(
        blind_db, failing, agent_id="blind", controls=[{"id": "ctl", "tcp": f"127.0.0.1:{closed_port()}"}]
    )
    seeing_cfg = agent_config(
        seeing_db, failing, agent_id="seeing", controls=[{"id": "ctl", "http": targets.url("/healthy")}]
    )
    blind = await launcher.start(write_config(tmp_path / "blind.yaml", blind_cfg))
    seeing = await launcher.start(write_config(tmp_path / "seeing.yaml", seeing_cfg))
    blind_store, seeing_store = StoreReader(blind_db), StoreReader(seeing_db)

    def enough(store: StoreReader) -> bool:
        return all(len(store.results(ep)) >= CONFIRM + 2 for ep in ("sw", "gone"))

    await wait_until(lambda: enough(blind_store), timeout=20, what="blind: results", daemon=blind)
    await wait_until(lambda: enough(seeing_store), timeout=20, what="seeing: results", daemon=seeing)
    assert await blind.stop() == 0
    assert await seeing.stop() == 0

    for ep, target_kind in (("sw", "http_status"), ("gone", "connect_refused")):
        blind_results = blind_store.results(ep)
        assert {(r.outcome, r.error_kind) for r in blind_results} == {("unknown", "controls_failed")}
        blind_timeline = blind_store.intervals(ep)
        assert blind_timeline and {i.state for i in blind_timeline} == {"unknown"}
        assert {i.cause for i in blind_timeline} == {"controls_failed"}
        assert all(i.outage_start_ms is None for i in blind_timeline)
        assert_tiled(blind_timeline)

        seeing_results = seeing_store.results(ep)
        assert {(r.outcome, r.error_kind) for r in seeing_results} == {("down", target_kind)}
        seeing_timeline = seeing_store.intervals(ep)
        assert {i.state for i in seeing_timeline} == {"down"}, "confirmed from the first failure on"
        assert seeing_timeline[0].outage_start_ms == seeing_results[0].ts_ms
        assert_tiled(seeing_timeline)

    assert "every control failed too" in blind.log() or "unknown (controls_failed)" in blind.log()
    assert "DOWN confirmed" in seeing.log()
