"""The inputs hash moves when, and only when, data that can change a figure changes (reports/inputs_hash.py).

A 60-minute explicit period [0, 60 min), slices of 1 minute with ``min_run: 6``, so a run across an edge is followed
6 minutes past it (``reach_ms``). Each case hashes a baseline and a changed input, and states which way it must go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe_agent.config import load_config
from probe_agent.model import State, StateInterval
from probe_agent.reports.inputs_hash import inputs_hash, relevant_span
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.periods import explicit_period
from probe_agent.store.rows import Exclusion

M = 60_000
PERIOD = explicit_period(0, 60 * M, "an hour")
REACH = 6 * M


def iv(start: int, end: int, state: State, outage: int | None = None) -> StateInterval:
    return StateInterval("ams", "web", start, end, state, "connect_refused" if state is State.DOWN else None, outage)


def excl(start: int, end: int, id_: int = 1) -> Exclusion:
    return Exclusion(id_, "sla", "gold", start, end, "maintenance", "r", "me", 0, None, None)


@pytest.fixture(scope="module")
def sla(tmp_path_factory: pytest.TempPathFactory) -> object:
    path: Path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(
        "endpoints: [{id: web, tcp: '127.0.0.1:9'}]\n"
        "slas: [{id: gold, endpoints: [web], target: 99.9%, cycle: {from: 2026-11-01, to: 2026-11-02}}]\n"
    )
    return load_config(path, env={}).config.slas[0]


def digest(
    sla: object,
    intervals: list[StateInterval],
    exclusions: tuple[Exclusion, ...] = (),
    windows: list[MaintenanceWindow] | None = None,
) -> str:
    return inputs_hash(
        sla,  # type: ignore[arg-type]
        PERIOD,
        {"web": intervals},
        list(exclusions),
        windows or [],
        config_inputs={},
        objective_inputs=(None, None),
        monitoring_start_ms=0,
        reach_ms=REACH,
    )


BASE = [iv(0, 90 * M, State.UP)]


def test_a_stored_no_data_span_hashes_like_the_gap_it_fills(sla: object) -> None:
    """A reader cuts a dead run's span at its end; the restart stores that gap as no_data: nothing changed."""
    cut = [iv(0, 20 * M, State.UP), iv(25 * M, 90 * M, State.UP)]
    stored = [iv(0, 20 * M, State.UP), iv(20 * M, 25 * M, State.NO_DATA), iv(25 * M, 90 * M, State.UP)]
    assert digest(sla, cut) == digest(sla, stored)
    assert digest(sla, [iv(0, 30 * M, State.UP), iv(30 * M, 90 * M, State.UP)]) == digest(sla, BASE)  # merged


def test_data_within_reach_of_the_edges_moves_it_and_data_beyond_does_not(sla: object) -> None:
    after_end = [iv(0, 63 * M, State.UP), iv(63 * M, 64 * M, State.DOWN, 63 * M), iv(64 * M, 90 * M, State.UP)]
    far_after = [iv(0, 80 * M, State.UP), iv(80 * M, 81 * M, State.DOWN, 80 * M), iv(81 * M, 90 * M, State.UP)]
    assert digest(sla, after_end) != digest(sla, BASE)  # 3 minutes past the end: a run there can reach back
    assert digest(sla, far_after) == digest(sla, BASE)  # 20 minutes past: it cannot change a figure


def test_an_outage_overlapping_the_period_is_hashed_whole(sla: object) -> None:
    """Down from 55 min to 100 min: its end, 40 minutes past the reach, decides the incident's length."""
    long = [iv(0, 55 * M, State.UP), iv(55 * M, 100 * M, State.DOWN, 55 * M), iv(100 * M, 120 * M, State.UP)]
    longer = [iv(0, 55 * M, State.UP), iv(55 * M, 110 * M, State.DOWN, 55 * M), iv(110 * M, 120 * M, State.UP)]
    assert relevant_span(PERIOD, {"web": long}, REACH) == (-REACH, 100 * M)
    assert digest(sla, long) != digest(sla, longer)
    exclusion_late_in_the_outage = (excl(95 * M, 99 * M),)
    assert digest(sla, long, exclusion_late_in_the_outage) != digest(sla, long)  # it shortens the counted time
    assert digest(sla, BASE, exclusion_late_in_the_outage) == digest(sla, BASE)  # nothing to shorten here


def test_exclusions_and_windows_far_from_the_period_do_not_move_it(sla: object) -> None:
    assert digest(sla, BASE, (excl(-40 * 24 * 60 * M, -39 * 24 * 60 * M),)) == digest(sla, BASE)
    assert digest(sla, BASE, (excl(10 * M, 20 * M),)) != digest(sla, BASE)
    far = MaintenanceWindow(200 * M, 210 * M)
    near = MaintenanceWindow(30 * M, 40 * M)
    assert digest(sla, BASE, windows=[far]) == digest(sla, BASE)
    assert digest(sla, BASE, windows=[near]) != digest(sla, BASE)
