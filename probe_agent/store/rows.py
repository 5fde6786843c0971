"""Conversions between the shared value types and table rows, and the store's own record types.

Row tuples follow the column order of the INSERT statements defined here, so the writer and ``import_batch``
share one encoding and ``queries`` one decoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from probe_agent.latency import LatencyHistogram
from probe_agent.model import ErrorKind, Outcome, ProbeResult, State, StateInterval

RESULT_COLUMNS = (
    "agent, endpoint, ts_ms, outcome, latency_ms, status_code, error_kind, detail, phases, tls_days_left, "
    "recheck, run_id"
)
INSERT_RESULT = f"INSERT INTO results ({RESULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_RESULT_OR_IGNORE = INSERT_RESULT.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)

INTERVAL_COLUMNS = "agent, endpoint, start_ms, end_ms, state, cause, outage_start_ms"
INSERT_INTERVAL = f"INSERT INTO intervals ({INTERVAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"

UPSERT_FOLD_STATE = (
    "INSERT INTO fold_state (agent, endpoint, snapshot, updated_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (agent, endpoint) DO UPDATE SET snapshot = excluded.snapshot, updated_ms = excluded.updated_ms"
)
DELETE_FOLD_STATE = "DELETE FROM fold_state WHERE agent = ? AND endpoint = ?"

ResultRow = tuple[Any, ...]
IntervalRow = tuple[str, str, int, int, str, str | None, int | None]


# One encoder for every call: json.dumps with options other than its defaults builds a new JSONEncoder each time.
_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def compact_json(value: Any) -> str:
    """JSON without spaces; keys sorted so equal values give equal text (hashes, dedup)."""
    return _COMPACT.encode(value)


def result_row(result: ProbeResult, run_id: int | None) -> ResultRow:
    phases = compact_json(dict(result.phases)) if result.phases else "{}"
    return (
        result.agent,
        result.endpoint,
        result.ts_ms,
        result.outcome.value,
        result.latency_ms,
        result.status_code,
        None if result.error_kind is None else result.error_kind.value,
        result.detail,
        phases,
        result.tls_days_left,
        1 if result.recheck else 0,
        run_id,
    )


def result_from_row(row: tuple[Any, ...]) -> ProbeResult:
    """Decode a row selected as ``RESULT_COLUMNS`` (``run_id`` last, ignored here)."""
    (agent, endpoint, ts_ms, outcome, latency, status, error_kind, detail, phases, tls_days, recheck) = row[:11]
    decoded: Mapping[str, float] = _NO_PHASES
    if phases != "{}":
        decoded = MappingProxyType({str(k): float(v) for k, v in json.loads(phases).items()})
    # STRICT columns: REAL comes back as float, INTEGER as int; only the enums and the flag need mapping.
    return ProbeResult(
        ts_ms,
        agent,
        endpoint,
        _OUTCOMES[outcome],
        latency,
        status,
        None if error_kind is None else _ERROR_KINDS[error_kind],
        detail,
        decoded,
        tls_days,
        recheck == 1,
    )


_NO_PHASES: Mapping[str, float] = MappingProxyType({})


FOLD_COLUMNS = "agent, endpoint, ts_ms, outcome, error_kind"


def fold_input_from_row(row: tuple[Any, ...]) -> ProbeResult:
    """Decode a row selected as ``FOLD_COLUMNS``: a result with only what the measurement fold reads (``fold.py``:
    who, when, the outcome and its error kind), every other field at its default. For re-folding stored results
    (``import``), where decoding the rest (the phases' JSON) would be most of the cost; never stored or shown."""
    agent, endpoint, ts_ms, outcome, error_kind = row
    return ProbeResult(
        ts_ms, agent, endpoint, _OUTCOMES[outcome], error_kind=None if error_kind is None else _ERROR_KINDS[error_kind]
    )


def interval_row(interval: StateInterval) -> IntervalRow:
    return (
        interval.agent,
        interval.endpoint,
        interval.start_ms,
        interval.end_ms,
        interval.state.value,
        interval.cause,
        interval.outage_start_ms,
    )


def interval_from_row(row: tuple[Any, ...]) -> StateInterval:
    # Hot on the report path (hundreds of thousands of rows): STRICT tables already guarantee the column types,
    # so no casts, and a dict lookup instead of calling the enum.
    agent, endpoint, start_ms, end_ms, state, cause, outage_start = row
    return StateInterval(agent, endpoint, start_ms, end_ms, _STATES[state], cause, outage_start)


_STATES = {s.value: s for s in State}
_OUTCOMES = {o.value: o for o in Outcome}
_ERROR_KINDS = {k.value: k for k in ErrorKind}


@dataclass
class RollupSums:
    """Result counts and the latency histogram of one (agent, endpoint) over a time range.

    ``n_up``/``n_degraded``/``n_down``/``n_unknown`` exclude re-checks (they feed the error rate);
    ``n_recheck`` counts re-checks of any outcome; ``histogram`` covers up and degraded results including
    re-checks (it feeds latency objectives).
    """

    n_up: int = 0
    n_degraded: int = 0
    n_down: int = 0
    n_unknown: int = 0
    n_recheck: int = 0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, other: RollupSums) -> None:
        self.n_up += other.n_up
        self.n_degraded += other.n_degraded
        self.n_down += other.n_down
        self.n_unknown += other.n_unknown
        self.n_recheck += other.n_recheck
        self.histogram.merge(other.histogram)

    def subtract(self, other: RollupSums) -> None:
        """Remove ``other``, a part of these sums (the results of a sub-range): counts and histogram."""
        self.n_up -= other.n_up
        self.n_degraded -= other.n_degraded
        self.n_down -= other.n_down
        self.n_unknown -= other.n_unknown
        self.n_recheck -= other.n_recheck
        if min(self.n_up, self.n_degraded, self.n_down, self.n_unknown, self.n_recheck) < 0:
            raise ValueError("subtracted more results than these sums hold")
        self.histogram.subtract(other.histogram)

    @classmethod
    def merged(cls, parts: Iterable[RollupSums]) -> RollupSums:
        total = cls()
        for part in parts:
            total.add(part)
        return total


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A period taken out of SLA accounting. ``revoked_ms`` is None unless someone revoked it."""

    id: int
    scope_kind: str  # sla | service | endpoint
    scope_id: str
    start_ms: int
    end_ms: int
    kind: str  # maintenance | customer | force_majeure
    reason: str
    author: str
    created_ms: int
    revoked_ms: int | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, slots=True)
class ClosedCycle:
    """An immutable closed billing cycle: the report and credit as they were decided (decoded JSON)."""

    sla: str
    cycle_start_ms: int
    cycle_end_ms: int
    closed_ms: int
    inputs_hash: str
    report: Any
    credit: Any


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A ``runs`` row as stored (``AgentRun`` is the view the measurement fold uses)."""

    run_id: int
    agent: str
    started_ms: int
    heartbeat_ms: int
    stopped_ms: int | None
    clean: bool | None
    pid: int | None
    hostname: str | None
    version: str | None
    config_hash: str | None
