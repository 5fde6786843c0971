"""Benchmark of ``probe-agent import`` (not a test): wall time and peak RSS of importing a big result file.

The file is what ``export`` writes (JSON Lines in the result schema, ``ProbeResult.to_json_line``): ``--lines``
results (1,000,000 by default) of ``--endpoints`` endpoints (1,000) probed every 60 s, one endpoint after another
per minute, so each endpoint has ``lines / endpoints`` results. Most are up with an http probe's latency and phases;
each endpoint has a few short outages (down, timeout) and a degraded stretch, so the fold closes intervals and the
summary lists outages. The config names every endpoint (tcp to 127.0.0.1:9, never probed here).

Measured, each as its own ``python -m probe_agent import`` subprocess into a fresh SQLite file (WAL,
synchronous=FULL, as ``import`` opens it), the child's wall time, its CPU time (user + system: on a shared machine
the steadier figure) and its own peak RSS (``os.wait4``'s rusage of that child alone, so the second figure is not
the first one's maximum):
1. a first import into an empty database;
2. a re-import of the same file (every result already stored: all skipped, the timelines re-folded for the summary).
Both must end with exit status 0; the bench checks the summary's counts.

    .venv/bin/python bench/bench_import.py
    .venv/bin/python bench/bench_import.py --lines 100000 --endpoints 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_block

from probe_agent.model import ErrorKind, Outcome, ProbeResult

AGENT = "bench-imp"
INTERVAL_MS = 60_000
T0_MS = 1_790_000_000_000  # an arbitrary fixed epoch (2026-09): reruns write the same file


def result_at(rng: random.Random, endpoint: str, ts_ms: int, k: int, outage_at: set[int]) -> ProbeResult:
    """The ``k``-th result of ``endpoint``: down in its outages (``outage_at``), degraded-slow now and then."""
    if k in outage_at:
        return ProbeResult(
            ts_ms, AGENT, endpoint, Outcome.DOWN, 5000.0, None, ErrorKind.READ_TIMEOUT, "timed out after 5000 ms"
        )
    latency = rng.lognormvariate(3.0, 0.5)
    phases = {"dns": round(latency * 0.05, 3), "connect": round(latency * 0.2, 3), "first_byte": round(latency, 3)}
    outcome = Outcome.DEGRADED if latency > 120 else Outcome.UP
    return ProbeResult(ts_ms, AGENT, endpoint, outcome, round(latency, 3), 200, None, "", phases)


def write_file(path: Path, lines: int, endpoints: int) -> None:
    rng = random.Random(14)
    per = lines // endpoints
    ids = [f"ep{i:05d}" for i in range(endpoints)]
    # A few outages of 5 probes per endpoint (confirm is 3 by default: each is a confirmed outage).
    outages = {ep: {s + j for s in rng.sample(range(per - 5), min(3, max(per - 5, 0))) for j in range(5)} for ep in ids}
    with path.open("w", encoding="utf-8") as out:
        for k in range(per):
            for i, ep in enumerate(ids):
                ts = T0_MS + k * INTERVAL_MS + i * (INTERVAL_MS // endpoints)
                out.write(result_at(rng, ep, ts, k, outages[ep]).to_json_line())
                out.write("\n")


def write_config(path: Path, db: Path, endpoints: int) -> None:
    eps = [{"id": f"ep{i:05d}", "tcp": "127.0.0.1:9", "interval": "60s"} for i in range(endpoints)]
    path.write_text(json.dumps({"agent": {"id": AGENT, "database": str(db), "timezone": "UTC"}, "endpoints": eps}))


def run_import(config: Path, data: Path) -> tuple[float, float, float, dict[str, object]]:
    """One import as a subprocess: (wall s, CPU s, peak RSS MB of that child, its JSON summary)."""
    cmd = [sys.executable, "-m", "probe_agent", "import", str(data), "-c", str(config), "--format", "json"]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"import failed ({child.returncode}): {err.read().decode()[-2000:]}")
        summary = json.loads(out.read())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, summary  # ru_maxrss: KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=1_000)
    args = parser.parse_args()
    print(machine_block(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data, config, db = Path(tmp) / "results.jsonl", Path(tmp) / "probe-agent.yaml", Path(tmp) / "bench.db"
        started = time.perf_counter()
        write_file(data, args.lines, args.endpoints)
        write_config(config, db, args.endpoints)
        lines = args.lines // args.endpoints * args.endpoints
        size = data.stat().st_size / 1e6
        print(f"\nwrote {lines:,} results ({size:,.0f} MB) in {time.perf_counter() - started:.1f} s", flush=True)
        rows = []
        for run, expect_imported in (("first import", lines), ("re-import", 0)):
            wall, cpu, rss, summary = run_import(config, data)
            if summary.get("read") != lines or summary.get("imported") != expect_imported:
                raise SystemExit(f"{run}: unexpected summary {dict(list(summary.items())[:4])}")
            rows.append((run, wall, cpu, rss, lines / wall))
            print(f"{run}: {wall:.1f} s (CPU {cpu:.1f} s), peak RSS {rss:.0f} MB", flush=True)
        print(f"\nimport of {lines:,} lines ({args.endpoints:,} endpoints, {size:,.0f} MB of JSON Lines)\n")
        print("| run | wall | CPU | peak RSS | results/s (wall) | the issue's bound |")
        print("| --- | --- | --- | --- | --- | --- |")
        for run, wall, cpu, rss, rate in rows:
            print(f"| {run} | {wall:.1f} s | {cpu:.1f} s | {rss:.0f} MB | {rate:,.0f} | < 60 s, < 200 MB |")
        print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
