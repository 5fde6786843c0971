"""Result counts and latency histograms over a time range, read from daily and hourly rollups where they are
complete and summed from raw results everywhere else (``rollup_sums``).

Each piece of the range is read from exactly one level: whole UTC days with a day mark from ``rollup_days``, whole
hours with an hour mark (outside those days) from ``rollups``, and the rest (the partial hours at either edge, hours
not marked) from raw results. A day is only marked while its row sums equal its 24 marked hours (``rollups.py``),
and a marked hour equals its raw results, so the answer is the raw count whatever the rollup jobs' progress (as
long as the raw results of unmarked hours are still there). A range that starts or ends inside a UTC day (an SLA
period in a zone other than UTC) reads that day's hours.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from probe_agent.model import DAY_MS, HOUR_MS
from probe_agent.store.packed_histograms import histogram_of, value_of
from probe_agent.store.queries import _endpoints_cte, _ids, ceil_hour, floor_hour, hourly_result_sums
from probe_agent.store.rows import RollupSums


def _marked(conn: sqlite3.Connection, table: str, column: str, first: int, end: int) -> set[int]:
    if first >= end:
        return set()
    rows = conn.execute(f"SELECT {column} FROM {table} WHERE {column} >= ? AND {column} < ?", (first, end))
    return {int(v) for (v,) in rows}


def rollup_sums(
    conn: sqlite3.Connection,
    start_ms: int,
    end_ms: int,
    endpoints: Sequence[str] | None = None,
    agents: Sequence[str] | None = None,
    *,
    with_histograms: bool = True,
) -> dict[tuple[str, str], RollupSums]:
    """Result counts and latency histograms over ``[start_ms, end_ms)`` per (agent, endpoint): marked days from
    ``rollup_days``, other marked whole hours from ``rollups``, the rest from raw results (module docstring).

    Cost: one row per (agent, endpoint) and day (about 30,000 rows for 1,000 endpoints and 30 days) plus the edge
    days' hours, each histogram a packed blob added as one integer. ``with_histograms=False`` (error rate only)
    skips the blobs; the histograms then stay empty.
    """
    first_full, end_full = ceil_hour(start_ms), floor_hour(end_ms)
    if first_full >= end_full:
        return _raw(conn, [(start_ms, end_ms)], endpoints, agents, with_histograms=with_histograms)
    first_day, end_day = -(-first_full // DAY_MS) * DAY_MS, end_full - end_full % DAY_MS
    days = sorted(_marked(conn, "rollup_day_marks", "day_ms", first_day, end_day))
    hours_marked = _marked(conn, "rollup_marks", "hour_ms", first_full, end_full)
    in_days = {d + h for d in days for h in range(0, DAY_MS, HOUR_MS)}
    hours = [h for h in sorted(hours_marked) if h not in in_days]
    raw_ranges = [(start_ms, first_full)]
    raw_ranges += [
        (h, h + HOUR_MS) for h in range(first_full, end_full, HOUR_MS) if h not in in_days and h not in hours_marked
    ]
    raw_ranges.append((end_full, end_ms))
    out: dict[tuple[str, str], RollupSums] = {}
    for table, column, keys in (("rollup_days", "day_ms", days), ("rollups", "hour_ms", hours)):
        if keys:
            for key, part in _level_sums(conn, table, column, keys, endpoints, agents, with_histograms).items():
                out.setdefault(key, RollupSums()).add(part)
    for key, part in _raw(conn, raw_ranges, endpoints, agents, with_histograms=with_histograms).items():
        out.setdefault(key, RollupSums()).add(part)
    return out


def _level_sums(
    conn: sqlite3.Connection,
    table: str,
    column: str,
    keys: list[int],
    endpoints: Sequence[str] | None,
    agents: Sequence[str] | None,
    with_histograms: bool,
) -> dict[tuple[str, str], RollupSums]:
    """Sums per (agent, endpoint) of the rows of ``table`` (``rollup_days`` or ``rollups``) whose ``column`` is one
    of ``keys`` (sorted): counts summed by SQLite, histogram blobs added as integers (``packed_histograms``)."""
    # Driven by the endpoint list, so each endpoint is one primary-key range (endpoint, time).
    rows_of = (
        f"WITH RECURSIVE {_endpoints_cte(table, with_endpoints=endpoints is not None)}, "
        f"wanted(t) AS (SELECT value FROM json_each(:keys)) "
        "SELECT r.* FROM eps JOIN {table} r ON r.endpoint = eps.endpoint "
        f"AND r.{column} >= :first AND r.{column} <= :last "
        f"WHERE r.{column} IN wanted AND (:agents IS NULL OR r.agent IN (SELECT value FROM json_each(:agents)))"
    ).replace("{table}", table)
    params = {
        "first": keys[0],
        "last": keys[-1],
        "keys": json.dumps(keys),
        "endpoints": _ids(endpoints),
        "agents": _ids(agents),
    }
    out: dict[tuple[str, str], RollupSums] = {}
    counts = conn.execute(
        f"SELECT agent, endpoint, sum(n_up), sum(n_degraded), sum(n_down), sum(n_unknown), sum(n_recheck) "
        f"FROM ({rows_of}) GROUP BY agent, endpoint",
        params,
    )
    for agent, endpoint, n_up, n_degraded, n_down, n_unknown, n_recheck in counts:
        out[(agent, endpoint)] = RollupSums(n_up, n_degraded, n_down, n_unknown, n_recheck)
    if with_histograms:
        values: dict[tuple[str, str], int] = {}
        for agent, endpoint, blob in conn.execute(f"SELECT agent, endpoint, histogram FROM ({rows_of})", params):
            values[(agent, endpoint)] = values.get((agent, endpoint), 0) + value_of(blob)
        for key, value in values.items():
            out[key].histogram = histogram_of(value)
    return out


def _raw(
    conn: sqlite3.Connection,
    ranges: list[tuple[int, int]],
    endpoints: Sequence[str] | None,
    agents: Sequence[str] | None,
    *,
    with_histograms: bool,
) -> dict[tuple[str, str], RollupSums]:
    """Raw results' sums per (agent, endpoint) over ``ranges`` (adjacent ranges read as one)."""
    out: dict[tuple[str, str], RollupSums] = {}
    for lo, hi in _coalesce(ranges):
        raw = hourly_result_sums(conn, lo, hi, endpoints, agents, with_histograms=with_histograms)
        for (agent, endpoint, _hour), part in raw.items():
            out.setdefault((agent, endpoint), RollupSums()).add(part)
    return out


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if hi <= lo:
            continue
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
