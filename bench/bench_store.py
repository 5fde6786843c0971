"""Benchmark of the store writer (not a test): rows/s through StoreWriter, the caller's cost, commit latency.

Submissions are what the daemon's workers submit per probe: one result, the intervals it closed, and the fold's
new snapshot (``EndpointWorker.probe_once``). They are made beforehand by real ``TimelineFold``s over results of
``--endpoints`` endpoints 10 s apart, in two mixes:
- ``steady``: every result up: no interval closes, so 2 rows per submission (result + fold state upsert);
- ``flapping``: up and degraded alternate: every result closes an interval, 3 rows per submission.

Measured, each into a fresh SQLite file (WAL, synchronous=FULL, as the daemon opens it):
1. throughput: every submission handed over as fast as one thread can, then ``flush()``; rows/s from the first
   ``submit`` to the flush returning, the writer's own batching (``batch_max`` 5,000 rows) deciding commit sizes.
   Also the caller's cost per ``submit`` (on the event loop), and the fold's cost per result (``feed`` +
   ``snapshot_json``, the snapshot's JSON text the daemon submits) while the submissions were made.
2. commit latency: batches of a fixed number of submissions, each forced out by ``flush()``; the writer's own
   ``last_commit_s`` per batch (BEGIN IMMEDIATE .. COMMIT, fsync included). At 1,000 probes/s with the default
   ``flush_interval`` of 0.25 s, a batch is ~250 submissions.

    .venv/bin/python bench/bench_store.py
    .venv/bin/python bench/bench_store.py --endpoints 2000 --rounds 100 --repeats 30
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import machine_block

from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import Outcome, ProbeResult, StateInterval
from probe_agent.store.writer import StoreWriter

AGENT = "bench"
INTERVAL_MS = 10_000
T0_MS = 1_790_000_000_000  # an arbitrary fixed epoch (2026-09): reruns write the same rows
MIXES = ("steady", "flapping")


@dataclass(frozen=True)
class Submission:
    results: list[ProbeResult]
    intervals: list[StateInterval]
    fold_states: dict[tuple[str, str], str]

    @property
    def rows(self) -> int:
        return len(self.results) + len(self.intervals) + len(self.fold_states)


@dataclass(frozen=True)
class Throughput:
    mix: str
    submissions: int
    rows: int
    elapsed_s: float
    submit_us: float  # caller's time per submit() call
    fold_us: float  # TimelineFold.feed + snapshot per result, while preparing
    commits: int
    db_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed_s


@dataclass(frozen=True)
class CommitLatency:
    submissions: int
    rows: int
    p50_ms: float
    p90_ms: float
    max_ms: float


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list; NaN for an empty list."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


def make_submissions(mix: str, endpoints: int, rounds: int, first_round: int = 0) -> tuple[list[Submission], float]:
    """Round-robin over the endpoints, ``rounds`` results each, through real folds; also the fold's us/result."""
    params = FoldParams(interval_ms=INTERVAL_MS, grace_ms=5_000, confirm=3)
    folds = [TimelineFold(AGENT, f"ep-{i:05d}", params) for i in range(endpoints)]
    out: list[Submission] = []
    fold_s = 0.0
    for k in range(first_round, first_round + rounds):
        outcome = Outcome.DEGRADED if mix == "flapping" and k % 2 else Outcome.UP
        for i, fold in enumerate(folds):
            # Endpoints spread over the interval, as the scheduler's phases spread them.
            ts = T0_MS + k * INTERVAL_MS + (i * INTERVAL_MS) // endpoints
            result = ProbeResult(ts, AGENT, fold.endpoint, outcome, latency_ms=1.25, status_code=200, detail="HTTP 200")
            started = time.perf_counter()
            closed = fold.feed(result)
            snapshot = fold.snapshot_json()  # as the daemon's worker hands it over: the JSON text
            fold_s += time.perf_counter() - started
            out.append(Submission([result], closed, {(AGENT, fold.endpoint): snapshot}))
    return out, 1e6 * fold_s / max(len(out), 1)


def measure_throughput(mix: str, workdir: Path, endpoints: int, rounds: int) -> Throughput:
    # The first round only opens each endpoint's timeline (no interval can close yet): left out of the timing.
    submissions, fold_us = make_submissions(mix, endpoints, rounds + 1)
    warm, timed = submissions[:endpoints], submissions[endpoints:]
    db = workdir / f"throughput-{mix}.db"
    writer = StoreWriter(db)
    writer.start()
    try:
        for s in warm:
            writer.submit(s.results, s.intervals, s.fold_states, run_id=None)
        writer.flush(60)
        commits0 = writer.stats.batches_committed
        submit_s = 0.0
        started = time.perf_counter()
        for s in timed:
            t = time.perf_counter()
            writer.submit(s.results, s.intervals, s.fold_states, run_id=None)
            submit_s += time.perf_counter() - t
        writer.flush(120)
        elapsed = time.perf_counter() - started
        commits = writer.stats.batches_committed - commits0
    finally:
        writer.close(60)
    return Throughput(
        mix=mix,
        submissions=len(timed),
        rows=sum(s.rows for s in timed),
        elapsed_s=elapsed,
        submit_us=1e6 * submit_s / len(timed),
        fold_us=fold_us,
        commits=commits,
        db_mb=db.stat().st_size / 1e6,
    )


