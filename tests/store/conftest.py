"""Shared builders for the store tests: real files under tmp_path, real value types."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe_agent.model import ErrorKind, Outcome, ProbeResult, State, StateInterval
from probe_agent.store import open_db

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, an hour boundary


def result(
    ts_ms: int,
    outcome: Outcome | str = Outcome.UP,
    *,
    agent: str = "ams",
    endpoint: str = "api",
    latency_ms: float | None = 10.0,
    recheck: bool = False,
) -> ProbeResult:
    outcome = Outcome(outcome)
    return ProbeResult(
        ts_ms=ts_ms,
        agent=agent,
        endpoint=endpoint,
        outcome=outcome,
        latency_ms=latency_ms,
        status_code=200 if outcome in (Outcome.UP, Outcome.DEGRADED) else None,
        error_kind=ErrorKind.CONNECT_REFUSED if outcome is Outcome.DOWN else None,
        recheck=recheck,
    )


def interval(
    start_ms: int, end_ms: int, state: State | str = State.UP, *, agent: str = "ams", endpoint: str = "api"
) -> StateInterval:
    return StateInterval(agent=agent, endpoint=endpoint, start_ms=start_ms, end_ms=end_ms, state=State(state))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "probe.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(db_path)
    yield c
    c.close()
