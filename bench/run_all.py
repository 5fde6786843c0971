"""Run every ``bench_*.py`` next to this file, one after another, each as its own subprocess (``make bench``).

Each bench prints its own figures and machine; this prints the date, the time budget, a banner per bench, its wall
time and exit status, and a summary. One process per bench, so no bench's threads, memory or event loop colour the
next. ``make bench`` must finish in under 15 minutes on the 2-core reference machine, so each bench has a budget
(:data:`BUDGET_S`, printed first; some run with shorter arguments here than alone, :data:`MAKE_BENCH_ARGS`). A bench
that runs past its timeout (``--timeout`` seconds, else twice its budget and at least 300 s) is killed (it is our
own child) and counted as failed. Exit status: 0 if every bench succeeded, else 1.

    .venv/bin/python bench/run_all.py
    .venv/bin/python bench/run_all.py --only store scheduler
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TOTAL_LIMIT_S = 15 * 60  # the bound on ``make bench``
# Expected wall seconds per bench on the 2-core reference machine with nothing else running (loaded machines take
# longer: the timeout is twice this, at least MIN_TIMEOUT_S). A bench without an entry gets DEFAULT_BUDGET_S and is
# flagged as such.
BUDGET_S = {
    "bench_config.py": 45,  # config validate and daemon start-up of 50,000 endpoints
    "bench_import.py": 120,  # import and re-import of 1,000,000 lines
    "bench_metrics.py": 100,  # /metrics of 10,000 endpoints, per-endpoint series off and on
    "bench_probes.py": 110,  # only with --only (RUN_ALONE)
    "bench_report.py": 40,  # 1,000 endpoints x 30 days, with and without a latency objective
    "bench_scale.py": 500,  # peers, sustained search x 2, scaling/overload, 50,000 x 60 s for 300 s
    "bench_scheduler.py": 25,
    "bench_status_page.py": 40,
    "bench_store.py": 20,
}
DEFAULT_BUDGET_S = 120
MIN_TIMEOUT_S = 300
# Shorter than the bench's own default, to fit the total.
MAKE_BENCH_ARGS = {"bench_scheduler.py": ["--seconds", "10"]}
# Left out of a plain run (still run by ``--only``): bench_scale's rate search drives the same daemon path against
# the same nginx and finds the ceiling that bench_probes' fixed scenarios bracket, in the same minutes.
RUN_ALONE = {"bench_probes.py": "bench_scale.py's search covers it; run it with --only probes"}


def bench_files(only: list[str] | None) -> list[Path]:
    """``bench_*.py`` in name order; ``only`` keeps those whose name contains one of the given words, else every
    one but :data:`RUN_ALONE`."""
    files = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        return [f for f in files if any(word in f.stem for word in only)]
    return [f for f in files if f.name not in RUN_ALONE]


def budget_s(path: Path) -> float:
    return BUDGET_S.get(path.name, DEFAULT_BUDGET_S)


def timeout_s(path: Path) -> float:
    """Twice the budget, but never under 300 s: on a loaded machine a bench takes several times its budget (the
    store bench 80 s against 20), and the timeout is there for a hung bench, not a slow one."""
    return max(2 * budget_s(path), MIN_TIMEOUT_S)


def budget_lines(files: list[Path]) -> list[str]:
    """The budget as printed before the run: per bench, then the total against the 15-minute bound."""
    lines = []
    for f in files:
        note = "" if f.name in BUDGET_S else " (no budget set: the default)"
        extra = " ".join(MAKE_BENCH_ARGS.get(f.name, []))
        lines.append(f"  {f.name:<24} {budget_s(f):>5.0f} s{note}" + (f"  args: {extra}" if extra else ""))
    total = sum(budget_s(f) for f in files)
    verdict = "within" if total <= TOTAL_LIMIT_S else "OVER"
    lines.append(f"  {'total':<24} {total:>5.0f} s ({verdict} the {TOTAL_LIMIT_S // 60}-minute bound of make bench)")
    return lines


def run_one(path: Path, limit_s: float) -> tuple[int | None, float]:
    """Run one bench with this interpreter, output straight to ours; (exit code or None on timeout, seconds)."""
    started = time.monotonic()
    command = [sys.executable, str(path), *MAKE_BENCH_ARGS.get(path.name, [])]
    try:
        code = subprocess.run(command, cwd=BENCH_DIR.parent, timeout=limit_s).returncode
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="run only benches whose file name contains one of these words")
    parser.add_argument(
        "--timeout", type=float, help="seconds before a bench is killed (default: twice its budget, at least 300)"
    )
    args = parser.parse_args()
    files = bench_files(args.only)
    if not files:
        print(f"no bench_*.py matched in {BENCH_DIR}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    print(f"probe-agent benchmarks, {now}; {len(files)} bench(es): {', '.join(f.name for f in files)}")
    for name, why in RUN_ALONE.items():
        if not args.only:
            print(f"not run: {name} ({why})")
    print("budget (2-core reference machine, unloaded):")
    print("\n".join(budget_lines(files)), flush=True)
    started = time.monotonic()
    outcomes: list[tuple[str, int | None, float]] = []
    for path in files:
        print(f"\n{'=' * 30} {path.name} {'=' * 30}", flush=True)
        code, seconds = run_one(path, args.timeout or timeout_s(path))
        outcomes.append((path.name, code, seconds))
        status = "ok" if code == 0 else ("killed after timeout" if code is None else f"exit status {code}")
        print(f"--- {path.name}: {status} in {seconds:.0f} s", flush=True)
    print("\nsummary:")
    for name, code, seconds in outcomes:
        print(
            f"  {name:<24} {'ok' if code == 0 else 'FAILED':<7} {seconds:>6.0f} s "
            f"(budget {BUDGET_S.get(name, DEFAULT_BUDGET_S)} s)"
        )
    total = time.monotonic() - started
    print(f"  {'total':<24} {'':<7} {total:>6.0f} s (make bench's bound: {TOTAL_LIMIT_S} s)")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
