"""Crash safety: a process writing through StoreWriter is SIGKILLed; what it committed survives intact."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from probe_agent.store import open_db
from probe_agent.store.maintenance import check
from probe_agent.store.queries import fold_states

FLUSH_INTERVAL = 0.1

CHILD = textwrap.dedent(
    """
    import sys, time
    from probe_agent.model import Outcome, ProbeResult
    from probe_agent.store import StoreWriter

    writer = StoreWriter(sys.argv[1], flush_interval=float(sys.argv[2]))
    writer.start()
    i = 0
    while True:
        # detail carries the wall-clock submit time, so the parent can tell how recent the last commit was.
        r = ProbeResult(ts_ms=1_000_000 + i, agent="ams", endpoint="api", outcome=Outcome.UP,
                        latency_ms=1.0, detail=repr(time.time()))
        writer.submit([r], fold_states={("ams", "api"): {"last_i": i}})
        if i == 200:
            writer.flush()
            print("ready", flush=True)
        i += 1
        time.sleep(0.0005)
    """
)


@pytest.mark.slow
@pytest.mark.fault(
    "kill -9 of the store writer mid-batch", expected="at most the last flush interval lost, integrity ok"
)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_loses_at_most_the_last_flush_interval(db_path: Path) -> None:
    args = [sys.executable, "-c", CHILD, str(db_path), str(FLUSH_INTERVAL)]
    with subprocess.Popen(args, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(0.7)
            killed_at = time.time()
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=10) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()

    report = check(db_path)
    assert report["ok"], report["integrity"]

    conn = open_db(db_path, readonly=True)
    rows = conn.execute("SELECT ts_ms, detail FROM results ORDER BY ts_ms").fetchall()
    folds = fold_states(conn)
    conn.close()
    indexes = [ts - 1_000_000 for ts, _ in rows]
    assert indexes == list(range(len(indexes))), "committed rows must be a gap-free prefix of what was submitted"
    assert len(indexes) > 200
    # The fold state committed with the results it came from: never ahead, never behind.
    assert folds == {("ams", "api"): {"last_i": indexes[-1]}}
    last_submitted_at = float(rows[-1][1])
    # Lost: at most what was submitted during the last flush interval (plus commit time and scheduling slack).
    assert killed_at - last_submitted_at < FLUSH_INTERVAL + 0.4, killed_at - last_submitted_at
