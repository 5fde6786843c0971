"""Benchmark of the daemon's probing path (not a test): probes/s, schedule lateness, probe latency and CPU.

For each scenario ``N x interval`` it runs the real ``Daemon`` (probe_agent/agent/daemon.py) in this process,
built from a generated config file: ProbeScheduler -> EndpointWorker -> ``run_probe`` (http, a fresh connection
per probe) -> controls rule -> TimelineFold -> StoreWriter into a real SQLite file in a temp dir, plus the
daemon's heartbeats and calendar jobs. The target answers 200 "ok" on every path on 127.0.0.1: by default a
throwaway nginx (nginx_target.py, ``worker_processes 1``) when it is installed, else, or with ``--target aiohttp``,
one aiohttp server in a separate process (loopback_target.py). All endpoints share that one host, so the config sets
``per_host_limit`` equal to ``max_concurrency``: only the global limit binds, as with many distinct hosts.

After a warm-up (the daemon's start-up and the first slots are left out) it measures for ``--seconds``:
- probes/s: stored results whose ts falls in the window, per second, against the target rate N / interval;
- lateness from the scheduler's stats (dispatch - due; over its last 10,000 dispatches) and its queue wait
  (dispatch -> start, waiting for a concurrency slot), and "start lateness" recomputed from the stored results
  (probe start - grid slot, every grid probe in the window; re-checks left out);
- probe latency p50/p99 from the stored results (what the SLA's latency objective would read);
- the store writer's commits and rows, and the agent process's CPU (all its threads) over wall time.

Verdicts: "saturated" when the agent lost data: achieved < 95 % of target, results other than up from a healthy
target, or timeline spans other than up (a probe that starts later than its grace leaves a no_data gap);
"strained" when it kept the rate but start lateness p99 > 100 ms or the agent's CPU > 50 % (the design's bound:
past it the client's own queueing shows up as the target's latency); else "kept up". Compare figures from one run
only (reruns vary ~30 %).

    .venv/bin/python bench/bench_probes.py                              # 1000x10, 10000x30, 10000x10
    .venv/bin/python bench/bench_probes.py --scenarios 2000x10 --seconds 20
    .venv/bin/python bench/bench_probes.py --target aiohttp             # the aiohttp target even with nginx
    .venv/bin/python bench/bench_probes.py --scenarios 10000x10 --loop uvloop   # on uvloop (the extra installed)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loopback_target import LoopbackTarget
from machine import machine_block
from nginx_target import INSTALL_HINT, NginxTarget, nginx_binary

from probe_agent.agent import eventloop
from probe_agent.agent.daemon import Daemon
from probe_agent.agent.probe_workers import ProbeWorkers
from probe_agent.agent.scheduler import SchedulerStats, phase_offset
from probe_agent.config import load_config
from probe_agent.model import Outcome, State
from probe_agent.store.queries import intervals_overlapping, iter_results
from probe_agent.store.schema import open_db

# A result's ts is its wall-clock start truncated to whole ms, so it can read up to 1 ms before its grid slot.
SLOT_TOLERANCE_S = 0.002


@dataclass(frozen=True)
class Scenario:
    endpoints: int
    interval_s: float

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """``1000x10``: 1,000 endpoints every 10 s."""
        count, _, interval = text.lower().partition("x")
        scenario = cls(int(count), float(interval))
        if scenario.endpoints < 1 or not scenario.interval_s > 0:
            raise argparse.ArgumentTypeError(f"{text!r}: want ENDPOINTSxSECONDS, e.g. 1000x10")
        return scenario

    @property
    def target_rate(self) -> float:
        return self.endpoints / self.interval_s


@dataclass(frozen=True)
class StoredFigures:
    """Figures recomputed from the results stored with a ts in the measured window."""

    results: int
    not_up: int  # down, unknown and degraded results: on loopback each one is the client's own trouble
    latency_ms: tuple[float, float]  # p50, p99 over every result with a latency
    start_late_ms: tuple[float, float, float]  # p50, p99, max of probe start - grid slot (grid probes only)
    # Timeline spans other than up within the window: state -> (spans, endpoint-seconds). On a healthy target
    # each one is the agent's doing: a probe that started later than its grace leaves a no_data gap.
    not_up_spans: dict[str, tuple[int, float]]


@dataclass(frozen=True)
class Figures:
    scenario: Scenario
    window_s: float
    startup_s: float
    stop_s: float
    stored: StoredFigures
    dispatched: int
    sched: SchedulerStats  # at the end of the window
    gc_pauses: GcPauses
    max_waiting: int
    writer_commits: int
    writer_rows: int
    commit_ms_max: float  # largest ``last_commit_s`` seen while polling once a second
    max_queue_depth: int
    agent_cpu_pct: float  # this process and its probe processes (agent.workers > 1), in % of one core
    probe_processes: int
    workers_cpu_pct: float  # the probe processes' part of agent_cpu_pct (0 with workers: 1)
    server_cpu_pct: float
    server_req_s: float
    peak_rss_mb: float

    @property
    def achieved_rate(self) -> float:
        return self.stored.results / self.window_s

    def saturation(self) -> list[str]:
        """Why this run says the agent lost data (see the module doc); empty if it did not."""
        why = []
        if self.achieved_rate < 0.95 * self.scenario.target_rate:
            why.append(f"achieved {self.achieved_rate:.0f}/s < 95 % of {self.scenario.target_rate:.0f}/s")
        if self.stored.not_up > 0.001 * max(self.stored.results, 1):
            why.append(f"{self.stored.not_up} results not up on a healthy loopback target")
        if self.stored.not_up_spans:
            why.append("timeline spans other than up: " + describe_spans(self.stored.not_up_spans))
        return why

    def strain(self) -> list[str]:
        """Why this run says the agent was at its limit though it kept the rate; empty if it was not."""
        why = []
        if self.stored.start_late_ms[1] > 100:
            why.append(f"start lateness p99 {self.stored.start_late_ms[1]:.0f} ms > 100 ms")
        if self.agent_cpu_pct > 50:
            why.append(f"agent CPU {self.agent_cpu_pct:.0f} % > 50 %")
        return why

    def verdict(self) -> str:
        if saturated := self.saturation():
            return "SATURATED: " + "; ".join(saturated + self.strain())
        if strained := self.strain():
            return "strained: " + "; ".join(strained)
        return "kept up"


class GcPauses:
    """A ``gc.callbacks`` hook: how long each collection stopped the process (every thread: it holds the GIL)."""

    def __init__(self) -> None:
        self._started = 0.0
        self.pauses_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}  # generation -> pause per collection

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms[info["generation"]].append(1000 * (time.perf_counter() - self._started))

    def describe(self) -> str:
        return ", ".join(
            f"gen{gen} {len(p)} x (max {max(p, default=0.0):.1f} ms, total {sum(p):.0f} ms)"
            for gen, p in self.pauses_ms.items()
        )


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (the scheduler's definition); NaN for an empty list."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


def describe_spans(spans: dict[str, tuple[int, float]]) -> str:
    return ", ".join(f"{state} {count} spans / {seconds:.1f} endpoint-s" for state, (count, seconds) in spans.items())


def write_config(
    workdir: Path, scenario: Scenario, target: LoopbackTarget | NginxTarget, concurrency: int, workers: str
) -> Path:
    """A config with N http endpoints on the loopback target and one tcp control on the same server."""
    lines = [
        "agent:",
        "  id: bench",
        f"  workers: {workers}",
        f"  database: {workdir / 'bench.db'}",
        f"  max_concurrency: {concurrency}",
        f"  per_host_limit: {min(concurrency, 1000)}",
        "  heartbeat: 5s",
        "  stop_timeout: 5s",
        "defaults:",
        f"  interval: {scenario.interval_s}",
        f"  timeout: {min(5000, int(scenario.interval_s * 500))}ms",  # must stay under the interval
        "controls:",
        "  - id: control-loopback",
        f"    tcp: 127.0.0.1:{target.port}",
        "endpoints:",
    ]
    for i in range(scenario.endpoints):
        name = f"ep-{i:05d}"
        lines += [f"  - id: {name}", f"    http: {target.url(name)}"]
    path = workdir / "bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored_figures(db: Path, start_ms: int, end_ms: int, interval_s: float, wall_minus_mono_s: float) -> StoredFigures:
    """Read back the window's results; "start lateness" maps each wall-clock ts onto the monotonic grid."""
    latencies: list[float] = []
    late: list[float] = []
    phases: dict[str, float] = {}
    results = not_up = 0
    conn = open_db(db, readonly=True)
    try:
        for r in iter_results(conn, start_ms=start_ms, end_ms=end_ms):
            results += 1
            if r.outcome is not Outcome.UP:
                not_up += 1
            if r.latency_ms is not None:
                latencies.append(r.latency_ms)
            if r.recheck:
                continue  # re-checks run off the grid, at finish + retry_interval
            phase = phases.get(r.endpoint)
            if phase is None:
                phase = phases[r.endpoint] = phase_offset(r.endpoint, interval_s)
            start_mono = r.ts_ms / 1000 - wall_minus_mono_s
            slot = phase + math.floor((start_mono - phase + SLOT_TOLERANCE_S) / interval_s) * interval_s
            late.append(max(start_mono - slot, 0.0) * 1000)
        spans: dict[str, tuple[int, float]] = {}
        for span in intervals_overlapping(conn, start_ms, end_ms):
            if span.state is not State.UP:
                count, seconds = spans.get(span.state.value, (0, 0.0))
                clipped_ms = min(span.end_ms, end_ms) - max(span.start_ms, start_ms)
                spans[span.state.value] = (count + 1, seconds + clipped_ms / 1000)
    finally:
        conn.close()
    latencies.sort()
    late.sort()
    return StoredFigures(
        results=results,
        not_up=not_up,
        latency_ms=(percentile(latencies, 0.5), percentile(latencies, 0.99)),
        start_late_ms=(percentile(late, 0.5), percentile(late, 0.99), late[-1] if late else math.nan),
        not_up_spans=spans,
    )


