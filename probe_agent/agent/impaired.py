"""``agent_impaired``: the agent telling people that it cannot measure well, one episode per reason.

Reasons (``details.reason``; the event's subject is ``("agent", reason)``, its id comes from the episode's start):

- ``controls_failing``: the latest round of control probes found every control down (the agent's own network,
  ``agent/controls.py``); resolved by the first round with a control up. Controls are probed only when a target
  fails, so the episode is as fine-grained as those rounds.
- ``store_not_writable``: the store-trouble state (``agent/storehealth.py``). The event is handed to the single
  writer like every other outbox row, so it is committed, and so sent, only once the store takes writes again: it
  arrives late by nature, followed by its resolution (both keep the times they were seen).
- ``schedule_lagging``: the event loop or the scheduler did not keep time at a heartbeat (the watchdog's rule:
  lag past max(5 s, 2 beats)); resolved at the first heartbeat that finds them on time again.
- ``probe_worker_down``: a probe process (``agent.workers`` > 1, ``probe_workers.py``) died and is not running again
  yet; its endpoints are not probed meanwhile (``no_data``). A death and restart between two heartbeats is still one
  episode, opened at one beat and resolved at the next.
- ``coverage_gap``: found once at start when the previous run ended without a clean stop (a crash, a kill -9, a
  power cut): the time from its last sign of life to this start was not measured. The gap is over when it is
  found, so it is one event with its length and no resolution.

The episodes are judged at every heartbeat (``check``); :meth:`ImpairedWatch.healthy` is the dead man's switch's
rule (README "Dead man's switch").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from probe_agent.agent.controls import ControlsVerdict
from probe_agent.config.notify_schema import EventType
from probe_agent.model import iso
from probe_agent.notify.event import Event
from probe_agent.units import duration_text

log = logging.getLogger("probe_agent.agent")


class Reason(StrEnum):
    CONTROLS_FAILING = "controls_failing"
    STORE_NOT_WRITABLE = "store_not_writable"
    SCHEDULE_LAGGING = "schedule_lagging"
    COVERAGE_GAP = "coverage_gap"
    PROBE_WORKER_DOWN = "probe_worker_down"


_WHAT = {
    Reason.CONTROLS_FAILING: ("every control fails (the agent's own network)", "a control passes again"),
    Reason.STORE_NOT_WRITABLE: ("the store cannot be written", "the store takes writes again"),
    Reason.SCHEDULE_LAGGING: ("probing lags behind its schedule", "probing keeps its schedule again"),
    Reason.PROBE_WORKER_DOWN: ("a probe process died", "every probe process runs again"),
}


class ImpairedWatch:
    """The open episodes (reason -> start in ms) of one daemon run; ``check`` once per heartbeat."""

    def __init__(self, agent: str, enqueue: Callable[[Event], None]) -> None:
        self.agent = agent
        self.enqueue = enqueue
        self.open: dict[Reason, int] = {}
        self.detail: dict[Reason, str] = {}  # what is wrong, as of the latest check, for each open reason
        self.last_check_ms: int | None = None

    def coverage_gap(self, last_sign_ms: int, start_ms: int) -> Event | None:
        """At start: the previous run ended uncleanly at ``last_sign_ms`` (its last heartbeat or result); this run
        starts at ``start_ms``. One event (id from ``last_sign_ms``, so a repeat of the same start finds the same
        gap and the outbox keeps it once); None if the gap is empty."""
        gap = start_ms - last_sign_ms
        if gap <= 0:
            return None
        event = Event(
            EventType.AGENT_IMPAIRED,
            self.agent,
            ("agent", str(Reason.COVERAGE_GAP)),
            last_sign_ms,
            start_ms,
            f"agent {self.agent} was not measuring for {duration_text(gap)} (its previous run ended without a "
            f"clean stop at {iso(last_sign_ms)})",
            {
                "reason": str(Reason.COVERAGE_GAP),
                "gap_start": iso(last_sign_ms),
                "gap_end": iso(start_ms),
                "duration_ms": gap,
            },
        )
        log.warning("coverage gap: %s", event.summary)
        self.enqueue(event)
        return event

    def check(
        self,
        now_ms: int,
        *,
        controls_all_failing: str | None,
        store_problem: str | None,
        schedule_lag: str | None,
        worker_down: str | None = None,
    ) -> list[Event]:
        """Each argument is None when that reason does not hold, else what is wrong (goes into ``details``).
        Opens or resolves episodes; returns the events enqueued."""
        self.last_check_ms = now_ms
        events = [
            e
            for reason, problem in (
                (Reason.CONTROLS_FAILING, controls_all_failing),
                (Reason.STORE_NOT_WRITABLE, store_problem),
                (Reason.SCHEDULE_LAGGING, schedule_lag),
                (Reason.PROBE_WORKER_DOWN, worker_down),
            )
            if (e := self._step(reason, problem, now_ms)) is not None
        ]
        for event in events:
            self.enqueue(event)
        return events

    def controls_problem(self, verdict: ControlsVerdict | None) -> str | None:
        """The ``controls_all_failing`` argument of :meth:`check` from the latest round's verdict. No round since
        start or reload (controls are probed only when a target fails) tells nothing: the episode stays as it is."""
        if verdict is None:
            return "no control has passed since" if Reason.CONTROLS_FAILING in self.open else None
        return None if verdict.any_up else verdict.detail

    def healthy(self, now_ms: int, within_ms: int) -> bool:
        """The dead man's switch's rule: checked within ``within_ms`` (so a stopped heartbeat loop is not taken for
        health) and no open episode: the loop and scheduler keep time, the store commits, a control passes."""
        if self.last_check_ms is None or now_ms - self.last_check_ms > within_ms:
            return False
        return not self.open

    def _step(self, reason: Reason, problem: str | None, now_ms: int) -> Event | None:
        start = self.open.get(reason)
        if problem is None:
            self.detail.pop(reason, None)
        else:
            self.detail[reason] = problem
        if problem is not None and start is None:
            self.open[reason] = now_ms
            return self._event(EventType.AGENT_IMPAIRED, reason, now_ms, now_ms, problem)
        if problem is None and start is not None:
            del self.open[reason]
            return self._event(EventType.AGENT_IMPAIRED_RESOLVED, reason, start, now_ms, None)
        return None

    def _event(self, kind: EventType, reason: Reason, start_ms: int, now_ms: int, problem: str | None) -> Event:
        bad, good = _WHAT[reason]
        details: dict[str, Any] = {"reason": str(reason), "since": iso(start_ms)}
        if kind is EventType.AGENT_IMPAIRED:
            summary = f"agent {self.agent}: {bad}: {problem}"
            details["problem"] = problem
        else:
            summary = f"agent {self.agent}: {good} after {duration_text(now_ms - start_ms)}"
            details["duration_ms"] = now_ms - start_ms
        return Event(kind, self.agent, ("agent", str(reason)), start_ms, now_ms, summary, details)
