"""The measurement fold: one (agent, endpoint)'s ordered results and agent runs become state intervals.

One rule set serves live probing (``TimelineFold.feed``, one result at a time), ``import`` and ``evidence
verify`` (``fold`` over a file): same input, same intervals. The rules are the design's "Measurement model":

- Coverage: a result speaks for ``[ts, min(next ts, ts + interval + grace, end of its agent run))``. Time no
  result speaks for is ``no_data``. A run end earlier than the last result's ts (a result written after the
  crashed run's last heartbeat) leaves that result speaking for no time; its outcome still counts.
- Confirmation: ``confirm`` consecutive ``down`` results make the endpoint down, and the outage starts at the
  first of them. ``no_data`` between them keeps the count. An ``up``/``degraded`` result before that clears
  the run (a blip: its down spans become ``up``). An ``unknown`` result also ends the run and resolves it as a
  blip (its down spans become ``up``); the next ``down`` starts counting at 1.
- Recovery: the outage ends at the first ``up``/``degraded`` result. ``unknown`` and ``no_data`` spans inside
  it keep their state but carry the outage's ``outage_start_ms`` and ``cause`` (the error kind of its first
  failing result), so it stays one incident. A standalone ``unknown`` span carries its own error kind.
- Adjacent spans with the same (state, cause, outage_start_ms) are one interval. An interval is emitted when
  it closes: the next span differs, or the agent run ends (``end_run``) and no suspect run is pending.

Results must come in strictly increasing ts: ``feed`` raises ValueError for an out-of-order or duplicate ts
and for a ts inside a run that was already ended; ``fold`` sorts first.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from probe_agent.fold_json import snapshot_text
from probe_agent.model import AgentRun, Outcome, ProbeResult, State, StateInterval

SNAPSHOT_VERSION = 1


class Phase(StrEnum):
    """The confirmation state of one (agent, endpoint). A ``StrEnum``, so a snapshot stores (and a log line or a
    status document shows) the plain value, and a snapshot written before the enum existed still loads."""

    NEW = "new"  # before any result
    UP = "up"
    DEGRADED = "degraded"
    SUSPECT = "suspect"  # down results seen, fewer than ``confirm`` of them
    DOWN = "down"  # a confirmed outage
    UNKNOWN = "unknown"


_PHASE_VALUES = tuple(phase.value for phase in Phase)  # a tuple: an unhashable phase is "unknown" too

# A span's identity: (state, cause, outage_start_ms). Adjacent spans with equal keys coalesce.
_Key = tuple[State, str | None, int | None]
_PLAIN_NO_DATA: _Key = (State.NO_DATA, None, None)


class FoldSettings(Protocol):
    """What the fold needs of a configured endpoint (``config.schema.Endpoint``, or ``Defaults`` for an endpoint
    no longer configured): durations in milliseconds. A protocol, so this module does not import ``config/``."""

    @property
    def interval(self) -> int: ...

    @property
    def grace(self) -> int: ...

    @property
    def confirm(self) -> int: ...


@dataclass(frozen=True, slots=True)
class FoldParams:
    """``interval_ms``: the endpoint's normal interval (> 0); ``grace_ms``: extra coverage after it (>= 0,
    normally the endpoint's timeout); ``confirm``: consecutive down results that make an outage (>= 1)."""

    interval_ms: int
    grace_ms: int
    confirm: int

    @classmethod
    def of(cls, settings: FoldSettings) -> FoldParams:
        """The parameters of an endpoint as configured (its ``interval``, ``grace`` and ``confirm``, defaults
        applied), or of the config's ``defaults`` for an endpoint no longer configured (``grace``: the timeout)."""
        return cls(interval_ms=settings.interval, grace_ms=settings.grace, confirm=settings.confirm)

    def __post_init__(self) -> None:
        if self.interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {self.interval_ms}")
        if self.grace_ms < 0:
            raise ValueError(f"grace_ms must not be negative, got {self.grace_ms}")
        if self.confirm < 1:
            raise ValueError(f"confirm must be at least 1, got {self.confirm}")


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    key: _Key


