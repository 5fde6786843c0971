"""``import``'s one pass over a result file: every line read, parsed and checked against the config, one at a time,
and the good results staged (``store.staging``) in batches, so memory holds a batch and never the file.

What it checks needs no database: each record's schema (``resultfiles``), the agent id, a ts in the future, the
endpoint being configured, and two different results at one (agent, endpoint, ts) in the file (found after
sorting the staging file, where they sit next to each other). Every problem is collected, with its line, and
``ImportRefused`` lists them all: nothing reaches the store from a file with one bad line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from probe_agent.config.document import Config
from probe_agent.config.schema import ID_PATTERN
from probe_agent.model import iso
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
) -> ParsedImport:
    """Read and check a result file against the config, a line at a time, staging the good results in a temporary
    file in ``stage_dir`` (default: the system's) ``batch`` at a time. Raises ``ImportRefused`` listing every bad
    line (also an agent id that is not a valid id, a ts more than ``FUTURE_SKEW_MS`` after ``now_ms``), every
    endpoint not in the config, and every pair of different results at one (agent, endpoint, ts)."""
    staged = staging.Staging(stage_dir)
    try:
        read, problems = _stage(staged, lines, fmt, config, now_ms=now_ms, agent=agent, batch=batch)
        staged.sort()
        pairs, duplicates = _group(staged, problems)
        if problems:
            raise refused(problems)
    except BaseException:
        staged.close()
        raise
    return ParsedImport(staged, pairs, read, duplicates)


def _stage(
    staged: staging.Staging,
    lines: Iterable[str],
    fmt: str,
    config: Config,
    *,
    now_ms: int,
    agent: str | None,
    batch: int,
) -> tuple[int, list[Problem]]:
    """The one pass over the file: each good result checked and staged; returns (results read, problems)."""
    # A line without an agent is this config's vantage point (agent.id), as if the daemon had measured it.
    configured = {ep.id for ep in config.endpoints}
    unknown: dict[str, tuple[int, int]] = {}  # endpoint -> (results, first line)
    problems: list[Problem] = []
    rows: list[tuple[int, ResultRow]] = []
    read = 0
    for item in stream_results(lines, fmt, agent=agent, default_agent=config.agent.id):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        line, result = item
        read += 1
        if not _AGENT_ID.match(result.agent):
            problems.append(Problem(line, f"agent: {result.agent!r} is not a valid id ({ID_PATTERN})"))
        elif result.ts_ms > now_ms + FUTURE_SKEW_MS:
            problems.append(Problem(line, f"ts {iso(result.ts_ms)} is in the future (now is {iso(now_ms)})"))
        elif result.endpoint not in configured:
            n, first = unknown.get(result.endpoint, (0, line))
            unknown[result.endpoint] = (n + 1, first)
        else:
            rows.append((line, result_row(result, None)))
            if len(rows) >= batch:
                staged.add(rows)
                rows.clear()
    staged.add(rows)
    for endpoint, (n, first) in unknown.items():
        problems.append(
            Problem(
                None,
                f"endpoint {endpoint!r} is not in the config ({n} result(s), first at line {first}); its "
                "fold parameters (interval, grace, confirm) come from there: add it under `endpoints:`",
            )
        )
    return read, problems


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
