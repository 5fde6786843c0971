"""``db check``'s timeline checks and ``db repair``: find a stored timeline the fold could not have left, and
re-fold it from the raw results.

What ``db check`` calls inconsistent, per (agent, endpoint) (``TimelineProblem.kind``):

- ``overlapping_intervals``: two stored intervals cover one instant (two daemons of one agent id wrote at once);
- ``fold_state_behind``: the fold snapshot's open spans (or, with none open, the point it is settled up to) start
  before the end of the last stored interval, so they overlap it in every report, and the next daemon start would
  write over it;
- ``fold_state_unreadable``: the snapshot cannot be resumed at all.

``db repair`` re-folds each such pair the way ``import`` does (``importing.fold_pair``: the agent's runs and every
raw result still stored, through ``probe_agent.fold``), from its earliest raw result: the stored intervals before that
result (raw results older than it were pruned) are kept, cut at it, with any overlap among them resolved by the
reports' rule (``reports.overlaps``); everything from it on is replaced by the fold's closed intervals, and the
fold state by the fold's snapshot (deleted when the pair has no raw result left). Results and runs are not
changed. All pairs are written in one transaction, and only while no daemon of their agent runs: the agent's
OS lock (``agent.runlock``) is held meanwhile, so none can start, and a run with a fresh heartbeat (a daemon on
another host) refuses too.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from probe_agent.agent.runlock import LockHeld, RunLock
from probe_agent.config.document import Config
from probe_agent.fold import snapshot_spans
from probe_agent.importing import fold_pair
from probe_agent.model import StateInterval, iso
from probe_agent.reports.overlaps import resolve_pair
from probe_agent.store import consistency, queries, records

_ALL_TIME = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class TimelineProblem:
    """One inconsistency of one (agent, endpoint)'s stored timeline, over ``[start_ms, end_ms)`` when it has one."""

    agent: str
    endpoint: str
    kind: str
    start_ms: int | None
    end_ms: int | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "endpoint": self.endpoint,
            "kind": self.kind,
            "from": None if self.start_ms is None else iso(self.start_ms),
            "to": None if self.end_ms is None else iso(self.end_ms),
            "detail": self.detail,
        }


def find_problems(conn: sqlite3.Connection) -> list[TimelineProblem]:
    """Every inconsistent stored timeline (see the module docstring), by (agent, endpoint, kind). Reads only."""
    found = [
        TimelineProblem(
            o.agent,
            o.endpoint,
            "overlapping_intervals",
            o.start_ms,
            o.end_ms,
            f"{o.intervals} stored interval(s) start before an earlier one ends",
        )
        for o in consistency.overlapping_intervals(conn)
    ]
    ends = consistency.last_interval_ends(conn)
    for (agent, endpoint), snap in queries.fold_states(conn).items():
        try:
            spans = snapshot_spans(agent, endpoint, snap)
        except ValueError as exc:
            found.append(TimelineProblem(agent, endpoint, "fold_state_unreadable", None, None, f"fold snapshot: {exc}"))
            continue
        end = ends.get((agent, endpoint))
        settled = spans[0].start_ms if spans else snap.get("frontier")
        if end is not None and isinstance(settled, int) and settled < end:
            what = "open spans start" if spans else "fold is settled only up to"
            found.append(
                TimelineProblem(
                    agent,
                    endpoint,
                    "fold_state_behind",
                    settled,
                    end,
                    f"its {what} {iso(settled)}, before the last stored interval ends ({iso(end)})",
                )
            )
    return sorted(found, key=lambda p: (p.agent, p.endpoint, p.kind))


@dataclass(frozen=True, slots=True)
class PairRepair:
    """What ``db repair`` does to one (agent, endpoint)."""

    agent: str
    endpoint: str
    kinds: tuple[str, ...]
    results: int  # raw results re-folded
    first_result_ms: int | None
    intervals_before: int  # stored now
    kept: tuple[StateInterval, ...]  # from before the first raw result (cut there, overlaps resolved)
    refolded: tuple[StateInterval, ...]  # the fold's closed intervals from the first raw result on
    fold_state: dict[str, Any] | None
    seen: tuple[Any, ...]  # the pair as read; the write checks it is unchanged

    @property
    def intervals(self) -> list[StateInterval]:
        return [*self.kept, *self.refolded]


@dataclass(frozen=True, slots=True)
class RepairPlan:
    problems: tuple[TimelineProblem, ...]
    pairs: tuple[PairRepair, ...]
    refusals: tuple[str, ...]  # why nothing may be written; empty when the plan can be applied


def _pair_state(conn: sqlite3.Connection, agent: str, endpoint: str) -> tuple[Any, ...]:
    return (*queries.pair_extent(conn, agent, endpoint), queries.fold_state_of(conn, agent, endpoint))