class TimelineFold:
    """The state machine of one (agent, endpoint); resumable from ``snapshot()``.

    Internally the timeline is: emitted intervals | ``_cur`` (resolved, may still grow) | ``_pending``
    (spans of an unconfirmed suspect run, resolved when it confirms or clears) | the last result's span (its
    end is known only when the next result arrives or the run ends).
    """

    def __init__(self, agent: str, endpoint: str, params: FoldParams, snapshot: dict[str, Any] | None = None) -> None:
        self.agent = agent
        self.endpoint = endpoint
        self.params = params
        self._phase = Phase.NEW
        self._count = 0  # down results in the current suspect run
        self._suspect_start: int | None = None
        self._suspect_cause: str | None = None
        self._outage_start: int | None = None
        self._outage_cause: str | None = None
        self._cur: _Span | None = None
        self._pending: list[tuple[int, int, State]] = []  # (start, end, DOWN or NO_DATA)
        self._last_ts: int | None = None
        self._last_bound = 0  # ts + interval + grace, lowered by a run end
        self._last_open = False  # the last result's span is not closed yet
        self._last_key: _Key = _PLAIN_NO_DATA
        self._last_pending = False  # the last result is a down inside the unconfirmed suspect run
        self._frontier: int | None = None  # the timeline is settled up to here (excluding the open last span)
        if snapshot is not None:
            self._restore(snapshot)

    # -- views ---------------------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """The confirmation state: ``NEW`` before any result, then ``UP`` | ``DEGRADED`` | ``SUSPECT`` | ``DOWN`` |
        ``UNKNOWN``. An unknown result during an outage keeps ``DOWN``; a run end keeps the phase."""
        return self._phase

    @property
    def suspect_count(self) -> int:
        """Down results counted so far in the current suspect run (0 outside one)."""
        return self._count

    @property
    def outage_start_ms(self) -> int | None:
        """Start of the confirmed outage in progress (its first failure), else None."""
        return self._outage_start

    @property
    def last_ts_ms(self) -> int | None:
        return self._last_ts

    @property
    def open_interval(self) -> StateInterval | None:
        """The interval holding the latest result as far as known now: it ends where that result's coverage
        ends (ts + interval + grace) and starts where its coalesced span began. A pending suspect run is shown
        as up (as if it cleared now). None before the first result and after the run ended."""
        if not self._last_open:
            return None
        return self.pending()[-1]

    def pending(self) -> list[StateInterval]:
        """Everything not yet emitted, as it stands now, without changing the fold: the growing interval, the
        suspect run resolved as if it cleared now (down spans up), and the last result's span up to its
        coverage bound. Emitted intervals, then ``pending()``, tile the timeline from the first result."""
        spans: list[tuple[int, int, _Key]] = []
        if self._cur is not None:
            spans.append((self._cur.start, self._cur.end, self._cur.key))
        spans.extend((start, end, self._blip_key(state)) for start, end, state in self._pending)
        if self._last_open and self._last_ts is not None:
            key = self._blip_key(State.DOWN) if self._last_pending else self._last_key
            spans.append((self._last_ts, self._last_bound, key))
        merged: list[_Span] = []
        for start, end, key in spans:
            if end <= start:
                continue
            if merged and merged[-1].key == key and merged[-1].end == start:
                merged[-1].end = end
            else:
                merged.append(_Span(start, end, key))
        return [self._interval(span) for span in merged]

    # -- events --------------------------------------------------------------------------------------------

    def feed(self, result: ProbeResult) -> list[StateInterval]:
        """Fold in the next result (strictly later ts than the previous); returns the intervals it closed."""
        if result.agent != self.agent or result.endpoint != self.endpoint:
            raise ValueError(
                f"result of {result.agent}/{result.endpoint} fed to the fold of {self.agent}/{self.endpoint}"
            )
        ts = result.ts_ms
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"result at {ts} is not after the previous result at {self._last_ts}")
        if self._frontier is not None and ts < self._frontier:
            raise ValueError(f"result at {ts} falls inside an agent run that already ended at {self._frontier}")
        closed: list[StateInterval] = []
        if self._last_open:
            closed += self._close_last(min(ts, self._last_bound))
        if self._frontier is not None and self._frontier < ts:
            key, pending = self._gap_template()
            closed += self._add(self._frontier, ts, key, pending)
        closed += self._apply(result)
        self._last_ts = ts
        self._last_bound = ts + self.params.interval_ms + self.params.grace_ms
        self._last_open = True
        self._frontier = ts
        return closed

    def end_run(self, end_ms: int) -> list[StateInterval]:
        """The agent run ended at ``end_ms`` (clean stop, or the last heartbeat after a crash): the last
        result's span ends there at the latest, and what follows until the next result is no_data.

        Closes the growing interval too unless a suspect run is pending (it may still turn out up or down) or
        the interval is no_data of the same kind as the gap that follows. Calling it again, or before any
        result, does nothing. The phase (and a suspect count) is kept for the next run.
        """
        if not self._last_open:
            return []
        closed = self._close_last(min(self._last_bound, end_ms))
        cur = self._cur
        if not self._pending and cur is not None and cur.key != self._gap_template()[0]:
            closed.append(self._interval(cur))
            self._cur = None
        return closed

    # -- snapshot ------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume after a restart, as plain JSON values."""
        cur = self._cur
        return {
            "v": SNAPSHOT_VERSION,
            "agent": self.agent,
            "endpoint": self.endpoint,
            "phase": self._phase.value,
            "count": self._count,
            "suspect_start": self._suspect_start,
            "suspect_cause": self._suspect_cause,
            "outage_start": self._outage_start,
            "outage_cause": self._outage_cause,
            "cur": None if cur is None else [cur.start, cur.end, *_key_json(cur.key)],
            "pending": [[start, end, state.value] for start, end, state in self._pending],
            "last": None
            if self._last_ts is None
            else {
                "ts": self._last_ts,
                "bound": self._last_bound,
                "open": self._last_open,
                "key": _key_json(self._last_key),
                "pending": self._last_pending,
            },
            "frontier": self._frontier,
        }

    def snapshot_json(self) -> str:
        """``snapshot()`` as the store keeps it (compact JSON, sorted keys), written without the dict (fold_json.py):
        what the daemon hands the writer with each result."""
        cur = self._cur
        last = self._last_key
        return snapshot_text(
            version=SNAPSHOT_VERSION,
            agent=self.agent,
            endpoint=self.endpoint,
            phase=self._phase.value,
            count=self._count,
            suspect_start=self._suspect_start,
            suspect_cause=self._suspect_cause,
            outage_start=self._outage_start,
            outage_cause=self._outage_cause,
            cur=None if cur is None else (cur.start, cur.end, (cur.key[0].value, cur.key[1], cur.key[2])),
            pending=[(start, end, state.value) for start, end, state in self._pending],
            last=None
            if self._last_ts is None
            else (
                self._last_ts,
                self._last_bound,
                self._last_open,
                (last[0].value, last[1], last[2]),
                self._last_pending,
            ),
            frontier=self._frontier,
        )

    def _restore(self, data: dict[str, Any]) -> None:
        if data.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"fold snapshot version {data.get('v')!r} is not {SNAPSHOT_VERSION}")
        if data.get("agent") != self.agent or data.get("endpoint") != self.endpoint:
            raise ValueError(
                f"fold snapshot of {data.get('agent')}/{data.get('endpoint')} given to {self.agent}/{self.endpoint}"
            )
        try:
            phase = data["phase"]
            if phase not in _PHASE_VALUES:
                raise ValueError(f"unknown phase {phase!r}")
            self._phase = Phase(phase)
            self._count = _int(data["count"])
            self._suspect_start = _opt_int(data["suspect_start"])
            self._suspect_cause = _opt_str(data["suspect_cause"])
            self._outage_start = _opt_int(data["outage_start"])
            self._outage_cause = _opt_str(data["outage_cause"])
            cur = data["cur"]
            self._cur = None if cur is None else _Span(_int(cur[0]), _int(cur[1]), _key_from_json(cur[2:]))
            self._pending = [(_int(s), _int(e), State(st)) for s, e, st in data["pending"]]
            last = data["last"]
            if last is not None:
                self._last_ts = _int(last["ts"])
                self._last_bound = _int(last["bound"])
                self._last_open = bool(last["open"])
                self._last_key = _key_from_json(last["key"])
                self._last_pending = bool(last["pending"])
            self._frontier = _opt_int(data["frontier"])
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"malformed fold snapshot: {exc!r}") from None

    # -- internals -----------------------------------------------------------------------------------------

    def _apply(self, result: ProbeResult) -> list[StateInterval]:
        """The transition table: new phase and the template of the result's own span."""
        outcome = result.outcome
        kind = None if result.error_kind is None else result.error_kind.value
        closed: list[StateInterval] = []
        if outcome in (Outcome.UP, Outcome.DEGRADED):
            if self._phase is Phase.SUSPECT:
                closed += self._resolve(confirmed=False)
            self._outage_start = self._outage_cause = None  # an outage ends at this ts
            state = State.UP if outcome is Outcome.UP else State.DEGRADED
            self._set_last((state, None, None))
            self._phase = Phase.UP if outcome is Outcome.UP else Phase.DEGRADED
        elif outcome is Outcome.DOWN:
            if self._phase is Phase.DOWN:
                self._set_last((State.DOWN, self._outage_cause, self._outage_start))
                return closed
            if self._phase is not Phase.SUSPECT:
                self._suspect_start, self._suspect_cause, self._count = result.ts_ms, kind, 0
            self._count += 1
            if self._count >= self.params.confirm:
                self._outage_start, self._outage_cause = self._suspect_start, self._suspect_cause
                in_outage = (State.DOWN, self._outage_cause, self._outage_start)
                closed += self._resolve(confirmed=True)
                self._set_last(in_outage)
                self._phase = Phase.DOWN
            else:
                self._set_last((State.DOWN, None, None), pending=True)
                self._phase = Phase.SUSPECT
        elif self._phase is Phase.DOWN:  # unknown inside an outage: not down time, but still the same incident
            self._set_last((State.UNKNOWN, self._outage_cause, self._outage_start))
        else:  # unknown: the agent could not tell, so an unconfirmed suspect run cannot be confirmed by it
            if self._phase is Phase.SUSPECT:
                closed += self._resolve(confirmed=False)
            self._set_last((State.UNKNOWN, kind, None))
            self._phase = Phase.UNKNOWN
        return closed

    def _set_last(self, key: _Key, *, pending: bool = False) -> None:
        self._last_key = key
        self._last_pending = pending

    def _gap_template(self) -> tuple[_Key, bool]:
        """What time no result speaks for becomes in this phase: (key, part of the pending suspect run)."""
        if self._phase is Phase.DOWN:
            return (State.NO_DATA, self._outage_cause, self._outage_start), False
        return _PLAIN_NO_DATA, self._phase is Phase.SUSPECT

    def _blip_key(self, state: State) -> _Key:
        """A pending span's key if its suspect run clears: down spans count as up, gaps stay no_data."""
        return (State.UP, None, None) if state is State.DOWN else _PLAIN_NO_DATA

    def _resolve(self, *, confirmed: bool) -> list[StateInterval]:
        closed: list[StateInterval] = []
        for start, end, state in self._pending:
            key = (state, self._outage_cause, self._outage_start) if confirmed else self._blip_key(state)
            closed += self._append(start, end, key)
        self._pending = []
        self._count = 0
        self._suspect_start = self._suspect_cause = None
        return closed

    def _close_last(self, end: int) -> list[StateInterval]:
        assert self._last_ts is not None
        end = max(end, self._last_ts)  # a run that ended before this result: it speaks for no time
        closed = self._add(self._last_ts, end, self._last_key, self._last_pending)
        self._last_open = False
        self._frontier = end
        return closed

    def _add(self, start: int, end: int, key: _Key, pending: bool) -> list[StateInterval]:
        if end <= start:
            return []
        if not pending:
            return self._append(start, end, key)
        state = key[0]
        if self._pending and self._pending[-1][2] is state and self._pending[-1][1] == start:
            self._pending[-1] = (self._pending[-1][0], end, state)
        else:
            self._pending.append((start, end, state))
        return []

    def _append(self, start: int, end: int, key: _Key) -> list[StateInterval]:
        cur = self._cur
        if cur is not None and cur.key == key and cur.end == start:
            cur.end = end
            return []
        self._cur = _Span(start, end, key)
        return [] if cur is None else [self._interval(cur)]

    def _interval(self, span: _Span) -> StateInterval:
        state, cause, outage_start = span.key
        return StateInterval(self.agent, self.endpoint, span.start, span.end, state, cause, outage_start)


