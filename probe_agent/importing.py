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

Memory is bounded by a batch, not the file: the file is read once, a line at a time (a big JSON Lines file parsed
by one process per core: ``import_parallel``), and its checked results are staged in a temporary SQLite file
(``store.staging``, beside the database) in batches of ``STAGE_BATCH``; sorting
there finds the in-file duplicates and conflicts and gives each pair's results in ts order. Checking against the
store, folding and writing then stream each pair: the staged and stored rows are merged a row at a time, new
results are copied from the staging file by SQL, and the fold reads the pair's results back from the store inside
its transaction, inserting intervals as they close. Nothing in the store is touched until the whole file and every
pair have passed (the staging file is what makes "nothing stored on a bad file" hold without holding the file).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from probe_agent.config.document import Config
from probe_agent.fold import FoldParams, Phase, TimelineFold, fold_walk, walk
from probe_agent.import_parallel import workers_for
from probe_agent.import_reading import (
    FUTURE_SKEW_MS,
    MAX_SHOWN_PROBLEMS,
    ImportRefused,
    ParsedImport,
    StagedPair,
    parse_import,
    refused,
    same_result,
)
from probe_agent.model import HOUR_MS, AgentRun, ProbeResult, StateInterval, iso
from probe_agent.resultfiles import Problem
from probe_agent.store import queries, records, staging, transaction
from probe_agent.store.queries import floor_hour
from probe_agent.store.rollups import build_missing_days, rebuild_rollups
from probe_agent.store.rows import FOLD_COLUMNS, fold_input_from_row

__all__ = [  # the file pass lives in import_reading; callers import both halves from here
    "FUTURE_SKEW_MS",
    "MAX_SHOWN_PROBLEMS",
    "ImportRefused",
    "ImportSummary",
    "Outage",
    "PairImport",
    "ParsedImport",
    "fold_pair",
    "parse_import",
    "store_import",
    "workers_for",
]

# Hours younger than this (plus the longest probe timeout) may still receive a live daemon's results: never mark them.
ROLLUP_SAFETY_MS = 2_000
# Staged results stored per transaction (whole pairs; a bigger pair alone): few enough that a running daemon's
# writer waits about a second at most, enough that commits (fsync) are a small part of the time.
COMMIT_RESULTS = 20_000

# ``stage(what, total)``: a context whose value counts ``total`` units of one stage of the work (the command shows
# it as progress on a terminal; the library passes nothing).
Stages = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


