"""``import``: probe results from a file, folded into the store exactly as live results are.

The file holds results in the one result schema (``ProbeResult.to_json``): JSON Lines, or CSV with one column per
key (``phases`` as JSON text, text cells formula-escaped as ``export`` writes them). ``ts`` is ISO 8601 with an
offset, or epoch seconds.

Import is all or nothing for problems in the input: every bad line, every endpoint missing from the config, every
result that conflicts with another one at the same (agent, endpoint, ts), in the file or in the store, is reported
(``ImportRefused``) before anything is written. An identical duplicate is skipped, so importing a file twice adds
nothing.

Each (agent, endpoint) in the file is then re-folded from *all* its raw results (stored and new) with the agent's
runs, through the same rules as the daemon (``probe_agent.fold``), and its closed intervals, fold state and new results
replace the old ones in one short transaction per pair. A pair that a running daemon with the same agent id probes
is refused (import under another ``--agent``), and so is a pair whose oldest raw results were pruned (its timeline
could no longer be re-folded). Finally the rollups of the hours that received results are rebuilt.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from probe_agent.config.document import Config
from probe_agent.config.schema import ID_PATTERN
from probe_agent.fold import FoldParams, Phase, TimelineFold, fold_walk
from probe_agent.model import HOUR_MS, AgentRun, ProbeResult, StateInterval, iso
from probe_agent.resultfiles import Problem, read_results
from probe_agent.store import queries, records
from probe_agent.store.queries import floor_hour
from probe_agent.store.rollups import rebuild_rollups

MAX_SHOWN_PROBLEMS = 50
# A result from the future would stop the agent's own daemon (its next result would not be the latest); allow for a
# little clock skew between machines.
FUTURE_SKEW_MS = 60_000
# Hours younger than this (plus the longest probe timeout) may still receive a live daemon's results: never mark them.
ROLLUP_SAFETY_MS = 2_000


class ImportRefused(Exception):
    """Nothing (more) was stored; ``problems`` holds every reason found, in file order."""

    def __init__(self, headline: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(headline)
        self.headline = headline
        self.problems = list(problems)

    def report(self, limit: int = MAX_SHOWN_PROBLEMS) -> str:
        """The headline and the first ``limit`` problems, then how many more there are."""
        lines = [self.headline, *(f"  {p}" for p in self.problems[:limit])]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


_AGENT_ID = re.compile(ID_PATTERN)


# -- checks that need no database ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedImport:
    """A file's results that passed every check needing no database: per (agent, endpoint), ``(line, result)``
    in ts order, unique per ts. ``read`` counts the results in the file, ``duplicates`` the identical repeats
    inside it (skipped)."""

    pairs: dict[tuple[str, str], list[tuple[int, ProbeResult]]]
    read: int
    duplicates: int


def _sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is not None, p.line or 0))


def parse_import(
    lines: Iterable[str], fmt: str, config: Config, *, now_ms: int, agent: str | None = None
) -> ParsedImport:
    """Read and check a result file against the config. Raises ``ImportRefused`` listing every bad line (also
    an agent id that is not a valid id, a ts more than ``FUTURE_SKEW_MS`` after ``now_ms``), every endpoint not in
    the config, and every pair of different results at one (agent, endpoint, ts)."""
    # A line without an agent is this config's vantage point (agent.id), as if the daemon had measured it.
    parsed, problems = read_results(lines, fmt, agent=agent, default_agent=config.agent.id)
    configured = {ep.id for ep in config.endpoints}
    unknown: dict[str, list[int]] = {}
    pairs: dict[tuple[str, str], dict[int, tuple[int, ProbeResult]]] = {}
    duplicates = 0
    for line, result in parsed:
        if not _AGENT_ID.match(result.agent):
            problems.append(Problem(line, f"agent: {result.agent!r} is not a valid id ({ID_PATTERN})"))
            continue
        if result.ts_ms > now_ms + FUTURE_SKEW_MS:
            problems.append(Problem(line, f"ts {iso(result.ts_ms)} is in the future (now is {iso(now_ms)})"))
            continue
        if result.endpoint not in configured:
            unknown.setdefault(result.endpoint, []).append(line)
            continue
        by_ts = pairs.setdefault((result.agent, result.endpoint), {})
        seen = by_ts.get(result.ts_ms)
        if seen is None:
            by_ts[result.ts_ms] = (line, result)
        elif seen[1].to_json() == result.to_json():
            duplicates += 1
        else:
            problems.append(
                Problem(
                    line,
                    f"conflicts with line {seen[0]}: two different results of {result.agent}/{result.endpoint} "
                    f"at {iso(result.ts_ms)}",
                )
            )
    for endpoint, at in unknown.items():
        problems.append(
            Problem(
                None,
                f"endpoint {endpoint!r} is not in the config ({len(at)} result(s), first at line {at[0]}); its "
                "fold parameters (interval, grace, confirm) come from there: add it under `endpoints:`",
            )
        )
    if problems:
        raise ImportRefused(
            f"import refused, nothing was stored: {len(problems)} problem(s)", _sorted_problems(problems)
        )
    return ParsedImport(
        {key: [by_ts[ts] for ts in sorted(by_ts)] for key, by_ts in pairs.items()}, len(parsed), duplicates
    )


# -- the fold and the store ------------------------------------------------------------------------------------


def fold_pair(
    agent: str, endpoint: str, config: Config, results: Sequence[ProbeResult], runs: Sequence[AgentRun]
) -> tuple[list[StateInterval], TimelineFold]:
    """The closed intervals and the fold of one pair as the daemon leaves them after these results (strictly
    increasing ts) and the agent's runs: ``closed + fold.pending()`` equals ``probe_agent.fold.fold(...)``.

    The same walk as ``state.fold``: a result belongs to the run with the latest start at or before its ts; a run's
    end is applied when the next result belongs to another run, or the input ends. Raises ValueError where the
    fold does (a result inside a run that already ended).
    """
    return fold_walk(agent, endpoint, FoldParams.of(config.endpoint(endpoint)), results, runs)


@dataclass(frozen=True, slots=True)
class Outage:
    """A confirmed outage in an imported pair's timeline: from its first failure to its recovery (``end_ms``),
    or to the end of the data if it was still going on then (``ongoing``)."""

    start_ms: int
    end_ms: int
    cause: str | None
    ongoing: bool


@dataclass(frozen=True, slots=True)
class PairImport:
    """What one (agent, endpoint) received: the file's ts range, results new and skipped, and the outages of its
    re-folded timeline that overlap that range."""

    agent: str
    endpoint: str
    first_ms: int
    last_ms: int
    imported: int
    skipped: int
    outages: tuple[Outage, ...]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    read: int
    imported: int
    skipped: int  # identical duplicates, in the file or already stored
    pairs: tuple[PairImport, ...]
    rollup_hours: int


@dataclass(slots=True)
class _Plan:
    agent: str
    endpoint: str
    lines: list[tuple[int, ProbeResult]]
    new: list[ProbeResult] = field(default_factory=list)
    merged: list[ProbeResult] = field(default_factory=list)
    skipped: int = 0
    seen: tuple[Any, ...] = ()  # what the pair looked like when read; the write checks it is unchanged


def _daemon_refusal(conn: sqlite3.Connection, agent: str, endpoint: str, config: Config, now_ms: int) -> str | None:
    """Why a running daemon of ``agent`` forbids importing into ``endpoint``, or None."""
    run = queries.running_daemon(conn, agent, stale_after_ms=3 * config.agent.heartbeat, now_ms=now_ms)
    if run is None:
        return None
    probed = _daemon_endpoints(conn, agent, run.started_ms, run.config_hash)
    if probed is not None and endpoint not in probed:
        return None
    return (
        f"{agent}/{endpoint}: a probe-agent running as agent {agent!r} (run {run.run_id}, pid {run.pid} on "
        f"{run.hostname}) probes this endpoint; stop it first, or import under another --agent"
    )


def _daemon_endpoints(conn: sqlite3.Connection, agent: str, since_ms: int, run_hash: str | None) -> set[str] | None:
    """The endpoint ids in the config a running daemon applied last (a reload may have changed it); None when
    that config is not on record, so the caller assumes it probes everything."""
    hashes: list[str | None] = [h for ms, h in queries.config_activations(conn, agent) if ms >= since_ms]
    last = hashes[-1] if hashes else run_hash
    raw = None if last is None else queries.config_snapshot(conn, last)
    endpoints = None if raw is None else raw.get("endpoints")
    if not isinstance(endpoints, list):
        return None
    return {str(ep.get("id")) for ep in endpoints if isinstance(ep, dict)}


def _pair_state(conn: sqlite3.Connection, agent: str, endpoint: str) -> tuple[Any, ...]:
    return (*queries.pair_extent(conn, agent, endpoint), queries.fold_state_of(conn, agent, endpoint))


def _plan(conn: sqlite3.Connection, config: Config, plan: _Plan, now_ms: int) -> list[Problem]:
    agent, endpoint = plan.agent, plan.endpoint
    refusal = _daemon_refusal(conn, agent, endpoint, config, now_ms)
    if refusal is not None:
        return [Problem(None, refusal)]
    plan.seen = _pair_state(conn, agent, endpoint)
    n_stored, first_ts, _last_ts, first_start = plan.seen[:4]
    if first_start is not None and (first_ts is None or first_start < first_ts):
        since = "all of them" if first_ts is None else f"those before {iso(first_ts)}"
        return [
            Problem(
                None,
                f"{agent}/{endpoint}: its raw results were pruned ({since}; its timeline starts "
                f"{iso(first_start)}), so its timeline cannot be re-folded with new results; import under "
                "another --agent instead",
            )
        ]
    stored = {r.ts_ms: r for r in queries.pair_results(conn, agent, endpoint)} if n_stored else {}
    problems: list[Problem] = []
    for line, result in plan.lines:
        old = stored.get(result.ts_ms)
        if old is None:
            plan.new.append(result)
        elif old.to_json() == result.to_json():
            plan.skipped += 1
        else:
            problems.append(
                Problem(
                    line,
                    f"conflicts with the stored result of {agent}/{endpoint} at {iso(result.ts_ms)} "
                    f"({old.outcome.value}, not {result.outcome.value}"
                    + (")" if old.outcome is not result.outcome else ", other details)"),
                )
            )
    plan.merged = sorted([*stored.values(), *plan.new], key=lambda r: r.ts_ms)
    return problems


def _outages(
    intervals: Iterable[StateInterval], timeline: TimelineFold, first_ms: int, last_ms: int
) -> tuple[Outage, ...]:
    spans: dict[int, tuple[int, str | None]] = {}
    for iv in intervals:
        if iv.outage_start_ms is not None:
            end, cause = spans.get(iv.outage_start_ms, (iv.end_ms, iv.cause))
            spans[iv.outage_start_ms] = (max(end, iv.end_ms), cause)
    return tuple(
        Outage(start, end, cause, timeline.phase is Phase.DOWN and timeline.outage_start_ms == start)
        for start, (end, cause) in sorted(spans.items())
        if start <= last_ms and end > first_ms
    )


def store_import(conn: sqlite3.Connection, config: Config, parsed: ParsedImport, *, now_ms: int) -> ImportSummary:
    """Merge checked results into the store (see the module docstring); returns what was done.

    Raises ``ImportRefused`` before writing anything when a pair is refused (a running daemon probes it, its raw
    results were pruned) or a result conflicts with a stored one. If a pair changes while this runs (a daemon
    started, another import), the pairs stored until then stay, and the error says so: importing the same file
    again completes it.
    """
    plans = [_Plan(agent, endpoint, lines) for (agent, endpoint), lines in sorted(parsed.pairs.items())]
    problems = [p for plan in plans for p in _plan(conn, config, plan, now_ms)]
    if problems:
        raise ImportRefused(
            f"import refused, nothing was stored: {len(problems)} problem(s)", _sorted_problems(problems)
        )
    runs = {agent: queries.runs_for(conn, agent) for agent in {plan.agent for plan in plans}}
    done: list[PairImport] = []
    for plan in plans:
        file_first, file_last = plan.lines[0][1].ts_ms, plan.lines[-1][1].ts_ms
        try:
            closed, timeline = fold_pair(plan.agent, plan.endpoint, config, plan.merged, runs[plan.agent])
        except ValueError as exc:
            raise _interrupted(f"{plan.agent}/{plan.endpoint}: {exc}", done) from None
        outages = _outages([*closed, *timeline.pending()], timeline, file_first, file_last)
        if not plan.new:  # everything already stored: the stored timeline stays as it is
            done.append(PairImport(plan.agent, plan.endpoint, file_first, file_last, 0, plan.skipped, outages))
            continue

        def guard(c: sqlite3.Connection, plan: _Plan = plan) -> None:
            if _daemon_refusal(c, plan.agent, plan.endpoint, config, now_ms) is not None or (
                _pair_state(c, plan.agent, plan.endpoint) != plan.seen
            ):
                raise _interrupted(f"{plan.agent}/{plan.endpoint} changed while importing", done)

        records.replace_timeline(
            conn, plan.agent, plan.endpoint, plan.new, closed, timeline.snapshot(), now_ms=now_ms, guard=guard
        )
        done.append(PairImport(plan.agent, plan.endpoint, file_first, file_last, len(plan.new), plan.skipped, outages))
    hours = sorted({floor_hour(r.ts_ms) for plan in plans for r in plan.new})
    if hours:
        longest_timeout = max((ep.timeout for ep in config.endpoints), default=0)
        file_end = max(r.ts_ms for plan in plans for r in plan.new) + 1
        complete = min(file_end, now_ms - longest_timeout - ROLLUP_SAFETY_MS)
        for hour in hours:
            rebuild_rollups(conn, hour, hour + HOUR_MS, complete_before_ms=complete)
    imported = sum(p.imported for p in done)
    return ImportSummary(parsed.read, imported, parsed.read - imported, tuple(done), len(hours))


def _interrupted(reason: str, done: Sequence[PairImport]) -> ImportRefused:
    stored = ", ".join(f"{p.agent}/{p.endpoint}" for p in done if p.imported) or "none"
    return ImportRefused(
        f"import stopped: {reason}. Pairs already stored: {stored}. Importing the same file again completes it "
        "(stored results are skipped)."
    )
