"""The SLA alerts job: every minute (``asyncio.sleep``, the monotonic clock), judge each SLA's alert conditions and
enqueue the events of the alerts that started or resolved (``notify/sla_events.py``) through the single writer.

One round (``step_at(now)``): ``reports.alerts.alert_inputs`` on a read-only connection of its own in a thread (a
long read must not hold up the writer's result commits), ``sla.alerts.evaluate_alerts`` with
``notifications.min_samples``, ``sla.alert_state.step``, then one writer call that inserts every routed delivery
of this round's events. The new state is kept only once that call committed: a failed round is judged again at the
next one (an event already enqueued is dropped by the outbox's (event id, channel) key).

The state starts from the outbox (``start``): every SLA alert event this agent enqueued before, started and not
resolved, is open again, with its first start time (so its id). A restart thus neither sends a start twice nor
forgets to resolve. An alert open under a cycle that has ended resolves (``cycle_ended``) at the first round.

The daemon runs this job only when notifications have channels (no channels: no job, no reads).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from probe_agent.config.document import Config
from probe_agent.notify.event import Event
from probe_agent.notify.sla_events import ALERT_EVENT_TYPES, open_alerts, resolve_event, start_event
from probe_agent.sla.alert_state import AlertState, step
from probe_agent.sla.alerts import AlertInputs, evaluate_alerts
from probe_agent.store import outbox
from probe_agent.store.outbox import OutboxRow
from probe_agent.store.schema import open_db, transaction
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.agent")

INTERVAL_S = 60.0  # the burn-rate pairs' short windows are 5 and 30 min: a minute is fine-grained enough


class SlaAlertJob:
    """One daemon run's SLA alerts. ``config``: the config in force; ``outbox``: an event's deliveries (routed)."""

    def __init__(
        self,
        db_path: Path,
        writer: StoreWriter,
        *,
        agent: str,
        config: Callable[[], Config],
        outbox: Callable[[Event], list[OutboxRow]],
        now_ms: Callable[[], int],
    ) -> None:
        self.db_path = db_path
        self.writer = writer
        self.agent = agent
        self.config = config
        self.outbox = outbox
        self.now_ms = now_ms
        self.state = AlertState()
        self._round = asyncio.Lock()  # one round at a time: each starts from the state the last one committed

    async def start(self) -> None:
        """Rebuild the state from the outbox (the alerts this agent's events left open)."""
        types = sorted(str(t) for t in ALERT_EVENT_TYPES)
        bodies = await self.writer.run(lambda c: outbox.event_bodies(c, self.agent, types))
        self.state = AlertState.of(open_alerts(bodies))
        if self.state.open:
            log.info("SLA alerts still open from before: %s", ", ".join(a.id for a in self.state.open.values()))

    async def run(self, interval_s: float = INTERVAL_S) -> None:
        """``start``, then a round every ``interval_s``; a failed round is logged and tried again at the next."""
        await self.start()
        while True:
            try:
                await self.step_at(self.now_ms())
            except Exception:
                log.exception("SLA alerts: this round failed; trying again in %gs", interval_s)
            await asyncio.sleep(interval_s)

    async def step_at(self, now_ms: int) -> list[Event]:
        """One round at ``now_ms``: the events enqueued (those routed to no channel included, with no rows)."""
        async with self._round:
            return await self._step(now_ms)

    async def _step(self, now_ms: int) -> list[Event]:
        from probe_agent.reports.alerts import alert_inputs

        config = self.config()
        if not config.notifications.channels:
            return []  # the channels were removed on reload: no reads until they come back

        def read() -> dict[str, AlertInputs | None]:
            conn = open_db(self.db_path, readonly=True)
            try:
                return alert_inputs(conn, config, now_ms)
            finally:
                conn.close()

        inputs = await asyncio.to_thread(read)
        state = self.state
        events: list[Event] = []
        for sla_inputs in inputs.values():
            if sla_inputs is None:
                continue  # no data in its cycle yet: its alerts stay as they are
            evaluation = evaluate_alerts(sla_inputs, now_ms, min_samples=config.notifications.min_samples)
            state, starts, resolves = step(state, evaluation, now_ms)
            events += [resolve_event(self.agent, r) for r in resolves]
            events += [start_event(self.agent, s) for s in starts]
        rows = [row for event in events for row in self.outbox(event)]
        if rows:

            def insert(conn: sqlite3.Connection) -> None:
                with transaction(conn):
                    outbox.enqueue(conn, rows)

            await self.writer.run(insert)
        self.state = state
        for event in events:
            log.info("%s: %s", event.type, event.summary)
        return events
