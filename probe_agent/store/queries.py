"""Every read of the store. Functions take an open connection (``open_db(path, readonly=True)`` for CLI readers).

Endpoint and agent filters are sequences of ids (None = all). Time ranges are half-open ``[start_ms, end_ms)``.
Reads that need one consistent view across several calls can wrap them in ``schema.snapshot(conn)``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from probe_agent.latency import bucket_of
from probe_agent.model import HOUR_MS, AgentRun, ProbeResult, StateInterval
from probe_agent.store.rows import (
    INTERVAL_COLUMNS,
    RESULT_COLUMNS,
    ClosedCycle,
    Exclusion,
    RollupSums,
    RunRecord,
    interval_from_row,
    result_from_row,
)

_RUN_COLUMNS = "run_id, agent, started_ms, heartbeat_ms, stopped_ms, clean, pid, hostname, version, config_hash"


def floor_hour(ms: int) -> int:
    return ms - ms % HOUR_MS


def ceil_hour(ms: int) -> int:
    return -(-ms // HOUR_MS) * HOUR_MS


def _ids(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _endpoints_cte(table: str, *, with_endpoints: bool) -> str:
    """CTE text ``eps(endpoint)``: the ``:endpoints`` JSON list, or every endpoint in ``table`` found by hopping
    through its endpoint-first index with MIN(...) > previous (a loose index scan: O(endpoints x log rows),
    however long the history). Endpoint may be NULL in one row (the end marker); filter it."""
    if with_endpoints:
        return "eps(endpoint) AS (SELECT DISTINCT value FROM json_each(:endpoints))"
    return (
        f"eps(endpoint) AS (SELECT MIN(endpoint) FROM {table} UNION ALL "
        f"SELECT (SELECT MIN(endpoint) FROM {table} WHERE endpoint > eps.endpoint) FROM eps "
        "WHERE eps.endpoint IS NOT NULL)"
    )


def _pairs_cte(table: str, *, with_endpoints: bool) -> str:
    """A recursive CTE ``pairs(endpoint, agent)`` of the distinct pairs in ``table`` (a loose index scan, as in
    ``_endpoints_cte``); ``agent`` is NULL in end-marker rows."""
    eps = _endpoints_cte(table, with_endpoints=with_endpoints)
    return (
        f"WITH RECURSIVE {eps}, "
        "pairs(endpoint, agent) AS ("
        f"SELECT endpoint, (SELECT MIN(agent) FROM {table} t WHERE t.endpoint = eps.endpoint) FROM eps "
        "WHERE eps.endpoint IS NOT NULL UNION ALL "
        f"SELECT endpoint, (SELECT MIN(agent) FROM {table} t WHERE t.endpoint = pairs.endpoint "
        "AND t.agent > pairs.agent) FROM pairs WHERE pairs.agent IS NOT NULL) "
    )


# -- timelines -------------------------------------------------------------------------------------------------


def intervals_overlapping(
    conn: sqlite3.Connection,
    start_ms: int,
    end_ms: int,
    endpoints: Sequence[str] | None = None,
    agents: Sequence[str] | None = None,
) -> list[StateInterval]:
    """Stored intervals that overlap ``[start_ms, end_ms)``, unclipped, ordered by (endpoint, agent, start).

    Intervals of one (agent, endpoint) never overlap, so the first candidate is the last one starting at or
    before ``start_ms``; every index range read is bounded by the query window, not by the history.
    """
    sql = (
        _pairs_cte("intervals", with_endpoints=endpoints is not None)
        + f"SELECT {', '.join('i.' + c.strip() for c in INTERVAL_COLUMNS.split(','))} FROM pairs "
        "JOIN intervals i ON i.endpoint = pairs.endpoint AND i.agent = pairs.agent "
        "WHERE pairs.agent IS NOT NULL "
        "AND (:agents IS NULL OR pairs.agent IN (SELECT value FROM json_each(:agents))) "
        "AND i.start_ms >= coalesce((SELECT max(j.start_ms) FROM intervals j WHERE j.endpoint = pairs.endpoint "
        "AND j.agent = pairs.agent AND j.start_ms <= :start), :start) "
        "AND i.start_ms < :end AND i.end_ms > :start "
        "ORDER BY i.endpoint, i.agent, i.start_ms"
    )
    params = {"endpoints": _ids(endpoints), "agents": _ids(agents), "start": start_ms, "end": end_ms}
    return [interval_from_row(row) for row in conn.execute(sql, params)]


def fold_states(conn: sqlite3.Connection, agent: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The saved fold snapshots, keyed by (agent, endpoint)."""
    rows = conn.execute("SELECT agent, endpoint, snapshot FROM fold_state WHERE ? IS NULL OR agent = ?", (agent, agent))
    return {(str(a), str(e)): json.loads(snap) for a, e, snap in rows}