async def run_scenario(
    scenario: Scenario,
    target: LoopbackTarget | NginxTarget,
    workdir: Path,
    *,
    seconds: float,
    warmup_s: float,
    concurrency: int,
    workers: str = "1",
) -> Figures:
    loaded = load_config(write_config(workdir, scenario, target, concurrency, workers))
    daemon = Daemon(loaded, handle_signals=False)
    started = time.monotonic()
    run_task = asyncio.create_task(daemon.run(), name="daemon")
    while (
        daemon.scheduler is None
        or daemon.writer is None
        or not daemon.scheduler.healthy(1.0)
        or (isinstance(daemon.scheduler, ProbeWorkers) and not daemon.scheduler.ready)
    ):
        if run_task.done():
            run_task.result()  # surfaces why the daemon did not start
        await asyncio.sleep(0.01)
    startup_s = time.monotonic() - started
    scheduler, writer = daemon.scheduler, daemon.writer
    await asyncio.sleep(warmup_s)

    wall_minus_mono_s = time.time() - time.monotonic()
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    sched0, writer0, server0 = scheduler.snapshot(), writer.stats, target.counters()
    wall0_ms, mono0, cpu0 = time.time_ns() // 1_000_000, time.monotonic(), time.process_time()
    workers_cpu0 = workers_cpu_s(daemon)
    commit_max = 0.0
    max_waiting = max_depth = 0
    while (remaining := mono0 + seconds - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, remaining))
        snap, wstats = scheduler.snapshot(), writer.stats
        max_waiting = max(max_waiting, snap.waiting)
        max_depth = max(max_depth, wstats.queue_depth)
        commit_max = max(commit_max, 1000 * (wstats.last_commit_s or 0.0))
    # At the window's end, not after the stop: the stop closes every endpoint's interval (2 rows each), which is
    # shutdown work, not steady state. A batch still pending at either edge counts in the window it commits in.
    sched1, writer1, server1 = scheduler.snapshot(), writer.stats, target.counters()
    gc.callbacks.remove(gc_pauses)
    wall1_ms, mono1, cpu1 = time.time_ns() // 1_000_000, time.monotonic(), time.process_time()
    workers_cpu1 = workers_cpu_s(daemon)

    daemon.request_stop()
    await run_task
    stop_s = time.monotonic() - mono1
    window_s = (wall1_ms - wall0_ms) / 1000
    elapsed = mono1 - mono0
    return Figures(
        scenario=scenario,
        window_s=window_s,
        startup_s=startup_s,
        stop_s=stop_s,
        stored=stored_figures(workdir / "bench.db", wall0_ms, wall1_ms, scenario.interval_s, wall_minus_mono_s),
        dispatched=sched1.dispatched - sched0.dispatched,
        sched=sched1,
        gc_pauses=gc_pauses,
        max_waiting=max_waiting,
        writer_commits=writer1.batches_committed - writer0.batches_committed,
        writer_rows=writer1.rows_written - writer0.rows_written,
        commit_ms_max=commit_max,
        max_queue_depth=max_depth,
        agent_cpu_pct=100 * (cpu1 - cpu0 + workers_cpu1 - workers_cpu0) / elapsed,
        workers_cpu_pct=100 * (workers_cpu1 - workers_cpu0) / elapsed,
        probe_processes=daemon.probe_processes,
        server_cpu_pct=100 * (server1.cpu_s - server0.cpu_s) / elapsed,
        server_req_s=(server1.requests - server0.requests) / elapsed,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def workers_cpu_s(daemon: Daemon) -> float:
    """CPU seconds (user + system) of the daemon's probe processes running now (none with ``workers: 1``)."""
    if not isinstance(daemon.scheduler, ProbeWorkers):
        return 0.0
    total = 0
    for pid in daemon.scheduler.pids().values():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5), in clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def report(f: Figures) -> None:
    s, st = f.scenario, f.stored
    late, wait = f.sched.lateness, f.sched.queue_wait
    print(
        f"\n== {s.endpoints} endpoints every {s.interval_s:g} s (target {s.target_rate:.1f} probes/s), "
        f"{f.probe_processes} probe process(es) =="
    )
    print(f"  start-up {f.startup_s:.2f} s, measured {f.window_s:.1f} s, stop {f.stop_s:.2f} s")
    print(
        f"  probes/s      achieved {f.achieved_rate:.1f} ({100 * f.achieved_rate / s.target_rate:.0f} % of target); "
        f"dispatched {f.dispatched / f.window_s:.1f}/s; server answered {f.server_req_s:.1f} req/s"
    )
    print(
        f"  lateness      scheduler p50 {late.p50_ms or 0:.2f} / p99 {late.p99_ms or 0:.2f} / max "
        f"{late.max_ms or 0:.2f} ms over its last {late.count} dispatches (may reach back into the warm-up)"
    )
    print(
        f"  queue wait    p50 {wait.p50_ms or 0:.2f} / p99 {wait.p99_ms or 0:.2f} / max {wait.max_ms or 0:.2f} ms; "
        f"most waiting at once {f.max_waiting}; in flight max {f.sched.max_in_flight}; "
        f"skipped slots {f.sched.skipped_slots}; probe errors {f.sched.probe_errors}"
    )
    print(
        f"  start late    from results p50 {st.start_late_ms[0]:.1f} / p99 {st.start_late_ms[1]:.1f} / "
        f"max {st.start_late_ms[2]:.1f} ms (probe start - grid slot)"
    )
    print(
        f"  latency       p50 {st.latency_ms[0]:.2f} / p99 {st.latency_ms[1]:.2f} ms over {st.results} results; "
        f"not up: {st.not_up}"
    )
    print(f"  timeline      spans other than up: {describe_spans(st.not_up_spans) or 'none'}")
    print(f"  gc pauses     {f.gc_pauses.describe()}")
    print(
        f"  store         {f.writer_commits} commits, {f.writer_rows} rows "
        f"({f.writer_rows / max(f.writer_commits, 1):.0f} rows/commit); commit max seen {f.commit_ms_max:.1f} ms; "
        f"queue depth max {f.max_queue_depth}"
    )
    cpu_ms_per_probe = 10 * f.agent_cpu_pct / max(f.achieved_rate, 1e-9)  # (pct / 100) s/s * 1000 ms / rate
    print(
        f"  cpu           agent {f.agent_cpu_pct:.0f} % of one core ({cpu_ms_per_probe:.2f} ms CPU per probe), "
        f"server {f.server_cpu_pct:.0f} %; agent peak RSS {f.peak_rss_mb:.0f} MB"
    )
    if f.probe_processes > 1:
        main_pct = f.agent_cpu_pct - f.workers_cpu_pct
        print(
            f"  cpu split     daemon process {main_pct:.0f} % ({10 * main_pct / max(f.achieved_rate, 1e-9):.2f} ms per "
            f"probe: labels, controls, folds, store), {f.probe_processes} probe processes {f.workers_cpu_pct:.0f} % "
            f"({10 * f.workers_cpu_pct / max(f.achieved_rate, 1e-9):.2f} ms per probe)"
        )
    print(f"  verdict       {f.verdict()}")
    sys.stdout.flush()


