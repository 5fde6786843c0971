"""Benchmark of ``probe-agent import`` (not a test): wall time and peak RSS of importing a big result file.

The file is what ``export`` writes (JSON Lines in the result schema, ``ProbeResult.to_json_line``): ``--lines``
results (1,000,000 by default) of ``--endpoints`` endpoints (1,000) probed every 60 s, one endpoint after another
per minute, so each endpoint has ``lines / endpoints`` results. Most are up with an http probe's latency and phases;
each endpoint has a few short outages (down, timeout) and a degraded stretch, so the fold closes intervals and the
summary lists outages. The config names every endpoint (tcp to 127.0.0.1:9, never probed here).

Measured, each as its own ``python -m probe_agent import`` subprocess into a fresh SQLite file (WAL,
synchronous=FULL, as ``import`` opens it), the child's wall time, its CPU time (user + system: on a shared machine
the steadier figure) and its own peak RSS (``os.wait4``'s rusage of that child alone, so the second figure is not
the first one's maximum), and the same for its parsing workers (a big file is parsed by one process per core;
they are children of multiprocessing's forkserver, so the bench samples them from /proc every 0.25 s):
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
from dataclasses import dataclass, field
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


@dataclass
class Descendants:
    """CPU seconds and peak RSS of a process's descendants (the parsing workers: children of multiprocessing's
    forkserver, which the import process never waits for, so its rusage leaves them out), sampled from /proc."""

    cpu: dict[int, float] = field(default_factory=dict)  # pid -> its latest utime + stime
    rss_mb: float = 0.0

    def sample(self, root: int) -> None:
        parents: dict[int, int] = {}
        stats: dict[int, list[str]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)], stats[int(entry)] = int(fields[1]), fields
        tick = os.sysconf("SC_CLK_TCK")
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        for pid, fields in stats.items():
            up = parents.get(pid)
            while up is not None and up != root and up > 1:
                up = parents.get(up)
            if up == root:
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
                self.rss_mb = max(self.rss_mb, int(fields[21]) * page_mb)


def run_import(config: Path, data: Path) -> tuple[float, float, float, Descendants, dict[str, object]]:
    """One import as a subprocess: (wall s, CPU s, peak RSS MB of that process, its descendants, JSON summary)."""
    cmd = [sys.executable, "-m", "probe_agent", "import", str(data), "-c", str(config), "--format", "json"]
    started = time.perf_counter()
    workers = Descendants()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        while True:
            _pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if _pid:
                break
            workers.sample(child.pid)
            time.sleep(0.25)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"import failed ({child.returncode}): {err.read().decode()[-2000:]}")
        summary = json.loads(out.read())
    # ru_maxrss: KiB on Linux
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, workers, summary


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
            wall, cpu, rss, workers, summary = run_import(config, data)
            if summary.get("read") != lines or summary.get("imported") != expect_imported:
                raise SystemExit(f"{run}: unexpected summary {dict(list(summary.items())[:4])}")
            rows.append((run, wall, cpu, rss, sum(workers.cpu.values()), len(workers.cpu), workers.rss_mb))
            print(f"{run}: {wall:.1f} s (CPU {cpu:.1f} s), peak RSS {rss:.0f} MB", flush=True)
        print(f"\nimport of {lines:,} lines ({args.endpoints:,} endpoints, {size:,.0f} MB of JSON Lines)\n")
        print("| run | wall | CPU: import process | CPU: its workers | peak RSS: import | peak RSS: a worker |")
        print("| --- | --- | --- | --- | --- | --- |")
        for run, wall, cpu, rss, worker_cpu, n, worker_rss in rows:
            helpers = f"{worker_cpu:.1f} s ({n} processes)" if n else "none"
            print(f"| {run} | {wall:.1f} s | {cpu:.1f} s | {helpers} | {rss:.0f} MB | {worker_rss:.0f} MB |")
        print("\nthe issue's bound: under 60 s and 200 MB on a 2-core machine")
        print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
