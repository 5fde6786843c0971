"""``status``: where every endpoint stands now, and its availability over the last 24 hours and 30 days.

Availability here is the plain model (unknown and no_data excluded, degraded counted as up); contracts' rules
apply in the SLA part of the status and in ``report``.

Whether the daemon runs: a run whose heartbeat is younger than 3 heartbeats, or a live process holding the agent
id's lock on this host (``Holder``, found by the caller). The lock is what keeps a daemon whose store cannot commit
(a full disk, a lock held by another process) from being called crashed while its heartbeat cannot be written: it
is shown running, with the store trouble it noted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from probe_agent.config.document import Config
from probe_agent.fold import Phase
from probe_agent.model import DAY_MS, ProbeResult, StateInterval, iso
from probe_agent.reports.json_numbers import percent
from probe_agent.reports.json_types import EndpointStatusJson, PlainAvailabilityJson, StatusDoc, StoreStateJson
from probe_agent.reports.overlaps import overlap_warning, resolve_overlaps
from probe_agent.reports.sla_status import sla_status
from probe_agent.reports.timelines import load_intervals, open_folds
from probe_agent.sla.availability import BucketTotals, Policies, availability_of, bucketize
from probe_agent.sla.timeline import normalize
from probe_agent.store import queries
from probe_agent.store.rows import RunRecord


@dataclass(frozen=True)
class Holder:
    """A live daemon process of this agent on this host (it holds the agent's lock): its pid and the store health
    it last noted (``agent/storehealth.py``; None when it noted none yet or the note is unreadable)."""

    pid: int | None
    store: dict[str, Any] | None


def endpoint_availability(intervals: list[StateInterval], start_ms: int, end_ms: int) -> PlainAvailabilityJson:
    """Availability and coverage of one endpoint over ``[start_ms, end_ms)`` for this agent's timeline, from when
    monitoring of it began if that is later (``from``): an endpoint added an hour ago is not "2 % covered" over 30
    days, and a gap after it began still counts against coverage."""
    first = min((iv.start_ms for iv in intervals), default=None)
    if first is not None and first > start_ms:
        start_ms = min(first, end_ms)
    spans = normalize(intervals)
    totals = BucketTotals.of(bucketize(spans, start_ms, end_ms, []))
    result = availability_of(totals, Policies(), Fraction(0))
    return {
        "from": iso(start_ms),
        "availability_percent": percent(result.availability),
        "coverage_percent": percent(result.coverage),
        "down_s": totals.down_ms / 1000,
    }


def build_status(
    conn: sqlite3.Connection, config: Config, now_ms: int, agent: str | None = None, holder: Holder | None = None
) -> StatusDoc:
    """The status document (the JSON of ``status --format json``). ``holder``: the live process holding the
    agent's lock on this host, if any."""
    agent = agent or config.agent.id
    heartbeat = config.agent.heartbeat
    live = queries.running_daemon(conn, agent, stale_after_ms=3 * heartbeat, now_ms=now_ms)
    runs = queries.run_records(conn, agent)
    last_run = runs[-1] if runs else None
    if live is None and holder is not None and last_run is not None and last_run.stopped_ms is None:
        live = last_run  # alive (it holds the lock), though its heartbeat is stale: the store is not taking it
    endpoint_ids = [ep.id for ep in config.endpoints]
    folds = open_folds(conn, config, endpoint_ids, agent)
    last = queries.last_results(conn, endpoint_ids, [agent])
    month, overlaps = resolve_overlaps(
        load_intervals(conn, config, endpoint_ids, now_ms - 30 * DAY_MS, now_ms, [agent])
    )
    rows: list[EndpointStatusJson] = []
    for ep_id in endpoint_ids:
        fold = folds.get((agent, ep_id))
        result = last.get((agent, ep_id))
        phase = fold.phase if fold is not None else Phase.NEW
        open_iv = fold.open_interval if fold is not None else None
        covered_now = open_iv is not None and open_iv.end_ms > now_ms  # its last result still speaks for now
        if live is None and phase is not Phase.NEW and not covered_now:
            state = "no_data"  # nobody is probing it now, whatever it was when the agent stopped
        elif phase is Phase.NEW:
            state = "no_data"
        else:
            state = phase.value
        since = None
        if state == "no_data" and live is None and phase is not Phase.NEW:
            since = _data_stopped(open_iv, result, last_run)
        elif fold is not None and fold.outage_start_ms is not None:
            since = fold.outage_start_ms
        elif open_iv is not None:
            since = open_iv.start_ms
        ivs = month.get(ep_id, [])
        rows.append(
            {
                "endpoint": ep_id,
                "state": state,
                "last_state": phase.value,
                "since": None if since is None else iso(since),
                "last_result": None if result is None else result.to_json(),
                "last_24h": endpoint_availability(ivs, now_ms - DAY_MS, now_ms),
                "last_30d": endpoint_availability(ivs, now_ms - 30 * DAY_MS, now_ms),
            }
        )
    slas, sla_overlaps = sla_status(conn, config, now_ms)
    # Bad stored state this agent's rows read, then what the SLA reports read (other agents too), once per pair.
    for found in sla_overlaps:
        seen = {(o.agent, o.endpoint) for o in overlaps}
        overlaps += [o for o in found if (o.agent, o.endpoint) not in seen]
    warnings = [overlap_warning(o) for o in overlaps]
    return {
        "agent": agent,
        "now": iso(now_ms),
        "warnings": warnings,
        "slas": slas,
        "daemon": {
            "running": live is not None,
            "run_id": live.run_id if live else (last_run.run_id if last_run else None),
            "last_heartbeat": iso(live.heartbeat_ms) if live else (iso(last_run.heartbeat_ms) if last_run else None),
            "stopped": None if live or not last_run or last_run.stopped_ms is None else iso(last_run.stopped_ms),
            "clean_stop": None if live or not last_run else last_run.clean,
            "pid": holder.pid if holder is not None else (live.pid if live else None),
            "store": _store_state(holder.store) if holder is not None and live is not None else None,
        },
        "endpoints": rows,
    }


def _store_state(note: dict[str, Any] | None) -> StoreStateJson:
    """The daemon's store health as ``status`` shows it (``ok`` null when the daemon noted nothing readable)."""
    note = note or {}
    store = note.get("store")
    since, updated = note.get("since_ms"), note.get("updated_ms")
    return {
        "ok": None if store not in ("ok", "trouble") else store == "ok",
        "problem": note.get("problem"),
        "since": iso(since) if isinstance(since, int) else None,
        "results_waiting": note.get("results_waiting"),
        "queue_limit": note.get("queue_limit"),
        "probing_paused": note.get("probing_paused"),
        "paused_probes": note.get("paused_probes"),
        "noted_at": iso(updated) if isinstance(updated, int) else None,
    }


def _data_stopped(open_iv: StateInterval | None, result: ProbeResult | None, last_run: RunRecord | None) -> int | None:
    """When an endpoint nobody probes now stopped having data: where its last result's coverage ends (ts +
    interval + grace: imported data, or a crashed run's last result), or its run's end (a clean stop, or a dead
    run's last heartbeat) when that came first and the last result was that run's; None when nothing says."""
    run_end = None
    if last_run is not None:
        run_end = last_run.stopped_ms if last_run.stopped_ms is not None else last_run.heartbeat_ms
    ends = [open_iv.end_ms] if open_iv is not None else []
    if run_end is not None and (open_iv is None or (result is not None and result.ts_ms <= run_end)):
        ends.append(run_end)
    return min(ends, default=None)
