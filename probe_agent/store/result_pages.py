"""Stored results in bounded pages, for readers that cannot hold one read open for as long as they stream.

``queries.iter_results`` keeps one statement (and its read transaction) open until the last row is taken: right for
``export`` writing a file, wrong for an HTTP client reading a year of results slowly, whose open read would keep
the daemon's WAL from being checkpointed for as long. Here each page is its own statement: at most ``limit``
results, in the order ``iter_results`` gives (``ts_ms``, then insertion), and a ``ResultKey`` to resume after.

Pages are read apart, so together they are not one snapshot: a result stored while the pages are read appears if
its key is after the page already read (the daemon's new results are), and not if before (an import of older
results). Over a store nobody writes, the pages joined are exactly ``iter_results`` over the same range.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from probe_agent.model import ProbeResult
from probe_agent.store.rows import RESULT_COLUMNS, result_from_row


@dataclass(frozen=True, slots=True)
class ResultKey:
    """Where a page ended: the last result's ``ts_ms`` and row id (ties in ``ts_ms`` are ordered by row id)."""

    ts_ms: int
    row_id: int


def results_page(
    conn: sqlite3.Connection,
    *,
    start_ms: int,
    end_ms: int,
    endpoints: Sequence[str] | None = None,
    agents: Sequence[str] | None = None,
    after: ResultKey | None = None,
    limit: int = 1000,
) -> tuple[list[ProbeResult], ResultKey | None]:
    """Results with ts in ``[start_ms, end_ms)`` after ``after`` (None: from the start), at most ``limit`` of them.

    Returns them and the key to pass as ``after`` for the next page, or None when this page was the last (fewer
    than ``limit`` rows came back). Endpoint and agent filters are id lists (None = all).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    # The ts index holds (ts_ms, rowid) in order, so this seeks to the resume point and reads forward: no sort.
    sql = (
        f"SELECT id, {RESULT_COLUMNS} FROM results INDEXED BY results_ts "
        "WHERE ts_ms >= :lo AND ts_ms < :end AND (ts_ms > :after_ts OR id > :after_id) "
        "AND (:endpoints IS NULL OR endpoint IN (SELECT value FROM json_each(:endpoints))) "
        "AND (:agents IS NULL OR agent IN (SELECT value FROM json_each(:agents))) "
        "ORDER BY ts_ms, id LIMIT :limit"
    )
    params = {
        "lo": start_ms if after is None else max(start_ms, after.ts_ms),
        "end": end_ms,
        # Without a resume point every row passes: ts_ms is above the smallest 64-bit integer.
        "after_ts": -(2**63) if after is None else after.ts_ms,
        "after_id": -(2**63) if after is None else after.row_id,
        "endpoints": None if endpoints is None else json.dumps(list(endpoints)),
        "agents": None if agents is None else json.dumps(list(agents)),
        "limit": limit,
    }
    rows = conn.execute(sql, params).fetchall()
    results = [result_from_row(row[1:]) for row in rows]
    if len(rows) < limit:
        return results, None
    return results, ResultKey(rows[-1][3], rows[-1][0])
