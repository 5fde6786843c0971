"""Closed billing cycles: an immutable record of the final report and credit, with a hash of their inputs.

Once closed, ``report`` and ``credits`` for that cycle show the stored figures, and warn when today's data would
give a different answer (a late import, a new or revoked exclusion, a changed SLA): the stored record stands, the
difference is for the people who settle the bill to look at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import iso
from probe_agent.reports import scope
from probe_agent.reports.build import SlaReport, build_report
from probe_agent.reports.json_types import ReportDoc
from probe_agent.reports.timelines import monitoring_start
from probe_agent.sla.evaluation import SlaEvaluation
from probe_agent.sla.periods import Period, previous_cycle
from probe_agent.store import queries, records
from probe_agent.store.outbox import OutboxRow


class CycleNotOver(ValueError):
    pass


class CycleNeedsRepair(CycleNotOver):
    """The stored timeline the cycle's figures come from has overlapping intervals (two daemons of one agent id
    wrote at once): an immutable record is not made from it until ``probe-agent db repair`` re-folded it."""


class CycleNotSettled(CycleNotOver):
    """The cycle has ended but a down run touching its end is still open and shorter than ``min_run``: whether it
    counts is decided only at ``until_ms``."""

    def __init__(self, message: str, until_ms: int) -> None:
        super().__init__(message)
        self.until_ms = until_ms


def apply_closed(conn: sqlite3.Connection, rep: SlaReport) -> ReportDoc:
    """The document to show for a report's period: the stored one if it is a closed cycle (with any drift noted).

    Stored figures apply to exactly the closed cycle: a window that only starts (or ends) where it does, such as
    ``--from`` the cycle's start ``--to`` its middle, is computed from today's data. A stored document is shown as
    it was written, also by an older version (``json_types`` says which keys such a document may lack).
    """
    doc = rep.doc
    closed = queries.closed_cycle(conn, doc["sla"], rep.period.start_ms)
    if closed is None or closed.cycle_end_ms != rep.period.end_ms:
        doc["closed"] = None
        return doc
    stored: ReportDoc = dict(closed.report)  # type: ignore[assignment]  # decoded JSON, as the stored version wrote it
    drift = closed.inputs_hash != doc["inputs_hash"]
    today_credit = None if doc["credit"] is None else doc["credit"]["amount"]
    stored["closed"] = {
        "closed_at": iso(closed.closed_ms),
        "inputs_hash": closed.inputs_hash,
        "current_inputs_hash": doc["inputs_hash"],
        "differs_today": drift,
        "today": {
            "availability_percent": doc["availability_percent"],
            "met": doc["met"],
            "credit_amount": today_credit,
        },
    }
    if drift:
        stored_credit_json = stored.get("credit")
        stored_credit = stored_credit_json.get("amount") if stored_credit_json else None
        stored.setdefault("warnings", [])
        stored["warnings"] = [
            *stored["warnings"],
            f"this cycle was closed at {iso(closed.closed_ms)}; today's data would give availability "
            f"{doc['availability_percent']}% (stored {stored.get('availability_percent')}%) and credit "
            f"{today_credit} (stored {stored_credit}): late imports, exclusions or config changes since closing",
        ]
    return stored


@dataclass(frozen=True)
class ClosedCycle:
    """A cycle's final report and credit as they are stored (``store_closed``), decided at ``closed_ms``."""

    sla: str
    period: Period
    closed_ms: int
    inputs_hash: str
    doc: ReportDoc


def close_cycle(conn: sqlite3.Connection, config: Config, sla: Sla, period: Period, now_ms: int) -> ReportDoc:
    """Store the final report and credit of a cycle that has ended. Raises CycleNotOver, CycleAlreadyClosed.

    ``settle_cycle`` then ``store_closed`` on one connection; the daemon does the two on its reading and its
    writing connection (the store's single writer).
    """
    closed = settle_cycle(conn, config, sla, period, now_ms)
    store_closed(conn, closed)
    return closed.doc


def store_closed(conn: sqlite3.Connection, closed: ClosedCycle, outbox: Sequence[OutboxRow] = ()) -> None:
    """Insert the immutable closed-cycle row, with the deliveries of its ``cycle_closed`` event (``outbox``) in the
    same transaction. Raises CycleAlreadyClosed when the cycle was closed meanwhile."""
    records.close_cycle(
        conn,
        sla=closed.sla,
        cycle_start_ms=closed.period.start_ms,
        cycle_end_ms=closed.period.end_ms,
        closed_ms=closed.closed_ms,
        inputs_hash=closed.inputs_hash,
        report=closed.doc,
        credit=closed.doc.get("credit"),
        outbox=outbox,
    )