def fold(
    agent: str,
    endpoint: str,
    params: FoldParams,
    results: Iterable[ProbeResult],
    runs: Sequence[AgentRun] = (),
) -> list[StateInterval]:
    """All intervals of one (agent, endpoint): the closed ones, then the pending ones closed at their bound.

    Results are sorted by ts; an exact duplicate is dropped, two different results at one ts raise ValueError.
    A result belongs to the run of ``agent`` with the latest start at or before its ts (results before every
    run, such as imported data, belong to none and are bounded only by the next result and interval + grace).
    When the next result belongs to another run, or the input ends, the run's end is applied (``end_run``) if
    it has one; a live run (``end_ms`` None) imposes no bound. This is the order the daemon sees: every result
    of a run, then at the next start-up that run's end, so a result written after a crashed run's last
    heartbeat speaks for no time.
    """
    closed, timeline = fold_walk(agent, endpoint, params, _ordered(results), runs)
    return closed + timeline.pending()


def fold_walk(
    agent: str, endpoint: str, params: FoldParams, ordered: Iterable[ProbeResult], runs: Sequence[AgentRun] = ()
) -> tuple[list[StateInterval], TimelineFold]:
    """The walk behind ``fold``: results already in strictly increasing ts order; returns the closed intervals and
    the fold as the daemon would leave it (``import`` stores exactly these, plus the fold's snapshot)."""
    timeline = TimelineFold(agent, endpoint, params)
    return list(walk(timeline, ordered, runs)), timeline


