"""Outages measured end to end: when they start and end, what a single failure does, and a restart mid-outage.

Slack on outage edges (``EDGE_SLACK_MS``): the first probe after a switch-off starts at the next slot of the 1 s
grid, and the first probe after a switch-on starts 1 s (retry_interval) after the previous re-check *finished*.
On top of the 1 s come the previous probe's duration (a loopback 503: a few ms) and the scheduler's lateness
(milliseconds, more on a loaded 2-core machine running two Python processes). 250 ms covers both with room.
A probe that starts just before the switch flips but reaches the handler just after it is stamped with its start:
an edge can be early by that probe's connect time, well under ``EARLY_MS``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from probe_agent.demo_targets import Targets
from tests.e2e.harness import (
    DaemonLauncher,
    Result,
    StoreReader,
    agent_config,
    assert_tiled,
    covering,
    resolved_timeline,
    wait_until,
    wall_ms,
    write_config,
)

INTERVAL_MS = 1000
EDGE_SLACK_MS = 250
EARLY_MS = 50
OUTAGE_S = 20.0


def outages(store: StoreReader, endpoint: str) -> dict[int, tuple[int, int]]:
    """Per outage_start_ms: (first start, last end) of the stored intervals that carry it."""
    found: dict[int, tuple[int, int]] = {}
    for i in store.intervals(endpoint):
        if i.outage_start_ms is not None:
            start, end = found.get(i.outage_start_ms, (i.start_ms, i.end_ms))
            found[i.outage_start_ms] = (min(start, i.start_ms), max(end, i.end_ms))
    return found


@pytest.mark.fault("single failed probes (blips)", expected="never an outage; outage edges within one interval")
@pytest.mark.slow
@pytest.mark.timeout(75)
async def test_outage_edges_within_one_interval_and_single_failures_are_blips(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, targets: Targets
) -> None:
    cfg = write_config(
        tmp_path / "c.yaml",
        agent_config(
            db, [{"id": "sw", "http": targets.url("/switch")}, {"id": "flap", "http": targets.url("/flappy")}]
        ),
    )
    daemon = await launcher.start(cfg)
    await wait_until(lambda: len(store.results("sw")) >= 3, timeout=15, what="sw probing", daemon=daemon)

    off_ms = wall_ms()
    targets.set_switch(False)
    await asyncio.sleep(OUTAGE_S)
    on_ms = wall_ms()
    targets.set_switch(True)
    await wait_until(
        lambda: [r for r in store.results("sw") if r.ts_ms > on_ms and r.outcome == "up"],
        timeout=10,
        what="the recovery",
        daemon=daemon,
    )
    await asyncio.sleep(1.5)  # one more regular probe after the recovery
    assert await daemon.stop() == 0

    found = outages(store, "sw")
    assert len(found) == 1, f"one switch-off must be one outage, found {found}"
    ((outage_start, (first_start, outage_end)),) = found.items()
    assert first_start == outage_start
    start_error, end_error = outage_start - off_ms, outage_end - on_ms
    print(f"\noutage edges: start error {start_error} ms, end error {end_error} ms")
    assert -EARLY_MS <= start_error <= INTERVAL_MS + EDGE_SLACK_MS
    assert -EARLY_MS <= end_error <= INTERVAL_MS + EDGE_SLACK_MS
    # The outage starts at its first failed result (not at the confirming third) and ends at the first success.
    sw_results = store.results("sw")
    first_down = next(r for r in sw_results if r.outcome == "down")
    assert first_down.ts_ms == outage_start and not first_down.recheck
    assert next(r for r in sw_results if r.ts_ms > first_down.ts_ms and r.outcome == "up").ts_ms == outage_end
    down = [i for i in store.intervals("sw") if i.state == "down"]
    assert down and {i.cause for i in down} == {"http_status"}
    assert_tiled(store.intervals("sw"))

    # /flappy failed once every fifth request, never twice in a row: blips, counted as up, never down.
    flap = store.results("flap")
    assert sum(r.outcome == "down" for r in flap) >= 3, "the single failures must have happened"
    assert all(r.recheck for r in flap if r.outcome == "up" and _after_down(flap, r)), "a failure is re-checked"
    flap_intervals = resolved_timeline(store, "flap")
    assert flap_intervals and {i.state for i in flap_intervals} == {"up"}
    assert all(i.outage_start_ms is None for i in flap_intervals)
    assert_tiled(flap_intervals)


def _after_down(results: list[Result], r: Result) -> bool:
    index = results.index(r)
    return index > 0 and results[index - 1].outcome == "down"


@pytest.mark.fault("a restart in the middle of an outage", expected="one incident, the gap no_data")
@pytest.mark.slow
@pytest.mark.timeout(75)
async def test_restart_mid_outage_resumes_one_outage_with_the_gap_as_no_data(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, targets: Targets
) -> None:
    cfg = write_config(tmp_path / "c.yaml", agent_config(db, [{"id": "sw", "http": targets.url("/switch")}]))
    targets.set_switch(False)
    first = await launcher.start(cfg)
    await wait_until(
        lambda: store.fold_states().get("sw", {}).get("phase") == "down", timeout=15, what="DOWN", daemon=first
    )
    assert await first.stop() == 0
    await asyncio.sleep(1.5)  # a gap no result speaks for

    second = await launcher.start(cfg)
    live = await wait_until(
        lambda: [r for r in store.runs() if r.stopped_ms is None], timeout=10, what="run 2", daemon=second
    )
    run2_id = live[0].run_id
    await wait_until(
        lambda: len(store.results("sw", run_id=run2_id)) >= 2, timeout=10, what="run 2 probing", daemon=second
    )
    on_ms = wall_ms()
    targets.set_switch(True)
    await wait_until(
        lambda: [r for r in store.results("sw", run_id=run2_id) if r.outcome == "up"],
        timeout=10,
        what="the recovery",
        daemon=second,
    )
    await asyncio.sleep(1.2)
    assert await second.stop() == 0

    runs = store.runs()
    assert [r.clean for r in runs] == [1, 1]
    found = outages(store, "sw")
    assert len(found) == 1, f"a restart must not split the outage: {found}"
    ((outage_start, (_, outage_end)),) = found.items()
    assert outage_start == store.results("sw", run_id=runs[0].run_id)[0].ts_ms
    assert -EARLY_MS <= outage_end - on_ms <= INTERVAL_MS + EDGE_SLACK_MS
    # Between the runs: no_data, inside the outage (the same incident).
    first_of_run2 = store.results("sw", run_id=run2_id)[0]
    assert first_of_run2.outcome == "down" and first_of_run2.recheck, "the resumed outage keeps re-checking"
    stored_stop = runs[0].stopped_ms
    assert stored_stop is not None
    gap = covering(store.intervals("sw"), stored_stop, first_of_run2.ts_ms)
    assert {(i.state, i.outage_start_ms) for i in gap} == {("no_data", outage_start)}
    inside = [i for i in store.intervals("sw") if i.outage_start_ms == outage_start]
    assert inside[0].start_ms == outage_start and inside[-1].end_ms == outage_end
    assert {i.state for i in inside} == {"down", "no_data"}
    assert_tiled(store.intervals("sw"))
    assert "DOWN confirmed" in first.log() and "DOWN confirmed" not in second.log(), "no second confirmation"