def measure_commits(workdir: Path, endpoints: int, batch_sizes: list[int], repeats: int) -> list[CommitLatency]:
    """Flapping mix (3 rows per submission); one fresh file for all sizes, so later sizes see a larger file."""
    writer = StoreWriter(workdir / "commits.db")
    writer.start()
    out: list[CommitLatency] = []
    next_round = 0
    try:
        for size in batch_sizes:
            rounds = math.ceil(size * repeats / endpoints) + 2
            made, _ = make_submissions("flapping", endpoints, rounds, first_round=next_round)
            next_round += rounds
            # Fresh folds: an interval closes one result late, so the first two rounds are not yet 3 rows each.
            submissions = made[2 * endpoints :]
            durations: list[float] = []
            rows = 0
            for r in range(repeats):
                batch = submissions[r * size : (r + 1) * size]
                rows = sum(s.rows for s in batch)
                for s in batch:
                    writer.submit(s.results, s.intervals, s.fold_states, run_id=None)
                writer.flush(60)
                last = writer.stats.last_commit_s
                assert last is not None
                durations.append(1000 * last)
            durations.sort()
            out.append(CommitLatency(size, rows, percentile(durations, 0.5), percentile(durations, 0.9), durations[-1]))
    finally:
        writer.close(60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=1000, help="distinct endpoints (fold states upserted)")
    parser.add_argument("--rounds", type=int, default=60, help="results per endpoint in the throughput runs")
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[10, 100, 250, 1000, 1666],
        help="submissions per forced commit (1666 x 3 rows stays under batch_max 5,000)",
    )
    parser.add_argument("--repeats", type=int, default=50, help="commits measured per batch size")
    parser.add_argument("--workdir", default=None, help="where the temp SQLite files go (default: the system temp)")
    args = parser.parse_args()
    print("machine:")
    print(machine_block())
    print(f"{args.endpoints} endpoints, results {INTERVAL_MS // 1000} s apart; StoreWriter defaults (batch_max 5000)")
    with tempfile.TemporaryDirectory(prefix="store-bench-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        print("\nthroughput (submit as fast as one thread can, then flush):")
        header = (
            f"{'mix':>9} {'subs':>7} {'rows':>7} {'rows/sub':>8} {'seconds':>7} {'rows/s':>8} {'subs/s':>8} "
            f"{'commits':>7} {'submit us':>9} {'fold us':>7} {'db MB':>6}"
        )
        print(header)
        throughputs = []
        for mix in MIXES:
            t = measure_throughput(mix, workdir, args.endpoints, args.rounds)
            throughputs.append(t)
            print(
                f"{t.mix:>9} {t.submissions:>7} {t.rows:>7} {t.rows / t.submissions:>8.1f} {t.elapsed_s:>7.2f} "
                f"{t.rows_per_s:>8.0f} {t.submissions / t.elapsed_s:>8.0f} {t.commits:>7} {t.submit_us:>9.1f} "
                f"{t.fold_us:>7.1f} {t.db_mb:>6.1f}"
            )
            sys.stdout.flush()
        print("\ncommit latency (flapping mix, one batch per flush; the writer's own BEGIN..COMMIT time):")
        print(f"{'subs/batch':>10} {'rows':>6} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'rows/s in commit':>16}")
        latencies = measure_commits(workdir, args.endpoints, args.batches, args.repeats)
        for c in latencies:
            print(
                f"{c.submissions:>10} {c.rows:>6} {c.p50_ms:>8.2f} {c.p90_ms:>8.2f} {c.max_ms:>8.2f} "
                f"{1000 * c.rows / c.p50_ms:>16.0f}"
            )
    print("\nmarkdown:\n")
    print("| mix | rows/submission | rows/s | submissions/s | commits | submit() us | fold us/result |")
    print("|---|---|---|---|---|---|---|")
    for t in throughputs:
        print(
            f"| {t.mix} | {t.rows / t.submissions:.1f} | {t.rows_per_s:,.0f} | {t.submissions / t.elapsed_s:,.0f} "
            f"| {t.commits} | {t.submit_us:.1f} | {t.fold_us:.1f} |"
        )
    print("\n| submissions/commit | rows | commit p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    for c in latencies:
        print(f"| {c.submissions:,} | {c.rows:,} | {c.p50_ms:.2f} | {c.p90_ms:.2f} | {c.max_ms:.2f} |")


if __name__ == "__main__":
    main()
