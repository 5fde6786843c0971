"""Maintenance muting of ``endpoint_down``/``endpoint_recovered`` in the daemon, and the down told when a window ends.

The rule of which route is muted is ``notify/routes.py``'s (pure); this module supplies which SLAs are in a
maintenance window at an instant and keeps what was muted:

- every configured window counts (one-off or recurring, in the SLA's zone), announced in time or not: muting is
  about planned work, while whether the window excludes downtime from the SLA is the report's business (notice);
- a muted ``endpoint_down`` is remembered per endpoint with the channels it did not go to; when those channels are
  no longer muted (the window ended, or a reload changed it) while that outage goes on, the same event (same id) is
  sent to them then, saying so (``details.after_maintenance``, and the summary); checked every ``every_s``;
- ``endpoint_recovered`` goes where that outage's ``endpoint_down`` went: a channel muted for the down (and never
  told it) is not told the recovery either, a channel told the down is told the recovery even inside a window.
  Without a remembered down (a restart in between), the rule applies to it as to the down.
The memory is the daemon's: after a restart, an outage muted before it is not told at the window's end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from probe_agent.config.document import Config
from probe_agent.config.notify_schema import EventType
from probe_agent.notify.event import Event
from probe_agent.notify.routes import Router
from probe_agent.reports.scope import maintenance_windows, sla_zone
from probe_agent.store.outbox import OutboxRow

log = logging.getLogger("probe_agent.agent")


def slas_in_window(config: Config, now_ms: int) -> frozenset[str]:
    """The ids of the SLAs one of whose maintenance windows ``[start, end)`` holds ``now_ms``."""
    return frozenset(
        sla.id
        for sla in config.slas
        if sla.maintenance
        and any(
            w.start_ms <= now_ms < w.end_ms for w in maintenance_windows(sla, sla_zone(config, sla), now_ms, now_ms + 1)
        )
    )


@dataclass(frozen=True)
class Held:
    event: Event  # the muted endpoint_down
    channels: tuple[str, ...]  # the channels it has not gone to


class Muting:
    """``rows(event)`` routes the workers' events with muting; ``release(now_ms, outage_of)`` tells held downs."""

    def __init__(self, config: Callable[[], Config], router: Callable[[], Router]) -> None:
        self.config = config
        self.router = router
        self.held: dict[str, Held] = {}  # endpoint id -> its outage's muted endpoint_down

    def rows(self, event: Event) -> list[OutboxRow]:
        """The event's deliveries, muted by the windows at its time. Called by a worker with the probe's result in
        hand: a failure here (a bug, a window that cannot be computed) is logged and the event goes unmuted, so
        neither the result nor the event is lost over it."""
        try:
            return self._rows(event)
        except Exception:
            log.exception("maintenance muting failed for %s; routing it unmuted", event.type)
            return self.router().outbox_rows(event)

    def _rows(self, event: Event) -> list[OutboxRow]:
        router = self.router()
        kind, endpoint = event.subject
        if event.type not in (EventType.ENDPOINT_DOWN, EventType.ENDPOINT_RECOVERED) or kind != "endpoint":
            return router.outbox_rows(event)
        if event.type is EventType.ENDPOINT_RECOVERED:
            held = self.held.pop(endpoint, None)
            if held is not None and held.event.episode_start_ms == event.episode_start_ms:
                return router.outbox_rows(event, exclude=held.channels)
        in_window = slas_in_window(self.config(), event.time_ms)
        live = router.channels_for(event.type, event.subject, in_window)
        muted = tuple(c for c in router.channels_for(event.type, event.subject) if c not in live)
        if muted:
            log.info(
                "%s: %s muted on %s (maintenance of %s)",
                endpoint,
                event.type,
                ", ".join(muted),
                ", ".join(sorted(in_window)),
            )
            if event.type is EventType.ENDPOINT_DOWN:
                self.held[endpoint] = Held(event, muted)
        return router.outbox_rows(event, exclude=muted)

    def release(self, now_ms: int, outage_of: Callable[[str], int | None]) -> list[OutboxRow]:
        """The held downs whose channels are no longer muted, for outages still going on (``outage_of``: an
        endpoint's current outage start, None when it is not down); held downs of outages that ended are dropped."""
        rows: list[OutboxRow] = []
        if not self.held:
            return rows
        router = self.router()
        in_window = slas_in_window(self.config(), now_ms)
        for endpoint, held in list(self.held.items()):
            if outage_of(endpoint) != held.event.episode_start_ms:
                del self.held[endpoint]
                continue
            live = router.channels_for(EventType.ENDPOINT_DOWN, held.event.subject, in_window)
            free = tuple(c for c in held.channels if c in live)
            if not free:
                continue
            told = replace(
                held.event,
                time_ms=now_ms,
                summary=f"{held.event.summary} (still down as a maintenance window ended)",
                details={**held.event.details, "after_maintenance": True},
            )
            rows += router.outbox_rows(told, only=free)
            rest = tuple(c for c in held.channels if c not in free)
            if rest:
                self.held[endpoint] = Held(held.event, rest)
            else:
                del self.held[endpoint]
        return rows

    async def run(
        self,
        every_s: float,
        now_ms: Callable[[], int],
        outage_of: Callable[[str], int | None],
        submit: Callable[[Sequence[OutboxRow]], None],
    ) -> None:
        """``release`` every ``every_s`` seconds until cancelled, handing what it finds to ``submit``."""
        while True:
            await asyncio.sleep(every_s)
            try:
                rows = self.release(now_ms(), outage_of)
            except Exception:  # a bad window in a reloaded config must not end the loop
                log.exception("maintenance muting: release failed")
                continue
            if rows:
                submit(rows)