# -- raw results -----------------------------------------------------------------------------------------------


def last_results(
    conn: sqlite3.Connection, endpoints: Sequence[str] | None = None, agents: Sequence[str] | None = None
) -> dict[tuple[str, str], ProbeResult]:
    """The newest stored result of each (agent, endpoint)."""
    sql = (
        _pairs_cte("results", with_endpoints=endpoints is not None)
        + f"SELECT {', '.join('r.' + c.strip() for c in RESULT_COLUMNS.split(','))} FROM pairs "
        "JOIN results r ON r.endpoint = pairs.endpoint AND r.agent = pairs.agent "
        "AND r.ts_ms = (SELECT max(x.ts_ms) FROM results x WHERE x.endpoint = pairs.endpoint "
        "AND x.agent = pairs.agent) "
        "WHERE pairs.agent IS NOT NULL AND (:agents IS NULL OR pairs.agent IN (SELECT value FROM json_each(:agents)))"
    )
    out: dict[tuple[str, str], ProbeResult] = {}
    for row in conn.execute(sql, {"endpoints": _ids(endpoints), "agents": _ids(agents)}):
        result = result_from_row(row)
        out[(result.agent, result.endpoint)] = result
    return out


def iter_results(
    conn: sqlite3.Connection,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    endpoints: Sequence[str] | None = None,
    agents: Sequence[str] | None = None,
) -> Iterator[ProbeResult]:
    """Stream stored results in ``(ts_ms, insertion)`` order, one row at a time (for export and evidence).

    The underlying read stays open while the iterator is consumed; finish or close it promptly on a live store.
    """
    sql = (
        f"SELECT {RESULT_COLUMNS} FROM results INDEXED BY results_ts "
        "WHERE ts_ms >= coalesce(:start, -9223372036854775808) AND ts_ms < coalesce(:end, 9223372036854775807) "
        "AND (:endpoints IS NULL OR endpoint IN (SELECT value FROM json_each(:endpoints))) "
        "AND (:agents IS NULL OR agent IN (SELECT value FROM json_each(:agents))) "
        "ORDER BY ts_ms, id"
    )
    params = {"start": start_ms, "end": end_ms, "endpoints": _ids(endpoints), "agents": _ids(agents)}
    cursor = conn.execute(sql, params)
    try:
        for row in cursor:
            yield result_from_row(row)
    finally:
        cursor.close()


def hourly_result_sums(
    conn: sqlite3.Connection,
    start_ms: int,
    end_ms: int,
    endpoints: Sequence[str] | None = None,
    agents: Sequence[str] | None = None,
    *,
    with_histograms: bool = True,
) -> dict[tuple[str, str, int], RollupSums]:
    """Sums of raw results with ts in ``[start_ms, end_ms)``, keyed by (agent, endpoint, hour start).

    Counts follow ``RollupSums``; results without a latency do not enter the histogram.
    """
    conn.create_function("probe_latency_bucket", 1, bucket_of, deterministic=True)
    where = (
        "FROM results INDEXED BY results_ts WHERE ts_ms >= :start AND ts_ms < :end "
        "AND (:endpoints IS NULL OR endpoint IN (SELECT value FROM json_each(:endpoints))) "
        "AND (:agents IS NULL OR agent IN (SELECT value FROM json_each(:agents))) "
    )
    params = {"start": start_ms, "end": end_ms, "endpoints": _ids(endpoints), "agents": _ids(agents)}
    hour = f"ts_ms - ts_ms % {HOUR_MS}"
    out: dict[tuple[str, str, int], RollupSums] = {}
    counts = conn.execute(
        f"SELECT agent, endpoint, {hour} AS hour, "
        "sum(outcome = 'up' AND NOT recheck), sum(outcome = 'degraded' AND NOT recheck), "
        "sum(outcome = 'down' AND NOT recheck), sum(outcome = 'unknown' AND NOT recheck), sum(recheck) "
        f"{where} GROUP BY agent, endpoint, hour",
        params,
    )
    for agent, endpoint, hour_ms, n_up, n_degraded, n_down, n_unknown, n_recheck in counts:
        out[(agent, endpoint, hour_ms)] = RollupSums(n_up, n_degraded, n_down, n_unknown, n_recheck)
    if not with_histograms:
        return out
    buckets = conn.execute(
        f"SELECT agent, endpoint, {hour} AS hour, probe_latency_bucket(latency_ms) AS bucket, count(*) "
        f"{where} AND outcome IN ('up', 'degraded') AND latency_ms IS NOT NULL GROUP BY agent, endpoint, hour, bucket",
        params,
    )
    for agent, endpoint, hour_ms, bucket, n in buckets:
        out[(agent, endpoint, hour_ms)].histogram.counts[int(bucket)] = int(n)
    return out