def _no_stage(what: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


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
    pair: StagedPair
    new: int = 0
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


@dataclass(slots=True)
class _NewHours:
    """The hours that receive new results (for the rollups; at most one entry per hour of the file's span) and
    the latest new ts."""

    hours: set[int]
    last_ms: int | None = None

    def add(self, ts_ms: int) -> None:
        self.hours.add(floor_hour(ts_ms))
        self.last_ms = ts_ms if self.last_ms is None else max(self.last_ms, ts_ms)


def _plan(
    conn: sqlite3.Connection, config: Config, parsed: ParsedImport, plan: _Plan, new_hours: _NewHours, now_ms: int
) -> list[Problem]:
    """Check one pair against the store, merging its staged rows with its stored ones a row at a time: counts
    what is new and what is already stored (identical), and returns the conflicts and refusals."""
    agent, endpoint = plan.pair.agent, plan.pair.endpoint
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
    problems: list[Problem] = []
    stored = queries.iter_pair_rows(conn, agent, endpoint)
    try:
        old = next(stored, None) if n_stored else None
        previous_ts = None
        for row in parsed.staged.rows(plan.pair.first_row, plan.pair.last_row):
            line, values = row[1], row[2:]
            ts = values[2]
            if ts == previous_ts:  # an identical in-file duplicate (checked in _group)
                continue
            previous_ts = ts
            while old is not None and old[2] < ts:
                old = next(stored, None)
            if old is None or old[2] != ts:
                plan.new += 1
                new_hours.add(ts)
            elif same_result(old, values):
                plan.skipped += 1
            else:
                problems.append(
                    Problem(
                        line,
                        f"conflicts with the stored result of {agent}/{endpoint} at {iso(ts)} "
                        f"({old[3]}, not {values[3]}" + (")" if old[3] != values[3] else ", other details)"),
                    )
                )
    finally:
        stored.close()
    return problems


class _Outages:
    """The confirmed outages of a fold's intervals, gathered as the intervals stream past (to the store): one
    entry per outage (its start: its first interval's cause, its latest end), never the intervals themselves."""

    def __init__(self) -> None:
        self._spans: dict[int, tuple[int, str | None]] = {}

    def _add(self, iv: StateInterval) -> None:
        if iv.outage_start_ms is not None:
            end, cause = self._spans.get(iv.outage_start_ms, (iv.end_ms, iv.cause))
            self._spans[iv.outage_start_ms] = (max(end, iv.end_ms), cause)

    def through(self, intervals: Iterable[StateInterval]) -> Iterator[StateInterval]:
        for iv in intervals:
            self._add(iv)
            yield iv

    def found(self, timeline: TimelineFold, first_ms: int, last_ms: int) -> tuple[Outage, ...]:
        """The outages that overlap ``[first_ms, last_ms]``, the fold's open spans included (after the walk)."""
        for iv in timeline.pending():
            self._add(iv)
        return tuple(
            Outage(start, end, cause, timeline.phase is Phase.DOWN and timeline.outage_start_ms == start)
            for start, (end, cause) in sorted(self._spans.items())
            if start <= last_ms and end > first_ms
        )


def _fold_inputs(conn: sqlite3.Connection, agent: str, endpoint: str) -> Iterator[ProbeResult]:
    """The pair's stored results in ts order as the fold reads them (``rows.fold_input_from_row``), streamed."""
    rows = queries.iter_pair_rows(conn, agent, endpoint, FOLD_COLUMNS)
    try:
        for row in rows:
            yield fold_input_from_row(row)
    finally:
        rows.close()


def _commit_groups(plans: Sequence[_Plan], size: int) -> Iterator[list[_Plan]]:
    """Consecutive plans holding about ``size`` staged results together (a big pair alone), each stored in one
    transaction: one commit (an fsync) per pair made a file of 1,000 small pairs pay 1,000 of them."""
    group: list[_Plan] = []
    held = 0
    for plan in plans:
        if group and held + plan.pair.results > size:
            yield group
            group, held = [], 0
        group.append(plan)
        held += plan.pair.results
    if group:
        yield group


def store_import(
    conn: sqlite3.Connection, config: Config, parsed: ParsedImport, *, now_ms: int, stage: Stages = _no_stage
) -> ImportSummary:
    """Merge checked results into the store (see the module docstring); returns what was done.

    Raises ``ImportRefused`` before writing anything when a pair is refused (a running daemon probes it, its raw
    results were pruned) or a result conflicts with a stored one. If a pair changes while this runs (a daemon
    started, another import), the pairs stored until then stay, and the error says so: importing the same file
    again completes it. ``stage("checking" | "storing", total)`` counts the results of each pass (progress).
    """
    plans = [_Plan(pair) for pair in parsed.pairs]
    total = sum(pair.results for pair in parsed.pairs)
    new_hours = _NewHours(set())
    problems: list[Problem] = []
    with stage("checking", total) as advance:
        for plan in plans:
            problems += _plan(conn, config, parsed, plan, new_hours, now_ms)
            advance(plan.pair.results)
    if problems:
        raise refused(problems)
    runs = {agent: queries.runs_for(conn, agent) for agent in {plan.pair.agent for plan in plans}}
    done: list[PairImport] = []
    with staging.import_cache(conn):
        staging.attach(conn, parsed.staged)
        try:
            with stage("storing", total) as advance:
                for group in _commit_groups(plans, COMMIT_RESULTS):
                    done += _store_group(conn, config, group, runs, done, now_ms)
                    advance(sum(plan.pair.results for plan in group))
        finally:
            staging.detach(conn)
        if new_hours.last_ms is not None:
            longest_timeout = max((ep.timeout for ep in config.endpoints), default=0)
            complete = min(new_hours.last_ms + 1, now_ms - longest_timeout - ROLLUP_SAFETY_MS)
            for hour in sorted(new_hours.hours):
                rebuild_rollups(conn, hour, hour + HOUR_MS, complete_before_ms=complete)
            build_missing_days(conn, now_ms)
    imported = sum(p.imported for p in done)
    return ImportSummary(parsed.read, imported, parsed.read - imported, tuple(done), len(new_hours.hours))


def _store_group(
    conn: sqlite3.Connection,
    config: Config,
    group: Sequence[_Plan],
    runs: Mapping[str, Sequence[AgentRun]],
    done: Sequence[PairImport],
    now_ms: int,
) -> list[PairImport]:
    """Store a group of checked pairs in one transaction (none, when no pair of it has new results): each pair is
    first checked to be as ``_plan`` saw it, its new results inserted, then re-folded from every result it now
    has, streamed from the store, its intervals and fold state replaced. A pair without new results is only
    re-folded to read its outages (its stored timeline stays)."""
    with transaction(conn) if any(plan.new for plan in group) else nullcontext(conn):
        return [_store_pair(conn, config, plan, runs[plan.pair.agent], done, now_ms) for plan in group]


def _store_pair(
    conn: sqlite3.Connection,
    config: Config,
    plan: _Plan,
    runs: Sequence[AgentRun],
    done: Sequence[PairImport],
    now_ms: int,
) -> PairImport:
    pair = plan.pair
    agent, endpoint = pair.agent, pair.endpoint
    timeline = TimelineFold(agent, endpoint, FoldParams.of(config.endpoint(endpoint)))
    outages = _Outages()
    try:
        if not plan.new:
            for _ in outages.through(walk(timeline, _fold_inputs(conn, agent, endpoint), runs)):
                pass
        else:
            if _daemon_refusal(conn, agent, endpoint, config, now_ms) is not None or (
                _pair_state(conn, agent, endpoint) != plan.seen
                or staging.copy_pair(conn, pair.first_row, pair.last_row) != plan.new
            ):
                raise _interrupted(f"{agent}/{endpoint} changed while importing", done)
            closed = outages.through(walk(timeline, _fold_inputs(conn, agent, endpoint), runs))
            records.refold_pair(conn, agent, endpoint, closed, timeline.snapshot, now_ms=now_ms)
    except ValueError as exc:
        raise _interrupted(f"{agent}/{endpoint}: {exc}", done) from None
    found = outages.found(timeline, pair.first_ms, pair.last_ms)
    return PairImport(agent, endpoint, pair.first_ms, pair.last_ms, plan.new, plan.skipped, found)


def _interrupted(reason: str, done: Sequence[PairImport]) -> ImportRefused:
    stored = ", ".join(f"{p.agent}/{p.endpoint}" for p in done if p.imported) or "none"
    return ImportRefused(
        f"import stopped: {reason}. Pairs already stored: {stored}. Importing the same file again completes it "
        "(stored results are skipped)."
    )
