"""``report`` for 1,000 endpoints over a 30-day cycle: the time from the store to the finished report document.

The database holds the timeline that 30 days of 60-second probes of 1,000 endpoints produce (43.2 million
results' worth): per endpoint, coalesced state intervals with about 10 confirmed outages (1-30 minutes each),
one crash gap (no_data) and one unknown span, plus 60 days of older history that the query must skip. Raw results
are not generated: reports read intervals (and, for objectives, rollups), never raw results.

For the rows with a latency objective it also holds the rollups those 43.2 million results would have: 30 days x
1,000 endpoints of complete hourly rollups (60 results an hour, latencies drawn from one of 20 log-normal profiles
per endpoint, a few down results), stored through ``store.rollups.store_hour``, the code a rebuild writes with,
so the bench reads the real format, and the daily rollups built from them as the daemon's rollup job builds them.

Measured: ``build_report`` (intervals query + open folds + evaluate + the document) for one SLA covering all
1,000 endpoints in 10 services, time counting and 1-minute slices, then time counting with a latency (p99) and an
error-rate objective, over the UTC month and over the month in America/New_York (which starts and ends at 04:00
UTC, so partial days at both edges); the median of 3 runs is the figure.

    .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine_block

from probe_agent.config.document import Config
from probe_agent.latency import LatencyHistogram
from probe_agent.model import HOUR_MS, State, StateInterval
from probe_agent.reports.build import build_report
from probe_agent.reports.scope import sla_period
from probe_agent.store import records
from probe_agent.store.rollup_reads import rollup_sums
from probe_agent.store.rollups import build_missing_days, store_hour
from probe_agent.store.rows import RollupSums
from probe_agent.store.schema import open_db

ENDPOINTS = 1000
SERVICES = 10
DAY = 86_400_000
CYCLE_START = 1_788_220_800_000  # 2026-09-01T00:00:00Z
CYCLE_END = CYCLE_START + 30 * DAY
HISTORY_START = CYCLE_START - 60 * DAY


def endpoint_intervals(endpoint: str, rng: random.Random) -> list[StateInterval]:
    """Up spans broken by ~10 outages a month, one crash gap and one unknown span, from HISTORY_START to CYCLE_END."""
    events: list[tuple[int, int, State, str | None]] = []
    t = HISTORY_START
    while t < CYCLE_END:
        t += rng.randint(2 * 3600_000, 6 * DAY)
        kind = rng.random()
        length = rng.randint(60_000, 30 * 60_000)
        if kind < 0.8:
            events.append((t, t + length, State.DOWN, "http_status"))
        elif kind < 0.9:
            events.append((t, t + length, State.NO_DATA, None))
        else:
            events.append((t, t + length, State.UNKNOWN, "controls_failed"))
        t += length
    out: list[StateInterval] = []
    cursor = HISTORY_START
    for start, end, state, cause in events:
        start, end = min(start, CYCLE_END), min(end, CYCLE_END)
        if start > cursor:
            out.append(StateInterval("bench-1", endpoint, cursor, start, State.UP))
        if end > start:
            outage = start if state is State.DOWN else None
            out.append(StateInterval("bench-1", endpoint, start, end, state, cause, outage))
        cursor = max(cursor, end)
    if cursor < CYCLE_END:
        out.append(StateInterval("bench-1", endpoint, cursor, CYCLE_END, State.UP))
    return out


def build_db(path: Path) -> int:
    rng = random.Random(7)
    conn = open_db(path)
    total = 0
    for i in range(ENDPOINTS):
        ivs = endpoint_intervals(f"ep{i:04d}", rng)
        records.import_batch(conn, intervals=ivs, now_ms=CYCLE_END)
        total += len(ivs)
    conn.close()
    return total


PROFILES = 20
POOL = 50  # hour histograms drawn per profile; each (endpoint, hour) picks one


def hour_pool(rng: random.Random) -> list[list[LatencyHistogram]]:
    """Per latency profile, POOL hours of 60 latencies each: log-normal around a median of 2-300 ms."""
    pools = []
    for p in range(PROFILES):
        median = 2 * 150 ** (p / (PROFILES - 1))
        sigma = 0.2 + 0.4 * rng.random()
        pools.append(
            [LatencyHistogram.of(median * rng.lognormvariate(0, sigma) for _ in range(60)) for _ in range(POOL)]
        )
    return pools


def build_rollups(path: Path) -> int:
    """Complete hourly rollups of every endpoint over the cycle (UTC), stored one hour at a time, then the days."""
    rng = random.Random(11)
    pools = hour_pool(rng)
    conn = open_db(path)
    # Only the build is sped up (no fsync per hour, a cache that holds the rollups' B-tree, whose rows arrive one
    # hour across every endpoint at a time); the rows are what the production code writes.
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    for hour_ms in range(CYCLE_START, CYCLE_END, HOUR_MS):
        sums = {}
        for i in range(ENDPOINTS):
            hist = LatencyHistogram(dict(rng.choice(pools[i % PROFILES]).counts))
            down = 1 if rng.random() < 0.02 else 0
            sums[("bench-1", f"ep{i:04d}", hour_ms)] = RollupSums(hist.total - down, 0, down, 0, 0, hist)
        store_hour(conn, hour_ms, sums)
    build_missing_days(conn, CYCLE_END)  # what the daemon's hourly rollup job does once a day's hours are complete
    conn.close()
    return (CYCLE_END - CYCLE_START) // HOUR_MS * ENDPOINTS


def config(db: Path, counting: str, *, objectives: bool = False, zone: str = "UTC") -> Config:
    per = ENDPOINTS // SERVICES
    extra: dict[str, object] = {}
    if objectives:
        extra["objectives"] = {"latency": {"percentile": 99, "below": "500ms"}, "error_rate": {"below": "1%"}}
    return Config.model_validate(
        {
            "agent": {"id": "bench-1", "database": str(db), "timezone": "UTC"},
            "endpoints": [{"id": f"ep{i:04d}", "tcp": "127.0.0.1:9"} for i in range(ENDPOINTS)],
            "services": [
                {"id": f"svc{s}", "endpoints": [f"ep{i:04d}" for i in range(s * per, (s + 1) * per)]}
                for s in range(SERVICES)
            ],
            "slas": [
                {
                    "id": "fleet",
                    "services": [f"svc{s}" for s in range(SERVICES)],
                    "target": "99.9%",
                    "cycle": {"period": "monthly", "anchor_day": 1, "timezone": zone},
                    "counting": {"method": counting, "unit": "1m"},
                    "credits": {"fee": "1200.00", "tiers": [{"below": "99.9%", "credit": "10%"}]},
                    **extra,
                }
            ],
        }
    )


def main() -> None:
    print(machine_block())
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        n = build_db(db)
        print(f"\nbuilt {n:,} intervals for {ENDPOINTS:,} endpoints (90 days) in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        n = build_rollups(db)
        print(
            f"built {n:,} hourly rollups (30 days x {ENDPOINTS:,} endpoints) and their days "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        now = CYCLE_END + DAY
        rows = [
            ("counting=time", config(db, "time")),
            ("counting=slices", config(db, "slices")),
            ("counting=time + latency objective", config(db, "time", objectives=True)),
            (
                "counting=time + latency objective, America/New_York",
                config(db, "time", objectives=True, zone="America/New_York"),
            ),
        ]
        for label, cfg in rows:
            sla = cfg.slas[0]
            period = sla_period(cfg, sla, now, cycle="2026-09")
            timings, reads = [], []
            doc: dict[str, object] = {}
            for _ in range(3):
                conn = open_db(db, readonly=True)
                t0 = time.perf_counter()
                doc = build_report(conn, cfg, sla, period, now).doc
                timings.append(time.perf_counter() - t0)
                if sla.objectives.latency is not None:  # the objectives' own read, timed alone
                    t0 = time.perf_counter()
                    rollup_sums(conn, period.start_ms, min(now, period.end_ms), [e.id for e in cfg.endpoints])
                    reads.append(time.perf_counter() - t0)
                conn.close()
            print(
                f"report, {ENDPOINTS:,} endpoints x 30 days, {label}: "
                f"median {statistics.median(timings):.2f} s "
                f"(runs: {', '.join(f'{t:.2f}' for t in timings)}); availability {doc['availability_percent']}%, "
                f"{len(doc['incidents']):,} incidents"  # type: ignore[arg-type]
                + (f"; of which rollup_sums alone: median {statistics.median(reads):.2f} s" if reads else "")
                + (f"; objectives {json.dumps(doc['objectives'])}" if doc.get("objectives") else "")
            )


if __name__ == "__main__":
    main()
