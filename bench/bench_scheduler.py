"""Benchmark of the monotonic probe scheduler (not a test): how many dispatches a second, how late, at what CPU.

Runs N endpoints with a no-op probe (or one that sleeps ``--probe-sleep`` seconds) at ``--interval`` for
``--seconds``, for each N in ``--endpoints``, and prints dispatches/s, lateness p50/p99/max, queue wait p99 and
the CPU used by the process, with the machine it ran on. Compare numbers from one run only (reruns vary ~30 %).

    .venv/bin/python bench/bench_scheduler.py                    # 10,000 and 1,000 endpoints, 10 s, ~30 s each
    .venv/bin/python bench/bench_scheduler.py --endpoints 50000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time

from probe_agent.agent.scheduler import ProbeScheduler, ScheduledEndpoint


def machine() -> str:
    return (
        f"{platform.platform()} | {platform.machine()} | cpus={os.cpu_count()} | "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


async def one_run(endpoints: int, interval_s: float, seconds: float, probe_sleep_s: float) -> dict[str, float]:
    async def probe() -> float | None:
        if probe_sleep_s > 0:
            await asyncio.sleep(probe_sleep_s)
        return None

    # Every dispatch of the run stays in the stats window, so the percentiles cover the whole run.
    window = int(endpoints * (seconds / interval_s + 2))
    scheduler = ProbeScheduler(max_concurrency=max(endpoints, 1), per_host_limit=1, stats_window=window)
    for i in range(endpoints):
        scheduler.add(ScheduledEndpoint(key=f"bench-endpoint-{i}", interval_s=interval_s, host=None, run=probe))
    cpu0, wall0 = time.process_time(), time.monotonic()
    loop_task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    stats = scheduler.snapshot()
    cpu1, wall1 = time.process_time(), time.monotonic()
    await scheduler.stop(5.0)
    await loop_task
    elapsed = wall1 - wall0
    return {
        "dispatched": stats.dispatched,
        "per_s": stats.dispatched / elapsed,
        "p50": stats.lateness.p50_ms or 0.0,
        "p99": stats.lateness.p99_ms or 0.0,
        "max": stats.lateness.max_ms or 0.0,
        "wait_p99": stats.queue_wait.p99_ms or 0.0,
        "cpu_pct": 100.0 * (cpu1 - cpu0) / elapsed,
        "us_per_dispatch": 1e6 * (cpu1 - cpu0) / max(stats.dispatched, 1),
        "skipped": stats.skipped_slots,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, nargs="+", default=[10_000, 1_000])
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between probes of one endpoint")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--probe-sleep", type=float, default=0.0, help="seconds each probe sleeps (0: no-op)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"interval {args.interval} s, {args.seconds} s per run, probe sleeps {args.probe_sleep} s")
    header = (
        f"{'endpoints':>9} {'dispatched':>10} {'disp/s':>8} {'late p50':>9} {'late p99':>9} {'late max':>9} "
        f"{'wait p99':>9} {'cpu %':>6} {'us/disp':>8} {'skipped':>7}"
    )
    print(header)
    for n in args.endpoints:
        r = asyncio.run(one_run(n, args.interval, args.seconds, args.probe_sleep))
        print(
            f"{n:>9} {r['dispatched']:>10.0f} {r['per_s']:>8.1f} {r['p50']:>7.2f}ms {r['p99']:>7.2f}ms "
            f"{r['max']:>7.2f}ms {r['wait_p99']:>7.2f}ms {r['cpu_pct']:>6.1f} {r['us_per_dispatch']:>8.1f} "
            f"{r['skipped']:>7}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
