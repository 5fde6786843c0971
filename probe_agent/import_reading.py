"""``import``'s one pass over a result file: every line read, parsed and checked against the config, one at a time,
and the good results staged (``store.staging``) in batches, so memory holds a batch and never the file.

What it checks needs no database: each record's schema (``resultfiles``), the agent id, a ts in the future, the
endpoint being configured, and two different results at one (agent, endpoint, ts) in the file (found after
sorting the staging file, where they sit next to each other). Every problem is collected, with its line, and
``ImportRefused`` lists them all: nothing reaches the store from a file with one bad line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from probe_agent.config.document import Config
from probe_agent.config.schema import ID_PATTERN
from probe_agent.model import ProbeResult, iso
from probe_agent.resultfiles import Problem, stream_results
from probe_agent.store import staging
from probe_agent.store.rows import ResultRow, result_from_row, result_row

MAX_SHOWN_PROBLEMS = 50
# A result from the future would stop the agent's own daemon (its next result would not be the latest); allow for a
# little clock skew between machines.
FUTURE_SKEW_MS = 60_000
# Results held in memory at once while reading: one executemany into the staging file. Big enough that the insert's
# per-call cost vanishes, small enough (a few MB) that memory does not depend on the file.
STAGE_BATCH = 5_000


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


def refused(problems: Iterable[Problem]) -> ImportRefused:
    ordered = sorted(problems, key=lambda p: (p.line is not None, p.line or 0))
    return ImportRefused(f"import refused, nothing was stored: {len(ordered)} problem(s)", ordered)


# -- the file, read once: checks that need no database ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagedPair:
    """One (agent, endpoint) of the file: its staged rows ``first_row..last_row`` (ts order; an identical
    in-file duplicate right after the row it repeats), ``results`` distinct ts from ``first_ms`` to ``last_ms``."""

    agent: str
    endpoint: str
    first_row: int
    last_row: int
    results: int
    first_ms: int
    last_ms: int


@dataclass(slots=True)
class ParsedImport:
    """A file's results that passed every check needing no database, staged (``store.staging``) and grouped into
    ``pairs`` (sorted by agent, endpoint). ``read`` counts the results in the file, ``duplicates`` the identical
    repeats inside it (skipped). Owns the staging file: use it as a context manager, or ``close()`` it."""

    staged: staging.Staging
    pairs: tuple[StagedPair, ...]
    read: int
    duplicates: int

    def close(self) -> None:
        self.staged.close()

    def __enter__(self) -> ParsedImport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def parse_import(
    lines: Iterable[str],
    fmt: str,
    config: Config,
    *,
    now_ms: int,
    agent: str | None = None,
    stage_dir: Path | None = None,
    batch: int = STAGE_BATCH,
    workers: int = 1,
) -> ParsedImport:
    """Read and check a result file against the config, a line at a time, staging the good results in a temporary
    file in ``stage_dir`` (default: the system's) ``batch`` at a time. Raises ``ImportRefused`` listing every bad
    line (also an agent id that is not a valid id, a ts more than ``FUTURE_SKEW_MS`` after ``now_ms``), every
    endpoint not in the config, and every pair of different results at one (agent, endpoint, ts).

    ``workers`` > 1 parses JSON Lines in that many processes (``import_parallel``), the same checks with the
    same outcome; CSV is always read here (a quoted cell may span lines, so it cannot be cut anywhere)."""
    checks = Checks(frozenset(ep.id for ep in config.endpoints), agent, config.agent.id, now_ms)
    staged = staging.Staging(stage_dir)
    try:
        if workers > 1 and fmt == "jsonl":
            from probe_agent.import_parallel import stage_in_processes

            checked = stage_in_processes(staged, lines, checks, workers)
        else:
            checked = _stage(staged, lines, fmt, checks, batch)
        problems = checked.problems + checked.unknown_problems()
        staged.sort()
        pairs, duplicates = _group(staged, problems)
        if problems:
            raise refused(problems)
    except BaseException:
        staged.close()
        raise
    return ParsedImport(staged, pairs, checked.read, duplicates)


@dataclass(frozen=True, slots=True)
class Checks:
    """What each result is checked against (a parsing process gets a copy): the configured endpoint ids, the
    ``--agent`` override, the vantage point of a line without one (``agent.id``), and now (for the future)."""

    configured: frozenset[str]
    agent: str | None
    default_agent: str
    now_ms: int


@dataclass(slots=True)
class Checked:
    """Lines checked so far: good results as staging rows (``(line, rows.result_row)``; the caller stages and
    clears them), problems, results read, and the endpoints missing from the config (endpoint -> (results, first
    line))."""

    rows: list[tuple[int, ResultRow]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    read: int = 0
    unknown: dict[str, tuple[int, int]] = field(default_factory=dict)

    def check(self, item: tuple[int, ProbeResult] | Problem, checks: Checks) -> None:
        """One parsed record (``resultfiles.stream_results``) checked."""
        if isinstance(item, Problem):
            self.problems.append(item)
            return
        line, result = item
        self.read += 1
        if not _AGENT_ID.match(result.agent):
            self.problems.append(Problem(line, f"agent: {result.agent!r} is not a valid id ({ID_PATTERN})"))
        elif result.ts_ms > checks.now_ms + FUTURE_SKEW_MS:
            now = iso(checks.now_ms)
            self.problems.append(Problem(line, f"ts {iso(result.ts_ms)} is in the future (now is {now})"))
        elif result.endpoint not in checks.configured:
            n, first = self.unknown.get(result.endpoint, (0, line))
            self.unknown[result.endpoint] = (n + 1, first)
        else:
            self.rows.append((line, result_row(result, None)))

    def absorb(self, later: Checked) -> None:
        """Add the problems, counts and unknown endpoints of the lines after these (not its rows)."""
        self.problems += later.problems
        self.read += later.read
        for endpoint, (n, first) in later.unknown.items():
            had, first_before = self.unknown.get(endpoint, (0, first))
            self.unknown[endpoint] = (had + n, first_before)

    def unknown_problems(self) -> list[Problem]:
        return [
            Problem(
                None,
                f"endpoint {endpoint!r} is not in the config ({n} result(s), first at line {first}); its "
                "fold parameters (interval, grace, confirm) come from there: add it under `endpoints:`",
            )
            for endpoint, (n, first) in self.unknown.items()
        ]


def _records(checks: Checks, lines: Iterable[str], fmt: str, first_line: int = 1) -> Iterator[Any]:
    # A line without an agent is this config's vantage point (agent.id), as if the daemon had measured it.
    return stream_results(lines, fmt, agent=checks.agent, default_agent=checks.default_agent, first_line=first_line)


def check_chunk(checks: Checks, first_line: int, lines: Sequence[str]) -> Checked:
    """Consecutive JSON Lines, the first of them numbered ``first_line``, parsed and checked (in a parsing process,
    ``import_parallel``); every good row is in the answer."""
    out = Checked()
    for item in _records(checks, lines, "jsonl", first_line):
        out.check(item, checks)
    return out


def _stage(staged: staging.Staging, lines: Iterable[str], fmt: str, checks: Checks, batch: int) -> Checked:
    """The one pass over the file, in this process: each good result checked and staged ``batch`` at a time."""
    checked = Checked()
    for item in _records(checks, lines, fmt):
        checked.check(item, checks)
        if len(checked.rows) >= batch:
            staged.add(checked.rows)
            checked.rows.clear()
    staged.add(checked.rows)
    checked.rows.clear()
    return checked


def same_result(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two result rows (``RESULT_COLUMNS`` order, from index 0) are the same result as the result schema
    writes it: equal rows are; else their JSON decides (it rounds latency to 3 decimals, as today's files have it)."""
    return a[:11] == b[:11] or result_from_row(a).to_json() == result_from_row(b).to_json()


def _group(staged: staging.Staging, problems: list[Problem]) -> tuple[tuple[StagedPair, ...], int]:
    """One pass over the sorted staging rows: the pairs, and the in-file duplicates (identical: counted; different:
    a problem naming the line it conflicts with). Holds one row and one pair at a time."""
    pairs: list[StagedPair] = []
    duplicates = 0
    key: tuple[str, str] | None = None
    first_row = last_row = n = first_ms = 0
    kept: staging.StagedRow = ()  # the first row at the current ts: the one a later line repeats or conflicts with
    for row in staged.rows():
        rowid, line, values = row[0], row[1], row[2:]
        if (values[0], values[1]) != key:
            if key is not None:
                pairs.append(StagedPair(*key, first_row, last_row, n, first_ms, kept[4]))
            key, first_row, n, first_ms, kept = (values[0], values[1]), rowid, 0, values[2], ()
        last_row = rowid
        if kept and kept[4] == values[2]:
            if same_result(kept[2:], values):
                duplicates += 1
            else:
                problems.append(
                    Problem(
                        line,
                        f"conflicts with line {kept[1]}: two different results of {values[0]}/{values[1]} "
                        f"at {iso(values[2])}",
                    )
                )
            continue
        kept = row
        n += 1
    if key is not None:
        pairs.append(StagedPair(*key, first_row, last_row, n, first_ms, kept[4]))
    return tuple(pairs), duplicates