def walk(
    timeline: TimelineFold, ordered: Iterable[ProbeResult], runs: Sequence[AgentRun] = ()
) -> Iterator[StateInterval]:
    """``fold_walk`` one closed interval at a time, into a fresh ``timeline``: a result belongs to the run with the
    latest start at or before its ts; a run's end is applied when the next result belongs to another run, or the
    input ends. Holds one result at a time, so ``import`` folds a pair of any size in bounded memory; once this is
    exhausted ``timeline`` is the fold as the daemon would leave it. Raises ValueError where the fold does."""
    mine = sorted((run for run in runs if run.agent == timeline.agent), key=lambda run: run.start_ms)
    starts = [run.start_ms for run in mine]
    current: AgentRun | None = None
    for result in ordered:
        index = bisect.bisect_right(starts, result.ts_ms) - 1
        run = mine[index] if index >= 0 else None
        if run is not current:
            if current is not None and current.end_ms is not None:
                yield from timeline.end_run(current.end_ms)
            current = run
        yield from timeline.feed(result)
    if current is not None and current.end_ms is not None:
        yield from timeline.end_run(current.end_ms)


def _ordered(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    ordered: list[ProbeResult] = []
    for result in sorted(results, key=lambda r: r.ts_ms):
        if ordered and ordered[-1].ts_ms == result.ts_ms:
            if ordered[-1] != result:
                raise ValueError(f"two different results of {result.endpoint} at the same ts {result.ts_ms}")
            continue
        ordered.append(result)
    return ordered


def snapshot_latest_ms(snapshot: dict[str, Any]) -> int | None:
    """The latest time a stored fold snapshot holds: its last result's ts or where its timeline is settled to,
    whichever is later (None before the first result). A result fed to it must come after this."""
    last = snapshot.get("last")
    times = [snapshot.get("frontier"), last.get("ts") if isinstance(last, dict) else None]
    return max((t for t in times if isinstance(t, int) and not isinstance(t, bool)), default=None)


def snapshot_spans(agent: str, endpoint: str, snapshot: dict[str, Any]) -> list[StateInterval]:
    """The spans a stored fold snapshot holds that are not emitted yet (``TimelineFold.pending()`` of it resumed),
    for a reader that has no config at hand: the parameters only shape results fed later, never these spans.
    Raises ValueError for a snapshot that cannot be resumed."""
    return TimelineFold(agent, endpoint, _READ_ONLY, snapshot).pending()


_READ_ONLY = FoldParams(interval_ms=1, grace_ms=0, confirm=1)  # never fed: see snapshot_spans


def _key_json(key: _Key) -> list[Any]:
    return [key[0].value, key[1], key[2]]


def _key_from_json(raw: Sequence[Any]) -> _Key:
    state, cause, outage_start = raw
    return State(state), _opt_str(cause), _opt_int(outage_start)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value
