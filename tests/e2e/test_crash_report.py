"""A report taken after ``kill -9`` and before any restart: the dead run's last result stops at the run's end.

One endpoint on a loopback target that always answers 200, probed every 1 s with an 800 ms timeout (a result
speaks for at most 1.8 s), heartbeat 1 s (the run is dead once its heartbeat is older than 3 s). After the kill
and 3 s more, ``report --from <first result> --to <later>`` counts, in ms: up = what each stored result speaks
for, ``[ts, min(next ts, ts + 1,800, run end))``, where the run ends at the later of its last heartbeat and its
last result; no_data = the rest up to the report's ``generated_at``. Without the cut, the last result would speak
until ts + 1,800 ms, past the run's end.
"""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.model import dt_to_ms, iso
from tests.e2e.harness import (
    DaemonLauncher,
    RecordingTarget,
    StoreReader,
    agent_config,
    wait_until,
    wall_ms,
    write_config,
)

SPEAKS_MS = 1000 + 800  # interval + grace (the timeout)
STALE_AFTER_MS = 3 * 1000  # 3 heartbeats


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_report_before_the_restart_counts_no_data_from_the_dead_runs_end(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, recorder: RecordingTarget
) -> None:
    doc = agent_config(db, [{"id": "web", "http": recorder.url("web")}], agent={"timezone": "UTC"})
    doc["slas"] = [{"id": "gold", "endpoints": ["web"], "target": "99.9%"}]
    cfg = write_config(tmp_path / "c.yaml", doc)
    daemon = await launcher.start(cfg)
    await wait_until(lambda: len(store.results("web")) >= 4, timeout=20, what="a few results", daemon=daemon)
    daemon.signal(signal.SIGKILL)
    assert await daemon.wait(5) == -signal.SIGKILL
    (run,) = store.runs()
    assert run.stopped_ms is None  # nothing has closed the dead run: no restart
    await asyncio.sleep(max(run.heartbeat_ms + STALE_AFTER_MS + 300 - wall_ms(), 0) / 1000)

    results = [r.ts_ms for r in store.results("web")]
    first = results[0]
    code = CliRunner().invoke(
        main,
        ["report", "--sla", "gold", "--from", iso(first), "--to", iso(first + 3_600_000), "--format", "json", "-c",
         str(cfg)],
    )  # fmt: skip
    assert code.exit_code == 0, code.output
    report = json.loads(code.output)
    now = dt_to_ms(datetime.fromisoformat(report["generated_at"]))

    run_end = max(run.heartbeat_ms, results[-1])
    up = sum(
        max(0, min(nxt, ts + SPEAKS_MS, run_end) - ts) for ts, nxt in zip(results, [*results[1:], now], strict=True)
    )
    assert now - run.heartbeat_ms > STALE_AFTER_MS  # the report saw a dead run
    seconds = report["seconds"]
    assert (seconds["down"], seconds["unknown"]) == (0, 0)
    assert seconds["up"] == up / 1000
    assert seconds["no_data"] == (now - first - up) / 1000
    assert store.runs()[0].stopped_ms is None  # the report only read
