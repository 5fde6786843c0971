"""CPU per http probe of ``run_probe`` alone (not a test, not part of ``make bench``): the probe path without the
scheduler, folds or store, measured as this process's CPU time over the probes made, which holds up better than
wall-clock rates on a machine shared with other work.

Against the loopback target (loopback_target.py: aiohttp in its own process), ``--probes`` http probes of
``--endpoints`` distinct endpoints, ``--concurrency`` at a time, in rounds alternating the variants so background
load falls on each alike:
- ``session per probe``: ``run_probe`` without a client (it builds and closes a ``ProbeClient``, i.e. a
  ``ClientSession`` + ``TCPConnector``, per probe: what every probe did before issue 14);
- ``shared client``: one ``ProbeClient`` for the event loop (the daemon's way since issue 14);
each on asyncio's loop and, when installed, on uvloop. Prints CPU ms per probe (the median of the rounds) and the
probes/s of the fastest round.

    .venv/bin/python bench/probe_cpu.py
    .venv/bin/python bench/probe_cpu.py --probes 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from loopback_target import LoopbackTarget
from machine import machine_block

from probe_agent.agent import eventloop
from probe_agent.config.document import Config
from probe_agent.config.schema import Endpoint
from probe_agent.model import Outcome
from probe_agent.probes import ProbeClient, run_probe


async def one_round(endpoints: list[Endpoint], probes: int, concurrency: int, shared: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for ``probes`` probes; raises if any probe was not up."""
    slots = asyncio.Semaphore(concurrency)
    client = ProbeClient() if shared else None
    not_up: list[str] = []

    async def probe(i: int) -> None:
        async with slots:
            result = await run_probe(endpoints[i % len(endpoints)], agent="bench", client=client)
            if result.outcome is not Outcome.UP:
                not_up.append(result.detail)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(probe(i) for i in range(probes)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if client is not None:
        await client.close()
    if not_up:
        raise SystemExit(f"{len(not_up)} probes not up, e.g. {not_up[0]}")
    return cpu, wall


def run_variant(loop: str, shared: bool, args: argparse.Namespace, endpoints: list[Endpoint]) -> tuple[float, float]:
    return eventloop.run(one_round(endpoints, args.probes, args.concurrency, shared), {eventloop.ENV_VAR: loop})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=3000, help="probes per round and variant")
    parser.add_argument("--endpoints", type=int, default=1000, help="distinct endpoints (URLs) probed in turn")
    parser.add_argument("--concurrency", type=int, default=100, help="probes in flight at once")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (variants alternate within each)")
    args = parser.parse_args()
    print("machine:")
    print(machine_block())
    loops = ["asyncio"]
    try:
        eventloop.choose({eventloop.ENV_VAR: "uvloop"})
        loops.append("uvloop")
    except eventloop.LoopChoiceError:
        print("uvloop is not installed: asyncio only (pip install 'probe-agent[uvloop]')")
    target = LoopbackTarget()
    target.start()
    try:
        doc = {"endpoints": [{"id": f"ep-{i:05d}", "http": target.url(f"ep-{i:05d}")} for i in range(args.endpoints)]}
        endpoints = list(Config.model_validate(doc).endpoints)
        variants: list[tuple[str, bool]] = [(loop, shared) for loop in loops for shared in (False, True)]
        cpu: dict[tuple[str, bool], list[float]] = {v: [] for v in variants}
        rate: dict[tuple[str, bool], list[float]] = {v: [] for v in variants}
        run_variant("asyncio", True, args, endpoints)  # warm-up: imports, TLS-free paths, the target's first accepts
        for r in range(args.rounds):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                cpu_s, wall_s = run_variant(variant[0], variant[1], args, endpoints)
                cpu[variant].append(1000 * cpu_s / args.probes)
                rate[variant].append(args.probes / wall_s)
                print(
                    f"  round {r + 1} {variant[0]:>7} {'shared' if variant[1] else 'per-probe':>9}: "
                    f"{cpu[variant][-1]:.3f} ms CPU/probe, {rate[variant][-1]:.0f} probes/s"
                )
                sys.stdout.flush()
    finally:
        target.stop()
    print(f"\n{args.probes} http probes per round, concurrency {args.concurrency}, {args.rounds} rounds\n")
    print("| loop | session | CPU ms per probe (median) | rounds | best probes/s |")
    print("|---|---|---|---|---|")
    for variant in variants:
        rounds = ", ".join(f"{c:.3f}" for c in cpu[variant])
        print(
            f"| {variant[0]} | {'one per event loop' if variant[1] else 'one per probe'} "
            f"| {statistics.median(cpu[variant]):.3f} | {rounds} | {max(rate[variant]):.0f} |"
        )


if __name__ == "__main__":
    main()