# -- runs ------------------------------------------------------------------------------------------------------


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    run_id, agent, started, heartbeat, stopped, clean, pid, host, version, config_hash = row
    return RunRecord(
        run_id, agent, started, heartbeat, stopped, None if clean is None else bool(clean), pid, host, version,
        config_hash,
    )  # fmt: skip


def run_records(conn: sqlite3.Connection, agent: str | None = None) -> list[RunRecord]:
    """The stored runs (of one agent, or all), oldest first."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE ? IS NULL OR agent = ? ORDER BY started_ms, run_id", (agent, agent)
    )
    return [_run_record(row) for row in rows]


def runs_for(
    conn: sqlite3.Connection, agent: str, *, now_ms: int | None = None, stale_after_ms: int | None = None
) -> list[AgentRun]:
    """The agent's runs as the measurement fold sees them, oldest first.

    A stopped run ends at ``stopped_ms``. A run that never stopped is live (``end_ms`` None) unless ``now_ms``
    and ``stale_after_ms`` are given and its heartbeat is older than that: then it is a crashed run not yet
    closed by ``close_stale_runs``, unclean, ending where that will end it: at its last sign of life, the later of
    its last heartbeat and its last stored result.
    """
    runs: list[AgentRun] = []
    for rec in run_records(conn, agent):
        if rec.stopped_ms is not None:
            runs.append(AgentRun(rec.run_id, rec.agent, rec.started_ms, rec.stopped_ms, rec.clean))
        elif now_ms is not None and stale_after_ms is not None and rec.heartbeat_ms < now_ms - stale_after_ms:
            end = max(rec.heartbeat_ms, _last_result_after(conn, rec.run_id, rec.heartbeat_ms) or rec.heartbeat_ms)
            runs.append(AgentRun(rec.run_id, rec.agent, rec.started_ms, end, False))
        else:
            runs.append(AgentRun(rec.run_id, rec.agent, rec.started_ms, None, None))
    return runs


def _last_result_after(conn: sqlite3.Connection, run_id: int, after_ms: int) -> int | None:
    """The newest ts of ``run_id``'s results stored at or after ``after_ms`` (a range of the ts index: results
    have no run index, and only those after the last heartbeat can move a crashed run's end), or None."""
    row = conn.execute(
        "SELECT max(ts_ms) FROM results INDEXED BY results_ts WHERE ts_ms >= ? AND run_id = ?", (after_ms, run_id)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def running_daemon(conn: sqlite3.Connection, agent: str, stale_after_ms: int, now_ms: int) -> RunRecord | None:
    """The newest run of ``agent`` that has not stopped and whose heartbeat is within ``stale_after_ms``."""
    row = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE agent = ? AND stopped_ms IS NULL AND heartbeat_ms >= ? "
        "ORDER BY heartbeat_ms DESC, run_id DESC LIMIT 1",
        (agent, now_ms - stale_after_ms),
    ).fetchone()
    return None if row is None else _run_record(row)


# -- SLA records -----------------------------------------------------------------------------------------------


def exclusions(
    conn: sqlite3.Connection,
    *,
    include_revoked: bool = False,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Exclusion]:
    """Exclusions in id order: active ones (not revoked) unless ``include_revoked``; optionally only those
    overlapping ``[start_ms, end_ms)``."""
    rows = conn.execute(
        "SELECT id, scope_kind, scope_id, start_ms, end_ms, kind, reason, author, created_ms, revoked_ms, "
        "revoked_by FROM exclusions WHERE (:all OR revoked_ms IS NULL) "
        "AND (:end IS NULL OR start_ms < :end) AND (:start IS NULL OR end_ms > :start) ORDER BY id",
        {"all": include_revoked, "start": start_ms, "end": end_ms},
    )
    return [Exclusion(*row) for row in rows]


def closed_cycle(conn: sqlite3.Connection, sla: str, cycle_start_ms: int) -> ClosedCycle | None:
    """The closed cycle of ``sla`` starting at ``cycle_start_ms``, or None if it is not closed."""
    row = conn.execute(
        "SELECT sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, credit FROM closed_cycles "
        "WHERE sla = ? AND cycle_start_ms = ?",
        (sla, cycle_start_ms),
    ).fetchone()
    if row is None:
        return None
    return _closed_cycle(row)