def markdown_table(rows: list[Figures]) -> str:
    head = (
        "| endpoints x interval | target/s | achieved/s | sched late p50 / p99 / max ms "
        "| queue wait p99 ms | start late p50 / p99 ms | latency p50 / p99 ms | not up | agent CPU | server CPU "
        "| commits | rows | verdict |"
    )
    lines = [head, "|" + "---|" * 13]
    for f in rows:
        late, st = f.sched.lateness, f.stored
        lines.append(
            f"| {f.scenario.endpoints:,} x {f.scenario.interval_s:g} s | {f.scenario.target_rate:.0f} "
            f"| {f.achieved_rate:.0f} | {late.p50_ms or 0:.2f} / {late.p99_ms or 0:.2f} / {late.max_ms or 0:.1f} "
            f"| {f.sched.queue_wait.p99_ms or 0:.2f} | {st.start_late_ms[0]:.1f} / {st.start_late_ms[1]:.1f} "
            f"| {st.latency_ms[0]:.1f} / {st.latency_ms[1]:.1f} | {st.not_up} | {f.agent_cpu_pct:.0f} % "
            f"| {f.server_cpu_pct:.0f} % | {f.writer_commits} | {f.writer_rows:,} "
            f"| {f.verdict().split(':')[0].lower()} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    target: LoopbackTarget | NginxTarget
    if args.target == "nginx":
        target = NginxTarget()
        target.start()
        print(f"target: nginx ({target.binary}) at {target.url()}, worker_processes 1 (200 'ok' on every path)")
    else:
        target = LoopbackTarget()
        target.start()
        print(f"target: aiohttp in a separate process at {target.url()} (200 'ok' on every path)")
        if nginx_binary() is None:
            print(f"note: nginx is not installed ({INSTALL_HINT}); the aiohttp target stands in")
    figures: list[Figures] = []
    try:
        for scenario in args.scenarios:
            with tempfile.TemporaryDirectory(prefix="probe-bench-", dir=args.workdir) as workdir:
                f = await run_scenario(
                    scenario,
                    target,
                    Path(workdir),
                    seconds=args.seconds,
                    warmup_s=args.warmup,
                    concurrency=args.concurrency,
                    workers=args.workers,
                )
            figures.append(f)
            report(f)
    finally:
        target.stop()
    print("\nmarkdown:\n")
    print(markdown_table(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenarios",
        type=Scenario.parse,
        nargs="+",
        default=[Scenario(1000, 10.0), Scenario(10_000, 30.0), Scenario(10_000, 10.0)],
        help="ENDPOINTSxSECONDS, e.g. 1000x10 (default: 1000x10 10000x30 10000x10)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after start-up left out of the figures")
    parser.add_argument("--concurrency", type=int, default=100, help="agent.max_concurrency (default 100)")
    parser.add_argument(
        "--workers",
        default="1",
        help="agent.workers: auto or a number of probe processes (default 1: probing in the daemon's process)",
    )
    parser.add_argument("--workdir", default=None, help="where the temp SQLite files go (default: the system temp)")
    parser.add_argument(
        "--target",
        choices=("nginx", "aiohttp"),
        default="nginx" if nginx_binary() is not None else "aiohttp",
        help="what answers the probes (default: nginx when installed, else aiohttp)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the agent's event loop (default asyncio; uvloop needs the extra: pip install 'probe-agent[uvloop]')",
    )
    args = parser.parse_args()
    if args.target == "nginx" and nginx_binary() is None:
        parser.error(f"nginx is not installed; {INSTALL_HINT}")
    try:
        eventloop.choose({eventloop.ENV_VAR: args.loop})
    except eventloop.LoopChoiceError as exc:
        parser.error(str(exc))
    # Transitions of 10,000 endpoints would flood the output; keep errors, and the scheduler's own warnings.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("probe_agent.agent").setLevel(logging.ERROR)
    logging.getLogger("probe_agent.agent.scheduler").setLevel(logging.WARNING)
    print("machine:")
    print(machine_block())
    print(
        f"agent: {args.loop} event loop, max_concurrency {args.concurrency}, agent.workers {args.workers}, "
        "one fresh connection per probe"
    )
    eventloop.run(main_async(args), {eventloop.ENV_VAR: args.loop})


if __name__ == "__main__":
    main()
