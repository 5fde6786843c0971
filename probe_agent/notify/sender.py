"""The sender: an asyncio task of the daemon that delivers what the outbox holds, at least once.

Each pass (every ``poll_s`` seconds) it summarises the rate limit's minutes that are over, reads the agent's due
deliveries through the store writer (so it sees everything committed before), and delivers them: channels in
parallel, one channel's deliveries in order, each bounded by its channel's timeout. Probing never waits for it:
the workers only put rows into the outbox, in the transaction of the state change (``agent/worker.py``).

An attempt's outcome is recorded through the writer: sent; failed for good (a 4xx other than 408/429, a channel
no longer configured); or retried after an exponential backoff: ``BASE_DELAY_MS`` doubling per attempt, capped at
``MAX_DELAY_MS``, with jitter (a uniform draw from half the delay to all of it), so receivers coming back are not
hit by every agent at once. A restart resumes the pending rows; a ``kill -9`` loses none (they are committed
before anything is sent). Errors are stored and logged with the config's secret values replaced by ``***``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp

from probe_agent.config.document import Config
from probe_agent.config.notify_schema import EventType
from probe_agent.notify.delivery import Delivery
from probe_agent.notify.dispatch import deliver
from probe_agent.notify.event import Event
from probe_agent.notify.routes import Router
from probe_agent.notify.storm import ChannelHealth, Held, RateLimit
from probe_agent.redaction import redact
from probe_agent.store import outbox
from probe_agent.store.outbox import OutboxEntry, OutboxRow
from probe_agent.store.writer import StoreWriter

log = logging.getLogger("probe_agent.notify")

BASE_DELAY_MS = 1000
MAX_DELAY_MS = 10 * 60_000
SUMMARY_LISTED = 20  # subjects named in a summary message; the rest are counted


def backoff_ms(attempts: int, rng: Callable[[], float] = random.random) -> int:
    """The delay before the next attempt after ``attempts`` failed ones (>= 1): 1 s, 2 s, 4 s ... capped at 10 min,
    then jittered to a uniform draw in [delay/2, delay]."""
    delay = min(BASE_DELAY_MS * 2 ** min(attempts - 1, 30), MAX_DELAY_MS)
    return int(delay / 2 + rng() * delay / 2)


@dataclass(frozen=True)
class SenderSettings:
    poll_s: float = 1.0
    batch: int = 100  # deliveries read per pass
    impaired_after_attempts: int = 5
    impaired_after_ms: int = 2 * 60_000


class Sender:
    """Create with the writer, the agent id, the current config (a callable: a reload takes effect at the next
    pass), the wall clock in ms and the secret values to redact; ``await run()`` until cancelled."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        agent: str,
        config: Callable[[], Config],
        now_ms: Callable[[], int],
        secrets: Callable[[], Iterable[str]] = lambda: (),
        settings: SenderSettings = SenderSettings(),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.writer = writer
        self.agent = agent
        self.config = config
        self.now_ms = now_ms
        self.secrets = secrets
        self.settings = settings
        self.rng = rng
        self.failed_attempts = 0  # delivery attempts that failed since start, retried or not (``/metrics``)
        cfg = config()
        self.rate = RateLimit(cfg.notifications.rate_limit)
        self.health = ChannelHealth(settings.impaired_after_attempts, settings.impaired_after_ms)
        self._router = (cfg, Router(cfg))
        self._blocked_until: dict[str, int] = {}  # channel -> ms: a failing channel's next attempt
        self.wake = asyncio.Event()  # set to run a pass now (tests; a new event)

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self.step(session)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store may be failing: the rows wait, nothing is lost; try again
                    log.warning("notification sender: pass failed, retrying", exc_info=True)
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.settings.poll_s)
                except TimeoutError:
                    pass

    async def step(self, session: aiohttp.ClientSession) -> None:
        """One pass: summaries of minutes that are over, then every due delivery."""
        cfg = self.config()
        if not cfg.notifications.channels:
            return  # nothing to deliver to (rows of channels since removed wait for them to come back)
        self.rate.limit = cfg.notifications.rate_limit
        now = self.now_ms()
        for held in self.rate.expired(now):
            await self._summarise(held, now)
        entries = await self.writer.run(lambda c: outbox.due(c, self.agent, now, self.settings.batch))
        by_channel: dict[str, list[OutboxEntry]] = {}
        for entry in sorted(entries, key=lambda e: e.id):  # a channel's events in the order they happened
            if now >= self._blocked_until.get(entry.channel, now):
                by_channel.setdefault(entry.channel, []).append(entry)
        await asyncio.gather(*(self._channel_pass(cfg, ch, rows, session) for ch, rows in by_channel.items()))

    async def _channel_pass(
        self, cfg: Config, channel_id: str, entries: list[OutboxEntry], session: aiohttp.ClientSession
    ) -> None:
        try:
            channel = cfg.notifications.channel(channel_id)
        except KeyError:
            for entry in entries:
                await self._record(entry, Delivery.failed("channel no longer configured", retry=False))
            return
        for entry in entries:
            now = self.now_ms()
            if not self.rate.admit(channel_id, entry.event_type, entry.event_id, entry.id, entry.summary, now):
                until = self.rate.window_end(channel_id, entry.event_type) or now
                await self._defer(entry.id, until)
                continue
            delivery = await deliver(channel, entry.body, session)
            retry_at = await self._record(entry, delivery)
            if retry_at is not None:
                # The channel is failing: nothing more goes to it until this event's retry, so a receiver that is
                # down gets one attempt per backoff step, not one per waiting event, and events keep their order.
                self._blocked_until[channel_id] = retry_at
                break
            self._blocked_until.pop(channel_id, None)

    async def _write(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        """Record an attempt's outcome even if the daemon stops meanwhile (the task is cancelled at shutdown): the
        writer commits it before it closes, so a delivery made is not made again after the restart."""
        await asyncio.shield(self.writer.run(fn))

    async def _defer(self, entry_id: int, until_ms: int) -> None:
        await self.writer.run(lambda c: outbox.defer(c, entry_id, until_ms))

    async def _record(self, entry: OutboxEntry, delivery: Delivery) -> int | None:
        """Store the attempt's outcome; returns when it is retried (None: sent, or failed for good)."""
        now = self.now_ms()
        answer = self._redact(delivery.answer)
        if delivery.ok:
            await self._write(lambda c: outbox.mark_sent(c, entry.id, now))
            log.debug(
                "notification %s (%s) delivered to %s: %s", entry.event_id, entry.event_type, entry.channel, answer
            )
            since = self.health.delivered(entry.channel)
            if since is not None:
                self._impaired(EventType.AGENT_IMPAIRED_RESOLVED, entry.channel, since, now, answer)
            return None
        self.failed_attempts += 1
        retry_at = now + backoff_ms(entry.attempts + 1, self.rng) if delivery.retry else None
        await self._write(lambda c: outbox.mark_attempt_failed(c, entry.id, answer, next_attempt_ms=retry_at))
        level = logging.INFO if delivery.retry else logging.WARNING
        log.log(
            level,
            "notification %s (%s) to %s failed (attempt %d%s): %s",
            entry.event_id,
            entry.event_type,
            entry.channel,
            entry.attempts + 1,
            ", will retry" if delivery.retry else ", not retried",
            answer,
        )
        if delivery.retry:
            since = self.health.failed(entry.channel, answer, now)
            if since is not None:
                self._impaired(EventType.AGENT_IMPAIRED, entry.channel, since, now, answer)
        return retry_at

    def _impaired(self, kind: EventType, channel: str, since_ms: int, now_ms: int, answer: str) -> None:
        """``agent_impaired`` (reason channel_failing) or its resolution, routed to every channel but this one."""
        failing = kind is EventType.AGENT_IMPAIRED
        event = Event(
            kind,
            self.agent,
            ("agent", f"channel_failing:{channel}"),
            since_ms,
            now_ms,
            f"notification channel {channel} "
            + ("keeps failing" if failing else "delivers again")
            + f" (agent {self.agent})",
            {"reason": "channel_failing", "channel": channel, "answer": answer},
        )
        if failing:
            log.warning("notification channel %s keeps failing: %s", channel, answer)
        rows = self._routed(event, exclude=(channel,))
        if rows:
            self.writer.submit(outbox=rows)
            self.wake.set()

    async def _summarise(self, held: Held, now_ms: int) -> None:
        subjects = sorted({summary for summary in held.held.values()})
        listed = "; ".join(subjects[:SUMMARY_LISTED]) + (" ..." if len(subjects) > SUMMARY_LISTED else "")
        event = Event(
            EventType.SUMMARY,
            self.agent,
            ("agent", f"summary:{held.channel}:{held.event_type}"),
            held.start_ms,
            now_ms,
            f"{len(held.held)} more {held.event_type} events: {listed}",
            {"event_type": held.event_type, "count": len(held.held), "window_start_ms": held.start_ms},
        )
        row = OutboxRow(self.agent, event.id, held.channel, str(event.type), event.summary, event.body(), now_ms)
        ids = list(held.held)
        await self.writer.run(lambda c: outbox.summarise(c, ids, row))

    def _routed(self, event: Event, exclude: tuple[str, ...] = ()) -> list[OutboxRow]:
        cfg = self.config()
        if self._router[0] is not cfg:
            self._router = (cfg, Router(cfg))
        return self._router[1].outbox_rows(event, exclude=exclude)

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets())
