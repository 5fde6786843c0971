"""``report`` for 1,000 endpoints over a 30-day cycle: the time from the store to the finished report document.

The database holds the timeline that 30 days of 60-second probes of 1,000 endpoints produce (43.2 million
results' worth): per endpoint, coalesced state intervals with about 10 confirmed outages (1-30 minutes each),
one crash gap (no_data) and one unknown span, plus 60 days of older history that the query must skip. Raw results
are not generated: reports read intervals (and, for objectives, rollups), never raw results.

Measured: ``build_report`` (intervals query + open folds + evaluate + the document) for one SLA covering all
1,000 endpoints in 10 services, time counting and 1-minute slices; the median of 3 runs is the figure.

    .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

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
from probe_agent.model import State, StateInterval
from probe_agent.reports.build import build_report
from probe_agent.reports.scope import sla_period
from probe_agent.store import records
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


def config(db: Path, counting: str) -> Config:
    per = ENDPOINTS // SERVICES
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
                    "cycle": {"period": "monthly", "anchor_day": 1, "timezone": "UTC"},
                    "counting": {"method": counting, "unit": "1m"},
                    "credits": {"fee": "1200.00", "tiers": [{"below": "99.9%", "credit": "10%"}]},
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
        now = CYCLE_END + DAY
        for counting in ("time", "slices"):
            cfg = config(db, counting)
            sla = cfg.slas[0]
            period = sla_period(cfg, sla, now, cycle="2026-09")
            timings = []
            doc: dict[str, object] = {}
            for _ in range(3):
                conn = open_db(db, readonly=True)
                t0 = time.perf_counter()
                doc = build_report(conn, cfg, sla, period, now).doc
                timings.append(time.perf_counter() - t0)
                conn.close()
            print(
                f"report, {ENDPOINTS:,} endpoints x 30 days, counting={counting}: "
                f"median {statistics.median(timings):.2f} s "
                f"(runs: {', '.join(f'{t:.2f}' for t in timings)}); availability {doc['availability_percent']}%, "
                f"{len(doc['incidents']):,} incidents"  # type: ignore[arg-type]
            )


if __name__ == "__main__":
    main()