def closed_cycles(conn: sqlite3.Connection, sla: str | None = None) -> list[ClosedCycle]:
    """All closed cycles (of one SLA, or all), by SLA then start."""
    rows = conn.execute(
        "SELECT sla, cycle_start_ms, cycle_end_ms, closed_ms, inputs_hash, report, credit FROM closed_cycles "
        "WHERE ? IS NULL OR sla = ? ORDER BY sla, cycle_start_ms",
        (sla, sla),
    )
    return [_closed_cycle(row) for row in rows]


def _closed_cycle(row: tuple[Any, ...]) -> ClosedCycle:
    sla, start_ms, end_ms, closed_ms, inputs_hash, report, credit = row
    return ClosedCycle(sla, start_ms, end_ms, closed_ms, inputs_hash, json.loads(report), json.loads(credit))


def config_snapshot(conn: sqlite3.Connection, config_hash: str) -> dict[str, Any] | None:
    """The stored config (secrets removed) for a hash."""
    row = conn.execute("SELECT config FROM config_snapshots WHERE hash = ?", (config_hash,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def config_activations(conn: sqlite3.Connection, agent: str) -> list[tuple[int, str]]:
    """(effective_ms, hash) of each time a config took effect for ``agent``, oldest first."""
    rows = conn.execute(
        "SELECT effective_ms, hash FROM config_activations WHERE agent = ? ORDER BY effective_ms, id", (agent,)
    )
    return [(int(ms), str(h)) for ms, h in rows]


def first_interval_start(conn: sqlite3.Connection, endpoints: Sequence[str]) -> int | None:
    """When monitoring of any of ``endpoints`` began (the earliest stored interval, any agent), or None."""
    row = conn.execute(
        "SELECT min(start_ms) FROM intervals WHERE endpoint IN (SELECT value FROM json_each(?))",
        (json.dumps(list(endpoints)),),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


# -- import ----------------------------------------------------------------------------------------------------


def pair_results(conn: sqlite3.Connection, agent: str, endpoint: str) -> list[ProbeResult]:
    """Every stored result of one (agent, endpoint), in ts order (one range of the endpoint-first unique index)."""
    rows = conn.execute(
        f"SELECT {RESULT_COLUMNS} FROM results INDEXED BY results_endpoint_agent_ts "
        "WHERE endpoint = ? AND agent = ? ORDER BY ts_ms",
        (endpoint, agent),
    )
    return [result_from_row(row) for row in rows]


def iter_pair_rows(
    conn: sqlite3.Connection, agent: str, endpoint: str, columns: str = RESULT_COLUMNS
) -> Generator[tuple[Any, ...], None, None]:
    """``pair_results`` as raw rows of ``columns`` (``RESULT_COLUMNS``: ``rows.result_from_row`` decodes one;
    ``rows.FOLD_COLUMNS``: ``rows.fold_input_from_row``), streamed: one row at a time, so a pair of any size fits
    in memory (``import``). Close it if not consumed to the end."""
    cursor = conn.execute(
        f"SELECT {columns} FROM results INDEXED BY results_endpoint_agent_ts "
        "WHERE endpoint = ? AND agent = ? ORDER BY ts_ms",
        (endpoint, agent),
    )
    try:
        yield from cursor
    finally:
        cursor.close()


def pair_extent(conn: sqlite3.Connection, agent: str, endpoint: str) -> tuple[int, int | None, int | None, int | None]:
    """``(result count, first result ts, last result ts, first interval start)`` of one (agent, endpoint).

    A first interval that starts before the first result means raw results were pruned (the fold starts every
    timeline at a result). None where there is no row.
    """
    n, first_ts, last_ts = conn.execute(
        "SELECT count(*), min(ts_ms), max(ts_ms) FROM results WHERE endpoint = ? AND agent = ?", (endpoint, agent)
    ).fetchone()
    (first_start,) = conn.execute(
        "SELECT min(start_ms) FROM intervals WHERE endpoint = ? AND agent = ?", (endpoint, agent)
    ).fetchone()
    return int(n), first_ts, last_ts, first_start


def fold_state_of(conn: sqlite3.Connection, agent: str, endpoint: str) -> dict[str, Any] | None:
    """The saved fold snapshot of one (agent, endpoint), or None."""
    row = conn.execute("SELECT snapshot FROM fold_state WHERE agent = ? AND endpoint = ?", (agent, endpoint)).fetchone()
    return None if row is None else dict(json.loads(row[0]))
