"""Run every ``bench_*.py`` next to this file, one after another, each as its own subprocess (``make bench``).

Each bench prints its own figures and machine; this prints the date, a banner per bench, its wall time and exit
status, and a summary. One process per bench, so no bench's threads, memory or event loop colour the next. A bench
that runs past ``--timeout`` seconds is killed (it is our own child) and counted as failed. Exit status: 0 if every
bench succeeded, else 1.

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


def bench_files(only: list[str] | None) -> list[Path]:
    """``bench_*.py`` in name order; ``only`` keeps those whose name contains one of the given words."""
    files = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        files = [f for f in files if any(word in f.stem for word in only)]
    return files


def run_one(path: Path, timeout_s: float) -> tuple[int | None, float]:
    """Run one bench with this interpreter, output straight to ours; (exit code or None on timeout, seconds)."""
    started = time.monotonic()
    try:
        code = subprocess.run([sys.executable, str(path)], cwd=BENCH_DIR.parent, timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="run only benches whose file name contains one of these words")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a bench is killed")
    args = parser.parse_args()
    files = bench_files(args.only)
    if not files:
        print(f"no bench_*.py matched in {BENCH_DIR}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    print(f"probe-agent benchmarks, {now}; {len(files)} bench(es): {', '.join(f.name for f in files)}", flush=True)
    outcomes: list[tuple[str, int | None, float]] = []
    for path in files:
        print(f"\n{'=' * 30} {path.name} {'=' * 30}", flush=True)
        code, seconds = run_one(path, args.timeout)
        outcomes.append((path.name, code, seconds))
        status = "ok" if code == 0 else ("killed after timeout" if code is None else f"exit status {code}")
        print(f"--- {path.name}: {status} in {seconds:.0f} s", flush=True)
    print("\nsummary:")
    for name, code, seconds in outcomes:
        print(f"  {name:<24} {'ok' if code == 0 else 'FAILED':<7} {seconds:>6.0f} s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