def settle_cycle(conn: sqlite3.Connection, config: Config, sla: Sla, period: Period, now_ms: int) -> ClosedCycle:
    """The final report and credit of a cycle that has ended, to be stored as they are; reads only. Raises
    CycleNotOver (and its subclasses below).

    A cycle whose stored timeline has overlapping intervals is refused (CycleNeedsRepair): ``db repair`` first.
    With slice counting and ``min_run``, a down run that touches the cycle's end and is still open and too short to
    count (it may yet grow into a counted run) keeps the cycle open until the moment it is decided
    (``OpenRun.decided_by_ms``): CycleNotSettled says until when. Still open then (no data after it), it counts as
    up and the cycle closes.
    """
    if now_ms < period.end_ms:
        raise CycleNotOver(f"cycle {period.label} of {sla.id} runs until {iso(period.end_ms)}; it cannot close yet")
    rep = build_report(conn, config, sla, period, now_ms)
    if rep.evaluation is None:
        raise CycleNotOver(f"cycle {period.label} of {sla.id} has no data at all; there is nothing to close")
    if rep.overlaps:
        pairs = ", ".join(f"{o.agent}/{o.endpoint}" for o in rep.overlaps)
        raise CycleNeedsRepair(
            f"cycle {period.label} of {sla.id} cannot close: the stored timeline of {pairs} has overlapping "
            "intervals (two daemons of one agent id wrote at once); run `probe-agent db repair`, then close it"
        )
    ev = rep.evaluation
    pending = [
        (s.open_run, s.counting.min_run)
        for s in (r.slices for r in (ev.overall, *ev.services.values()))
        if s is not None and s.open_run is not None and s.open_run.decided_by_ms > now_ms
    ]
    if pending:
        run, min_run = max(pending, key=lambda p: p[0].decided_by_ms)
        raise CycleNotSettled(
            f"cycle {period.label} of {sla.id} cannot close yet: a down run of {run.down_slices} slice(s) from "
            f"{iso(run.start_ms)} touches the cycle's end and is still open, shorter than min_run {min_run}; "
            f"it is decided by {iso(run.decided_by_ms)}: close the cycle then",
            run.decided_by_ms,
        )
    _wait_for_ongoing_incidents(sla, period, ev, now_ms)
    doc: ReportDoc = {**rep.doc, "closed": None}
    return ClosedCycle(sla=sla.id, period=period, closed_ms=now_ms, inputs_hash=rep.inputs_hash, doc=doc)


def _wait_for_ongoing_incidents(sla: Sla, period: Period, ev: SlaEvaluation, now_ms: int) -> None:
    """Raise CycleNotSettled while an incident that started in the cycle is still going on and not yet past a limit
    that decides money or a listing (``per_incident.longer_than``, ``max_incident_duration``): it is credited in
    this cycle, so a record stored now would miss a credit that the incident earns once it passes the limit. Its
    counted time grows by at most the time that passes, so it is decided by ``now + limit - counted`` (past the
    limit, or recovered, by then)."""
    limits = [
        limit
        for limit in (
            sla.credits.per_incident.longer_than if sla.credits and sla.credits.per_incident else None,
            sla.max_incident_duration,
        )
        if limit is not None
    ]
    overall = ev.overall
    waits = [
        (incident, now_ms + limit - counted + 1)
        for incident, counted in zip(overall.incidents, overall.incident_counted_ms, strict=True)
        if incident.ongoing and incident.start_ms >= ev.full_period.start_ms
        for limit in limits
        if counted <= limit
    ]
    if waits:
        incident, until = max(waits, key=lambda w: w[1])
        raise CycleNotSettled(
            f"cycle {period.label} of {sla.id} cannot close yet: the incident from {iso(incident.start_ms)} is still "
            f"going on and is credited in this cycle; whether it passes its limit is decided by {iso(until)}: "
            "close the cycle then (or once it has recovered)",
            until,
        )


def cycle_to_close(config: Config, sla: Sla, now_ms: int, cycle: str | None = None) -> Period:
    """The cycle ``cycle close`` means: the one starting in month ``cycle`` (``YYYY-MM``) when given, else the last
    ended monthly cycle (an explicit period is its own one cycle). Raises ValueError for a bad ``cycle``."""
    period = scope.sla_period(config, sla, now_ms, cycle=cycle)
    if cycle is None and sla.cycle.period == "monthly":
        period = previous_cycle(period, sla.cycle.anchor_day, scope.sla_zone(config, sla))
    return period


def due_cycles(conn: sqlite3.Connection, config: Config, now_ms: int) -> list[tuple[Sla, Period]]:
    """Cycles that ended at least ``close_after`` ago and are not closed yet (the most recent one per SLA)."""
    due = []
    for sla in config.slas:
        period = cycle_to_close(config, sla, now_ms)
        if period.end_ms + sla.close_after > now_ms:
            continue
        start = monitoring_start(conn, config, scope.scope_endpoints(config, sla))
        if queries.closed_cycle(conn, sla.id, period.start_ms) is None and start is not None and start < period.end_ms:
            due.append((sla, period))
    return due
