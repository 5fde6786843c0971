"""The bodies of the daemon's calendar jobs: hourly rollups, daily retention, hourly cycle close (and its
``cycle_closed`` event).

``CalendarJobs`` (calendar.py) decides when they run; this module what they do. Each job reads "now" from the
daemon's label clock and the config in force at that moment (a reload may have changed it since the last run).

Writes: retention's pruning and the closed-cycle rows go through the store's single writer; a cycle's report is
built on a read-only connection of its own in a thread, so the writer thread only does the insert. Rollups rebuild
on a connection of their own in a thread (one short transaction per hour), so the writer's commits of results are
not held up behind a whole hour's aggregation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from probe_agent.agent.calendar import CalendarJobs
from probe_agent.config.document import Config
from probe_agent.model import HOUR_MS, iso
from probe_agent.notify.cycle_events import claim_report_filename, cycle_closed, with_claim_report
from probe_agent.notify.event import Event
from probe_agent.store import maintenance
from probe_agent.store.outbox import OutboxRow
from probe_agent.store.rollups import build_missing_days, rebuild_rollups, unmarked_hours_between
from probe_agent.store.schema import open_db
from probe_agent.store.writer import StoreWriter

if TYPE_CHECKING:
    from probe_agent.reports.closing import ClosedCycle

log = logging.getLogger("probe_agent.agent")


def retention_floor(config: Config, now_ms: int) -> int:
    """The oldest time whose raw results must be kept: evidence for every cycle still open or still claimable.

    Per SLA: the start of the cycle before the current one, moved back by the claim window (a duration, or that
    many cycles). Without SLAs nothing holds raw results back beyond ``retention``.
    """
    from probe_agent.reports.scope import claim_floor_ms

    floors = [claim_floor_ms(config, sla, now_ms) for sla in config.slas]
    return min(floors, default=now_ms)


class Housekeeping:
    """The calendar jobs of one daemon run. ``config`` returns the config in force (it changes on reload)."""

    def __init__(
        self,
        db_path: Path,
        writer: StoreWriter,
        *,
        config: Callable[[], Config],
        now_ms: Callable[[], int],
        agent: str = "",
        outbox: Callable[[Event], list[OutboxRow]] = lambda event: [],
    ) -> None:
        self.db_path = db_path
        self.writer = writer
        self.config = config
        self.now_ms = now_ms
        self.agent = agent
        self.outbox = outbox  # an event's routed deliveries (none without channels)

    def schedule(self, calendar: CalendarJobs) -> None:
        """Rollups at :02 every hour, cycle close at :07, retention daily at 03:17 (UTC: the calendar's zone)."""
        calendar.add_hourly("rollups", self.rollups, minute=2)
        calendar.add_daily("retention", self.retention, hour=3, minute=17)
        calendar.add_hourly("cycle-close", self.close_cycles, minute=7)

    async def rollups(self) -> None:
        """Roll up the hours that completed since the last run of this job, then the days all of whose hours are
        rolled up, on a connection of its own in a thread (one short transaction per hour or day), so the writer
        thread's commits are not held up."""
        now = self.now_ms()
        # Results up to now minus the longest probe timeout (plus the writer's flush) are surely stored.
        complete = now - max((ep.timeout for ep in self.config().endpoints), default=0) - 2_000

        def job() -> int:
            conn = open_db(self.db_path)
            try:
                written = 0
                # Older unmarked hours are rolled up before pruning. Hours without results are marked too (empty),
                # so the day they are in can be built.
                for hour in unmarked_hours_between(conn, now - 48 * HOUR_MS, complete):
                    written += rebuild_rollups(conn, hour, hour + HOUR_MS, complete_before_ms=complete)
                # Then the UTC days whose 24 hours are now all complete (after an upgrade: every such day).
                build_missing_days(conn, now)
                return written
            finally:
                conn.close()

        written = await asyncio.to_thread(job)
        log.debug("rollups: %d rows rebuilt", written)

    async def close_cycles(self) -> None:
        """Close every SLA cycle that ended at least its ``close_after`` ago and is not closed yet.

        The report is built on a read-only connection in a thread; the row is inserted by the writer (the row is
        the one ``probe-agent cycle close`` would store at that moment), with the deliveries of its ``cycle_closed``
        event in the same transaction (the claim report attached for email channels). A cycle closed by hand in
        between is skipped (and sends nothing); one not settled yet (a down run or an incident still undecided at
        the cycle's end) is tried again at the next hourly run.
        """
        from probe_agent.reports.closing import CycleNotOver, due_cycles, settle_cycle, store_closed
        from probe_agent.store.records import CycleAlreadyClosed

        config = self.config()
        now = self.now_ms()

        def settle() -> list[tuple[ClosedCycle, list[OutboxRow]]]:
            conn = open_db(self.db_path, readonly=True)
            settled = []
            try:
                for sla, period in due_cycles(conn, config, now):
                    try:
                        closed = settle_cycle(conn, config, sla, period, now)
                        settled.append((closed, self._cycle_closed_rows(config, closed)))
                    except CycleNotOver as exc:
                        # A down run at the cycle's end is not decided yet: this hourly job tries again later.
                        log.info("%s", exc)
            finally:
                conn.close()
            return settled

        for closed, rows in await asyncio.to_thread(settle):
            try:
                await self.writer.run(functools.partial(store_closed, closed=closed, outbox=rows))
            except CycleAlreadyClosed:
                continue  # closed by hand meanwhile
            credit = closed.doc.get("credit")
            log.info(
                "closed cycle %s",
                f"{closed.sla} {closed.period.label}: availability {closed.doc['availability_percent']}%, "
                f"credit {credit['amount'] if credit else '-'} {credit['currency'] if credit else ''}",
            )

    def _cycle_closed_rows(self, config: Config, closed: ClosedCycle) -> list[OutboxRow]:
        """The routed deliveries of ``closed``'s ``cycle_closed`` event, the claim report rendered (in this
        thread) only when an email channel gets it."""
        from probe_agent.render.html import claim_report_html

        event = cycle_closed(
            self.agent,
            sla=closed.sla,
            cycle=closed.period.label,
            start_ms=closed.period.start_ms,
            end_ms=closed.period.end_ms,
            closed_ms=closed.closed_ms,
            doc=closed.doc,
            report_url=self._report_url(config, closed),
        )
        rows = self.outbox(event)
        channels = [c for c in config.notifications.channels if c.kind == "email"]
        if not any(r.channel in {c.id for c in channels} for r in rows):
            return rows
        html = claim_report_html(closed.doc)
        filename = claim_report_filename(closed.sla, closed.period.label)
        return with_claim_report(rows, channels, filename=filename, html=html)

    @staticmethod
    def _report_url(config: Config, closed: ClosedCycle) -> str | None:
        """The HTTP API's address of the closed cycle's report, when ``api.public_url`` says where it is."""
        if config.api is None:
            return None
        period = closed.period
        return config.api.report_url(closed.sla, iso(period.start_ms), iso(period.end_ms), period.label)

    async def retention(self) -> None:
        """Prune raw results older than ``agent.retention``, except those a cycle still open or claimable needs."""
        config = self.config()
        now = self.now_ms()
        cutoff = now - config.agent.retention
        keep_after = retention_floor(config, now)
        deleted = await self.writer.run(lambda c: maintenance.prune_results(c, cutoff, keep_after))
        if deleted:
            log.info("retention: pruned %d raw results older than the cut-off", deleted)
