"""kill -9 twenty times under load: every crash keeps the database intact and loses at most the last second.

One database, one agent id, 160 endpoints at 1 s (about 160 results a second). Each round starts the daemon (on the
same host a dead pid's run is closed at once), lets it write for a moment that differs from round to round, kills
it with SIGKILL, and checks the database and what it lost before the next round starts on top of it.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DaemonLauncher,
    RecordingTarget,
    StoreReader,
    agent_config,
    assert_tiled,
    wait_until,
    write_config,
)
from tests.e2e.test_crash import ENDPOINTS, INTERVAL, LOSS_WINDOW_MS, PROBE_SLACK_MS, TIMEOUT_MS, _has_result

ROUNDS = 20


@pytest.mark.fault(
    "kill -9 x20 under load (~160 results/s)",
    expected="integrity_check ok after every kill; each loses at most the last second; timelines tiled",
)
@pytest.mark.solo  # its loss window is the daemon's, not that of daemons beside it (tests/solo.py)
@pytest.mark.long_fault
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_twenty_kills_under_load(
    tmp_path: Path,
    db: Path,
    store: StoreReader,
    launcher: DaemonLauncher,
    recorder: RecordingTarget,
    observe: Callable[[str], None],
) -> None:
    names = [f"e{n:03d}" for n in range(ENDPOINTS)]
    cfg = write_config(
        tmp_path / "c.yaml",
        agent_config(
            db,
            [{"id": n, "http": recorder.url(n)} for n in names],
            defaults={"interval": INTERVAL, "timeout": f"{TIMEOUT_MS}ms", "retry_interval": INTERVAL},
        ),
    )
    pace = random.Random(20261207)  # the kills land at different phases, the same ones every run
    worst_ms, lost_total, served_total = 0, 0, 0
    for round_ in range(1, ROUNDS + 1):
        daemon = await launcher.start(cfg)
        await wait_until(
            lambda r=round_: len({x.endpoint for x in store.results() if x.run_id == r}) == ENDPOINTS,
            timeout=30,
            what=f"round {round_}: every endpoint probed",
            daemon=daemon,
        )
        await asyncio.sleep(pace.uniform(0.4, 2.0))
        kill_ms = daemon.signal(signal.SIGKILL)
        assert await daemon.wait(5) == -signal.SIGKILL
        await asyncio.sleep(0.3)  # requests already on the wire reach the log
        served = [(name, at) for name, at in recorder.requests if at < kill_ms]
        recorder.requests.clear()
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"round {round_}"
        finally:
            conn.close()
        stored: dict[str, list[int]] = {n: [] for n in names}
        for r in store.results():
            stored[r.endpoint].append(r.ts_ms)
        ages = sorted(kill_ms - at for name, at in served if not _has_result(stored[name], at))
        assert not [a for a in ages if a > LOSS_WINDOW_MS + PROBE_SLACK_MS], f"round {round_}: lost {ages}"
        worst_ms = max(worst_ms, *ages, 0)
        lost_total += len(ages)
        served_total += len(served)

    runs = store.runs()
    observe(
        f"{ROUNDS} kills: integrity ok each time; {lost_total} of {served_total} served requests without a stored "
        f"result, the oldest {worst_ms} ms before its kill"
    )
    assert len(runs) == ROUNDS and all(r.clean == 0 for r in runs[:-1])
    for name in names[:: ENDPOINTS // 8]:  # a sample of timelines: tiled, one state per instant
        assert_tiled(store.intervals(name))
