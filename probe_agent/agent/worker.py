"""One endpoint's life in the daemon: probe, judge against the controls, fold into the timeline, hand to the store.

The worker owns the endpoint's ``TimelineFold``. Each probe's result, the intervals it closed and the fold's new
snapshot go to the store writer together, so they commit in one transaction: after a crash the stored state is
never ahead of the results it came from. A confirmed outage (the phase turns down) and its end (down -> up or
degraded) are notification events (``endpoint_down``, ``endpoint_recovered``): their outbox rows go with that same
submission, as do ``cert_expiring`` and its resolution (``certwatch.py``). A worker resumed from a snapshot that
is already down does not send ``endpoint_down`` again (no transition is seen); blips (suspect, then up) send
nothing.

While the writer is ``full`` (``agent.queue_limit`` results wait for a store that cannot commit), the worker does
not probe: the slot is skipped (counted in ``paused_probes``) and no result is folded, so the time becomes
``no_data`` by the fold's own rule (the last result speaks for its interval + grace at most). A probe already
running when the queue filled is dropped the same way, before it reaches the fold.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from probe_agent.agent.certwatch import CertWatch
from probe_agent.agent.clock import Label, LabelClock
from probe_agent.agent.controls import Controls
from probe_agent.config.schema import Endpoint
from probe_agent.fold import FoldParams, Phase, TimelineFold
from probe_agent.model import ProbeResult, StateInterval, iso
from probe_agent.notify.event import Event, endpoint_down, endpoint_recovered
from probe_agent.store.outbox import OutboxRow

log = logging.getLogger("probe_agent.agent")

Prober = Callable[..., Awaitable[ProbeResult]]
Outbox = Callable[[Event], Sequence[OutboxRow]]  # an event -> its deliveries (routing; none without channels)
_RECHECKING = (Phase.SUSPECT, Phase.DOWN)  # phases probed every retry_interval instead of on the grid


class Sink(Protocol):
    def submit(
        self,
        results: Any = (),
        intervals: Any = (),
        fold_states: Any = ...,
        run_id: int | None = None,
        outbox: Any = (),
    ) -> None: ...

    @property
    def full(self) -> bool: ...


class EndpointWorker:
    """Runs one endpoint's probes; ``probe_once`` is the scheduler's job callback."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        agent: str,
        fold: TimelineFold,
        controls: Controls,
        sink: Sink,
        run_id: int,
        prober: Prober,
        resolvers: tuple[str, ...] = (),
        clock: LabelClock | None = None,
        outbox: Outbox | None = None,
        on_result: Callable[[ProbeResult], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.agent = agent
        self.fold = fold
        self.controls = controls
        self.sink = sink
        self.run_id = run_id
        self.prober = prober
        self.resolvers = resolvers
        self.clock = clock if clock is not None else LabelClock()
        self.outbox: Outbox = outbox if outbox is not None else (lambda event: ())
        self.on_result = on_result  # told each result handed to the store (the daemon's counters for /metrics)
        # The first down result of the current suspect run or outage: (error kind, detail), what endpoint_down tells.
        # Not in the fold's snapshot: after a restart mid-suspect-run, the confirming result speaks instead.
        self._first_down: tuple[str, str | None] | None = None
        self.last_result: ProbeResult | None = None
        self.certs = CertWatch(agent)  # cert_expiring episodes of this endpoint's peer certificate
        self.probes = 0
        self.paused_probes = 0  # slots skipped (or results dropped before the fold) while the store queue was full
        self.closed = False

    def update(self, endpoint: Endpoint, controls: Controls) -> None:
        """A reload changed this endpoint: keep the timeline, take the new settings."""
        if FoldParams.of(endpoint) != FoldParams.of(self.endpoint):
            self.fold = TimelineFold(self.agent, endpoint.id, FoldParams.of(endpoint), self.fold.snapshot())
        self.endpoint = endpoint
        self.controls = controls

    @property
    def rechecking(self) -> bool:
        """Whether the next probe is a re-check (suspect or down: probed every ``retry_interval``)."""
        return self.fold.phase in _RECHECKING

    async def probe_once(self) -> float | None:
        """Probe, record, and return the re-check delay in seconds (suspect/down), or None to stay on the grid."""
        ep = self.endpoint
        recheck = self.rechecking
        if self.sink.full:
            return self._paused(recheck)
        started = self.controls.now()
        label = self.clock.read()  # the probe's start, on the daemon's label clock (see agent/clock.py)
        raw = await self.prober(ep, agent=self.agent, resolvers=self.resolvers, recheck=recheck)
        return await self.take(raw, started, label)

    async def take(self, raw: ProbeResult, started: float, label: Label) -> float | None:
        """A probe's raw result, judged against the controls (``started``: the probe's start on their clock) and
        recorded (``record``). Used by ``probe_once`` and, for results of a probe process, by the pool."""
        return self.record(await self.controls.judge(raw, started), label)

    def record(self, result: ProbeResult, label: Label) -> float | None:
        """A judged result, labelled with ``label`` (the probe's start), folded and handed to the store with the
        fold's snapshot and the events of the transition. Returns the re-check delay in seconds, or None for the
        grid. A result of a removed endpoint, or one met by a full store queue, is dropped (no_data)."""
        ep = self.endpoint
        before = self.fold.phase
        if self.closed:
            # Removed by a reload while this probe ran: its timeline already ended before this result's ts, so
            # storing it would leave a result no interval accounts for. Drop it.
            log.info("%s: probe finished after the endpoint was removed; result dropped", ep.id)
            return None
        if self.sink.full:  # other probes filled the queue while this one ran; the fold has not seen it
            return self._paused(before in _RECHECKING)
        result = self._labelled(result, label)
        outage_start = self.fold.outage_start_ms  # before the feed: an up result ends the outage and clears it
        closed = self.fold.feed(result)
        event = self._event(before, self.fold.phase, result, outage_start)
        events = [*([event] if event is not None else []), *self.certs.observe(ep, result)]
        self.sink.submit(
            results=[result],
            intervals=closed,
            fold_states={(self.agent, ep.id): self.fold.snapshot_json()},
            run_id=self.run_id,
            outbox=[row for e in events for row in self.outbox(e)],
        )
        self.last_result = result
        self.probes += 1
        if self.on_result is not None:
            self.on_result(result)
        after = self.fold.phase
        if after != before:
            self._log_transition(before, after, result, closed)
        return ep.retry_interval / 1000 if after in _RECHECKING else None

    def _event(self, before: Phase, after: Phase, result: ProbeResult, outage_start: int | None) -> Event | None:
        """The notification event of this transition, if it is one: down confirmed, or a confirmed outage over."""
        if after in _RECHECKING and before not in _RECHECKING:
            kind = result.error_kind.value if result.error_kind else result.outcome.value
            self._first_down = (kind, result.detail)
        if after is Phase.DOWN and before is not Phase.DOWN:
            kind = result.error_kind.value if result.error_kind else result.outcome.value
            first_kind, first_detail = self._first_down or (kind, result.detail)
            start = self.fold.outage_start_ms
            return endpoint_down(
                self.agent,
                self.endpoint.id,
                outage_start_ms=start if start is not None else result.ts_ms,
                confirmed_ms=result.ts_ms,
                error_kind=first_kind,
                detail=first_detail,
            )
        if before is Phase.DOWN and after is not Phase.DOWN and outage_start is not None:
            return endpoint_recovered(
                self.agent, self.endpoint.id, outage_start_ms=outage_start, recovered_ms=result.ts_ms
            )
        return None

    def _labelled(self, result: ProbeResult, label: Label) -> ProbeResult:
        """The result with the label clock's ts (the prober stamps its own wall clock) and the clock's note, if any."""
        ts = label.ts_ms
        last = self.fold.last_ts_ms
        if last is not None and ts <= last:
            # Labels never go backwards and probes of one endpoint never overlap, so this is a bug: keep the result
            # (ordered after the last one) rather than lose it, and say so.
            log.error(
                "%s: label %s is not after the last result's %s; labelled %s", self.endpoint.id, ts, last, last + 1
            )
            ts = last + 1
        detail = f"{result.detail} ({label.note})" if result.detail and label.note else result.detail or label.note
        return replace(result, ts_ms=ts, detail=detail[:500])

    def _paused(self, recheck: bool) -> float | None:
        """The store queue is full: skip this probe (its time becomes no_data). A suspect or down endpoint keeps
        its re-check cadence, so it resumes within ``retry_interval`` of the queue draining."""
        self.paused_probes += 1
        return self.endpoint.retry_interval / 1000 if recheck else None

    def close(self, end_ms: int) -> list[StateInterval]:
        """The run ends (stop, or the endpoint was removed): close the open span at ``end_ms`` and store it."""
        self.closed = True
        closed = self.fold.end_run(end_ms)
        self.sink.submit(intervals=closed, fold_states={(self.agent, self.endpoint.id): self.fold.snapshot()})
        return closed

    def _log_transition(self, before: Phase, after: Phase, result: ProbeResult, closed: list[StateInterval]) -> None:
        kind = result.error_kind.value if result.error_kind else result.outcome.value
        name = self.endpoint.id
        if after is Phase.DOWN:
            start = self.fold.outage_start_ms or result.ts_ms
            log.warning("%s: DOWN confirmed (%s), outage started at %s: %s", name, kind, iso(start), result.detail)
        elif after is Phase.SUSPECT:
            log.info("%s: suspect (%s), re-checking every %ss", name, kind, self.endpoint.retry_interval / 1000)
        elif before is Phase.DOWN:
            log.warning("%s: recovered (%s) at %s", name, after, iso(result.ts_ms))
        elif after is Phase.UNKNOWN:
            log.warning("%s: unknown (%s): %s", name, kind, result.detail)
        else:
            log.info("%s: %s -> %s", name, before, after)