def _live_run_refusal(conn: sqlite3.Connection, config: Config, agent: str, now_ms: int) -> str | None:
    run = queries.running_daemon(conn, agent, stale_after_ms=3 * config.agent.heartbeat, now_ms=now_ms)
    if run is None:
        return None
    return (
        f"agent {agent!r}: a probe-agent is running as this agent (run {run.run_id}, pid {run.pid} on "
        f"{run.hostname}, heartbeat {iso(run.heartbeat_ms)}); stop it first"
    )


def plan_repair(
    conn: sqlite3.Connection, config: Config, *, now_ms: int, agents: Sequence[str] | None = None
) -> RepairPlan:
    """What ``db repair`` would write (reads only). ``agents`` limits it to those agents' pairs."""
    problems = [p for p in find_problems(conn) if agents is None or p.agent in agents]
    kinds: dict[tuple[str, str], list[str]] = {}
    for p in problems:
        kinds.setdefault((p.agent, p.endpoint), []).append(p.kind)
    refusals: list[str] = []
    for agent in sorted({agent for agent, _ in kinds}):
        refusal = _live_run_refusal(conn, config, agent, now_ms)
        if refusal is not None:
            refusals.append(refusal)
    pairs: list[PairRepair] = []
    runs = {
        agent: queries.runs_for(conn, agent, now_ms=now_ms, stale_after_ms=3 * config.agent.heartbeat)
        for agent in {agent for agent, _ in kinds}
    }
    for (agent, endpoint), pair_kinds in sorted(kinds.items()):
        try:
            config.endpoint(endpoint)
        except KeyError:
            refusals.append(
                f"{agent}/{endpoint}: not in the config, whose interval, grace and confirm the re-fold needs; add it "
                "under `endpoints:` (or repair with the config that probed it)"
            )
            continue
        seen = _pair_state(conn, agent, endpoint)
        stored = queries.intervals_overlapping(conn, *_ALL_TIME, [endpoint], [agent])
        results = queries.pair_results(conn, agent, endpoint)
        first = results[0].ts_ms if results else None
        before = [replace(iv, end_ms=min(iv.end_ms, first)) if first is not None else iv for iv in stored]
        kept, _ = resolve_pair([iv for iv in before if first is None or iv.start_ms < first])
        try:
            closed, fold = fold_pair(agent, endpoint, config, results, runs[agent])
        except ValueError as exc:
            refusals.append(f"{agent}/{endpoint}: its raw results cannot be re-folded: {exc}")
            continue
        pairs.append(
            PairRepair(
                agent,
                endpoint,
                tuple(pair_kinds),
                len(results),
                first,
                len(stored),
                tuple(kept),
                tuple(closed),
                fold.snapshot() if results else None,
                seen,
            )
        )
    return RepairPlan(tuple(problems), tuple(pairs), tuple(refusals))


class RepairRefused(Exception):
    """Nothing was written; ``reasons`` says why."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@contextlib.contextmanager
def agents_locked(database: Path, agents: Sequence[str]) -> Iterator[None]:
    """Hold the daemon lock of each agent on ``database`` (a daemon of one cannot start meanwhile, and one that
    runs holds it). Raises RepairRefused naming the holders."""
    held: list[RunLock] = []
    refusals: list[str] = []
    try:
        for agent in sorted(set(agents)):
            lock = RunLock(database, agent)
            try:
                lock.acquire()
            except LockHeld as exc:
                refusals.append(
                    f"agent {agent!r}: a probe-agent daemon holds {exc.path} (pid {exc.pid}); stop it first"
                )
                continue
            except OSError as exc:
                refusals.append(f"agent {agent!r}: cannot take the lock {lock.path}: {exc.strerror or exc}")
                continue
            held.append(lock)
        if refusals:
            raise RepairRefused(refusals)
        yield
    finally:
        for lock in held:
            lock.release()


def apply_repair(conn: sqlite3.Connection, config: Config, plan: RepairPlan, *, now_ms: int) -> None:
    """Write ``plan`` in one transaction (call it inside ``agents_locked``). Raises RepairRefused, writing
    nothing, when the plan has refusals, or a daemon started or a pair changed since it was made."""
    if plan.refusals:
        raise RepairRefused(plan.refusals)

    def guard(c: sqlite3.Connection) -> None:
        reasons = [r for r in (_live_run_refusal(c, config, a, now_ms) for a in {p.agent for p in plan.pairs}) if r]
        reasons += [
            f"{p.agent}/{p.endpoint} changed while repairing; run db repair again"
            for p in plan.pairs
            if _pair_state(c, p.agent, p.endpoint) != p.seen
        ]
        if reasons:
            raise RepairRefused(reasons)

    records.replace_timelines(
        conn,
        [(p.agent, p.endpoint, p.intervals, p.fold_state) for p in plan.pairs],
        now_ms=now_ms,
        guard=guard,
    )
