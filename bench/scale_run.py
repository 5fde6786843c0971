"""One measured run of the real agent, in a process of its own: bench_scale.py starts one per step.

The real ``Daemon`` (scheduler -> workers -> http probes -> controls -> folds -> store writer into a real SQLite
file) runs in this process from a generated config: N endpoints on the given target URL, one tcp control on the
same host, ``max_concurrency`` C, ``per_host_limit`` = C (all endpoints share one host; only the global limit
binds, as with many distinct hosts), ``agent.workers`` when asked (the probe processes are this one's children).
A fresh process per run, so one run's memory, threads and garbage do not colour the next, and its peak RSS is its
own.

Measured: start-up (before ``load_config`` to the scheduler holding every endpoint), then after ``warmup`` a
window of ``seconds``: stored results with a ts in it (rate; down/unknown/degraded counts), the spacing of each
endpoint's consecutive grid probes (scale_math.spacing), timeline spans other than up, the scheduler's counters
(skipped and, when the build has it, shed slots), CPU of this process and of its descendants (/proc), and the
process tree's RSS sampled once a second. The figures go to stdout as one JSON line, last.

    .venv/bin/python bench/scale_run.py '{"endpoints": 2000, "interval_s": 2, "url": "http://127.0.0.1:8080/"}'
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proctree import tree_cpu, tree_pss_mb, tree_rss_mb
from scale_math import spacing

from probe_agent.agent.daemon import Daemon
from probe_agent.config import load_config
from probe_agent.model import State
from probe_agent.store.queries import intervals_overlapping, iter_results
from probe_agent.store.schema import open_db


@dataclass(frozen=True)
class RunSpec:
    endpoints: int
    interval_s: float
    url: str  # the target's base URL; endpoint i probes <url>ep-i
    workers: str | None = None  # agent.workers as written in the config ("auto", "2"); None leaves it out
    seconds: float = 10.0
    warmup_s: float = 3.0
    concurrency: int = 100
    startup_timeout_s: float = 120.0


@dataclass
class RunFigures:
    spec: RunSpec
    startup_s: float | None  # None: the scheduler's endpoint count never reached N (e.g. it lives elsewhere)
    window_s: float
    stored: int
    outcomes: dict[str, int]
    spacing_gaps: int
    spacing_p50_ms: float
    spacing_p99_ms: float
    spacing_max_ms: float
    spacing_skipped: int  # grid slots missing between stored probes
    sched_skipped: int | None  # the scheduler's skipped_slots over the window (None: no scheduler here)
    sched_shed: int | None  # its shed_slots, when this build counts them
    max_waiting: int
    endpoints_probed: int  # endpoints with at least one stored result in the window
    per_endpoint_min: int  # fewest / most results one endpoint stored in the window: skipping spread evenly
    per_endpoint_max: int  # keeps them close; an endpoint never probed leaves endpoints_probed < N
    not_up_spans: dict[str, list[float]] = field(default_factory=dict)  # state -> [spans, endpoint-seconds]
    cpu_main_s: float = 0.0
    cpu_children_s: float = 0.0
    processes: int = 1
    peak_rss_mb: float = 0.0  # the tree's, sampled once a second
    peak_pss_mb: float = 0.0  # the tree's proportional memory (shared pages once), sampled with it
    self_maxrss_mb: float = 0.0  # this process's own peak (getrusage), not sampled
    loop: str = "asyncio"  # the event loop's module: what `probe-agent run` would pick here

    @property
    def rate(self) -> float:
        return self.stored / self.window_s


def write_config(workdir: Path, spec: RunSpec) -> Path:
    host = urlsplit(spec.url)
    lines = [
        "agent:",
        "  id: bench",
        f"  database: {workdir / 'bench.db'}",
        f"  max_concurrency: {spec.concurrency}",
        f"  per_host_limit: {spec.concurrency}",
        "  heartbeat: 5s",
        "  stop_timeout: 5s",
    ]
    if spec.workers is not None:
        lines.append(f"  workers: {spec.workers}")
    lines += [
        "defaults:",
        f"  interval: {spec.interval_s}",
        f"  timeout: {min(5000, int(spec.interval_s * 500))}ms",  # must stay under the interval
        "controls:",
        "  - id: control-target",
        f"    tcp: {host.hostname}:{host.port}",
        "endpoints:",
    ]
    base = spec.url.rstrip("/")
    for i in range(spec.endpoints):
        lines += [f"  - id: ep-{i:05d}", f"    http: {base}/ep-{i:05d}"]
    path = workdir / "bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def scheduler_view(daemon: Daemon) -> Any | None:
    """The scheduler figures of the whole agent (``endpoints``, ``waiting``, ``skipped_slots``, ``shed_slots``), or
    None when this build has none to read here.

    With ``workers: 1`` that is the daemon's own ``ProbeScheduler.snapshot()``. With probe processes the schedulers
    live in them; this reads an aggregate if the daemon offers one (``scheduler_snapshot()``, duck-typed: the one
    place to adapt when that interface settles), else the figures that need it print as not available.
    """
    if daemon.scheduler is not None:
        return daemon.scheduler.snapshot()
    aggregate = getattr(daemon, "scheduler_snapshot", None)
    return aggregate() if callable(aggregate) else None


def _skip_counters(daemon: Daemon) -> tuple[int | None, int | None]:
    snap = scheduler_view(daemon)
    if snap is None:
        return None, None
    return snap.skipped_slots, getattr(snap, "shed_slots", None)


def _delta(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


async def measure(spec: RunSpec, workdir: Path) -> RunFigures:
    config_path = write_config(workdir, spec)
    pid = os.getpid()
    started = time.monotonic()
    loaded = load_config(config_path)
    daemon = Daemon(loaded, handle_signals=False)
    workers_count = getattr(loaded.config.agent, "workers_count", None)  # builds before agent.workers lack it
    processes = workers_count() if callable(workers_count) else 1
    run_task = asyncio.create_task(daemon.run(), name="daemon")
    startup_s: float | None = None
    while time.monotonic() - started < spec.startup_timeout_s:
        if run_task.done():
            run_task.result()  # surfaces why the daemon did not start
        snap = scheduler_view(daemon)
        if snap is not None and snap.endpoints >= spec.endpoints:
            startup_s = time.monotonic() - started
            break
        if snap is None and processes > 1 and daemon.writer is not None and time.monotonic() - started > 1:
            break  # nothing here counts scheduled endpoints: start-up is not observable, the warm-up still runs
        await asyncio.sleep(0.02)
    await asyncio.sleep(spec.warmup_s)

    skipped0, shed0 = _skip_counters(daemon)
    cpu0 = tree_cpu(pid)
    wall0_ms, mono0 = time.time_ns() // 1_000_000, time.monotonic()
    peak_rss = tree_rss_mb(pid)
    peak_pss = tree_pss_mb(pid)
    max_waiting = 0
    while (remaining := mono0 + spec.seconds - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, remaining))
        peak_rss = max(peak_rss, tree_rss_mb(pid))
        peak_pss = max(peak_pss, tree_pss_mb(pid))
        if (snap := scheduler_view(daemon)) is not None:
            max_waiting = max(max_waiting, snap.waiting)
    cpu1 = tree_cpu(pid)
    skipped1, shed1 = _skip_counters(daemon)
    wall1_ms = time.time_ns() // 1_000_000
    daemon.request_stop()
    await run_task

    stamps: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    spans: dict[str, list[float]] = {}
    conn = open_db(workdir / "bench.db", readonly=True)
    try:
        for r in iter_results(conn, start_ms=wall0_ms, end_ms=wall1_ms):
            outcomes[r.outcome.value] += 1
            if not r.recheck:  # re-checks run off the grid, at finish + retry_interval
                stamps[r.endpoint].append(r.ts_ms / 1000)
        for span in intervals_overlapping(conn, wall0_ms, wall1_ms):
            if span.state is not State.UP:
                count, seconds = spans.get(span.state.value, [0, 0.0])
                clipped_ms = min(span.end_ms, wall1_ms) - max(span.start_ms, wall0_ms)
                spans[span.state.value] = [count + 1, seconds + clipped_ms / 1000]
    finally:
        conn.close()
    gaps = spacing(stamps, spec.interval_s)
    return RunFigures(
        spec=spec,
        startup_s=startup_s,
        window_s=(wall1_ms - wall0_ms) / 1000,
        stored=sum(outcomes.values()),
        outcomes=dict(outcomes),
        spacing_gaps=gaps.gaps,
        spacing_p50_ms=gaps.p50_ms,
        spacing_p99_ms=gaps.p99_ms,
        spacing_max_ms=gaps.max_ms,
        spacing_skipped=gaps.skipped_slots,
        sched_skipped=_delta(skipped1, skipped0),
        sched_shed=_delta(shed1, shed0),
        max_waiting=max_waiting,
        endpoints_probed=len(stamps),
        per_endpoint_min=min((len(v) for v in stamps.values()), default=0),
        per_endpoint_max=max((len(v) for v in stamps.values()), default=0),
        not_up_spans=spans,
        cpu_main_s=cpu1.main - cpu0.main,
        cpu_children_s=cpu1.children - cpu0.children,
        processes=cpu1.processes,
        peak_rss_mb=peak_rss,
        peak_pss_mb=peak_pss,
        self_maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
    )


def figures_from_json(text: str) -> RunFigures:
    """The inverse of this script's output line."""
    data: dict[str, Any] = json.loads(text)
    data["spec"] = RunSpec(**data["spec"])
    return RunFigures(**data)


def run_like_the_daemon(main: Coroutine[Any, Any, RunFigures]) -> RunFigures:
    """On the event loop ``probe-agent run`` would use: a build with ``agent/eventloop.py`` picks uvloop when it is
    installed (unless PROBE_AGENT_LOOP says otherwise); one without runs asyncio's."""
    try:
        from probe_agent.agent import eventloop  # issue 14 item 3; absent before it
    except ImportError:
        return asyncio.run(main)
    result: RunFigures = eventloop.run(main, os.environ)
    return result


def main() -> None:
    spec = RunSpec(**json.loads(sys.argv[1]))
    # Transitions of thousands of endpoints would flood the output; keep errors and the scheduler's warnings.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("probe_agent.agent").setLevel(logging.ERROR)
    logging.getLogger("probe_agent.agent.scheduler").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="probe-bench-scale-") as workdir:
        figures = run_like_the_daemon(measure(spec, Path(workdir)))
    print(json.dumps(asdict(figures)), flush=True)


if __name__ == "__main__":
    main()
