"""Reading timelines for reports: the stored (closed) intervals plus each fold's open spans, cut at ``now``.

The daemon writes an interval when it closes; the span still growing (and a suspect run not yet resolved) lives in
the fold snapshot. A report "as of now" needs both: ``pending()`` of a resumed fold gives the open spans without
changing anything, and they are cut at ``now`` (a result speaks for at most interval + grace; past that is
``no_data`` anyway). A suspect run is shown as up until it is confirmed, exactly as the fold will resolve it if
the next probe passes.

When the agent run that stored a fold's last result is over (stopped, or crashed: its heartbeat is older than
``STALE_HEARTBEATS`` heartbeats, the daemon's own test for a dead run), the open spans are also cut at that run's
end, as the next start-up will cut them (``TimelineFold.end_run``): a dead agent's last result never speaks past
its last sign of life, so a report (or a ``cycle close``) before the restart gives the figures the restart will.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from probe_agent.config.document import Config
from probe_agent.fold import FoldParams, TimelineFold
from probe_agent.model import AgentRun, StateInterval
from probe_agent.store import queries
from probe_agent.store.schema import snapshot

# A run whose heartbeat is older than this many heartbeats is dead (daemon.py refuses to start next to a younger
# one, status.py calls it not running): its end is its last sign of life.
STALE_HEARTBEATS = 3


def params_for(config: Config, endpoint: str) -> FoldParams:
    """The fold parameters of ``endpoint`` as configured; for an endpoint no longer configured (its stored snapshot
    still resumes), those of the config's ``defaults``: its ``interval`` and ``confirm``, and its ``timeout`` as
    the grace, which is what the endpoint would get if it were configured again with no settings of its own.

    Reading never depends on them: a resumed snapshot's open spans end where its last result's coverage ended when
    it was stored, and ``end_run`` only cuts them shorter; only a result fed later would use them, and reports
    feed none.
    """
    try:
        return FoldParams.of(config.endpoint(endpoint))
    except KeyError:
        return FoldParams.of(config.defaults)


def open_folds(
    conn: sqlite3.Connection, config: Config, endpoints: Sequence[str] | None = None, agent: str | None = None
) -> dict[tuple[str, str], TimelineFold]:
    """Every stored fold snapshot (of ``agent``, or all), resumed read-only, keyed by (agent, endpoint)."""
    wanted = None if endpoints is None else set(endpoints)
    out: dict[tuple[str, str], TimelineFold] = {}
    for (ag, ep), snap in queries.fold_states(conn, agent).items():
        if wanted is not None and ep not in wanted:
            continue
        out[(ag, ep)] = TimelineFold(ag, ep, params_for(config, ep), snap)
    return out


def load_intervals(
    conn: sqlite3.Connection,
    config: Config,
    endpoints: Sequence[str],
    start_ms: int,
    now_ms: int,
    agents: Sequence[str] | None = None,
) -> dict[str, list[StateInterval]]:
    """Per endpoint, every agent's intervals overlapping ``[start_ms, now_ms)``, open spans included, cut at now
    and at the end of the agent run they belong to (see ``open_spans``)."""
    by_endpoint: dict[str, list[StateInterval]] = {e: [] for e in endpoints}
    if now_ms <= start_ms:
        return by_endpoint
    with snapshot(conn):
        stored = queries.intervals_overlapping(conn, start_ms, now_ms, list(endpoints), agents)
        spans = open_spans(conn, config, endpoints, now_ms)
    for iv in stored:
        by_endpoint[iv.endpoint].append(iv)
    wanted_agents = None if agents is None else set(agents)
    for (agent, endpoint), pending in spans.items():
        if wanted_agents is not None and agent not in wanted_agents:
            continue
        for iv in pending:
            if iv.start_ms >= now_ms or iv.end_ms <= start_ms:
                continue
            by_endpoint[endpoint].append(replace(iv, end_ms=min(iv.end_ms, now_ms)))
    for ivs in by_endpoint.values():
        ivs.sort(key=lambda iv: (iv.agent, iv.start_ms))
    return by_endpoint


def open_spans(
    conn: sqlite3.Connection, config: Config, endpoints: Sequence[str], now_ms: int
) -> dict[tuple[str, str], list[StateInterval]]:
    """Per (agent, endpoint), the spans its fold snapshot holds that are not stored as intervals yet, as of ``now_ms``.

    If the agent run that stored the fold's last result has ended (a clean stop, or a crash: no heartbeat for
    ``STALE_HEARTBEATS`` x ``agent.heartbeat``, ending at the later of its last heartbeat and its last stored
    result), the spans end there (``TimelineFold.end_run``, as the next start-up applies it); the time after it is
    no_data because no span covers it. A live run's spans, and those of imported data (no run), are not cut here.
    """
    stale_after = STALE_HEARTBEATS * config.agent.heartbeat
    folds = open_folds(conn, config, endpoints)
    runs = {agent: queries.runs_for(conn, agent, now_ms=now_ms, stale_after_ms=stale_after) for agent, _ in folds}
    out: dict[tuple[str, str], list[StateInterval]] = {}
    for (agent, endpoint), fold in folds.items():
        run = _run_of(runs[agent], fold.last_ts_ms)
        # The fold is a read-only copy: ending its run here changes nothing stored.
        closed = fold.end_run(run.end_ms) if run is not None and run.end_ms is not None else []
        out[(agent, endpoint)] = [*closed, *fold.pending()]
    return out


def _run_of(runs: list[AgentRun], ts_ms: int | None) -> AgentRun | None:
    """The run a result at ``ts_ms`` belongs to: the one with the latest start at or before it (None: imported)."""
    if ts_ms is None:
        return None
    index = bisect.bisect_right([run.start_ms for run in runs], ts_ms) - 1
    return runs[index] if index >= 0 else None


def monitoring_start(conn: sqlite3.Connection, config: Config, endpoints: Sequence[str]) -> int | None:
    """When monitoring of any of ``endpoints`` began: the earliest stored interval or open fold span, any agent.

    An endpoint that never changed state has no stored interval at all (its whole timeline is the fold's open
    span), so the fold snapshots must be read too.
    """
    starts = [s for s in [queries.first_interval_start(conn, endpoints)] if s is not None]
    for fold in open_folds(conn, config, endpoints).values():
        spans = fold.pending()
        if spans:
            starts.append(spans[0].start_ms)
    return min(starts, default=None)
