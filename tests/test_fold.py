"""The measurement fold: every row of the design's transition table as a hand-computed table, coverage and
agent runs, snapshots, and hypothesis properties checked against an independent look-ahead model of the rules.

Tables are in seconds from T0 (interval 10 s, grace 2 s, so a result speaks for up to 12 s), as rows of
(start_s, end_s, state, cause, outage_start_s).
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.config.document import Config
from probe_agent.fold import FoldParams, Phase, TimelineFold, fold, snapshot_spans
from probe_agent.model import AgentRun, ErrorKind, Outcome, ProbeResult, State, StateInterval

AGENT, ENDPOINT = "ams-1", "web"
T0 = 1_780_000_000_000
P3 = FoldParams(interval_ms=10_000, grace_ms=2_000, confirm=3)
REFUSED, CONTROLS = ErrorKind.CONNECT_REFUSED.value, ErrorKind.CONTROLS_FAILED.value

_OUTCOMES = {"u": Outcome.UP, "g": Outcome.DEGRADED, "d": Outcome.DOWN, "?": Outcome.UNKNOWN}
_KINDS = {"d": ErrorKind.CONNECT_REFUSED, "?": ErrorKind.CONTROLS_FAILED}

Row = tuple[float, float, str, str | None, float | None]


def ms(seconds: float) -> int:
    return T0 + round(seconds * 1000)


def result(ts_ms: int, code: str, kind: ErrorKind | None = None) -> ProbeResult:
    return ProbeResult(
        ts_ms=ts_ms,
        agent=AGENT,
        endpoint=ENDPOINT,
        outcome=_OUTCOMES[code],
        error_kind=kind or _KINDS.get(code),
    )


def results(seq: Sequence[tuple[float, str]]) -> list[ProbeResult]:
    return [result(ms(t), code) for t, code in seq]


def rows(intervals: Sequence[StateInterval]) -> list[Row]:
    def sec(value: int) -> float:
        return (value - T0) / 1000

    return [
        (
            sec(i.start_ms),
            sec(i.end_ms),
            i.state.value,
            i.cause,
            None if i.outage_start_ms is None else sec(i.outage_start_ms),
        )
        for i in intervals
    ]


def run(run_id: int, start_s: float, end_s: float | None) -> AgentRun:
    return AgentRun(run_id, AGENT, ms(start_s), None if end_s is None else ms(end_s))


def live(
    items: Sequence[ProbeResult],
    params: FoldParams,
    runs: Sequence[AgentRun] = (),
    restarts: frozenset[int] = frozenset(),
) -> list[StateInterval]:
    """What the daemon stores: feed one by one, end each run at the next start-up (twice: a clean stop ends
    it, then start-up ends it again), restart from a JSON snapshot before the given indexes, then the pending
    view."""
    mine = sorted((r for r in runs if r.agent == AGENT), key=lambda r: r.start_ms)
    starts = [r.start_ms for r in mine]
    timeline = TimelineFold(AGENT, ENDPOINT, params)
    out: list[StateInterval] = []
    current: AgentRun | None = None
    for index, item in enumerate(items):
        position = bisect.bisect_right(starts, item.ts_ms) - 1
        owner = mine[position] if position >= 0 else None
        if owner is not current:
            if current is not None and current.end_ms is not None:
                out += timeline.end_run(current.end_ms)
                assert timeline.end_run(current.end_ms) == []
            current = owner
        if index in restarts:
            snap = json.loads(json.dumps(timeline.snapshot()))
            timeline = TimelineFold(AGENT, ENDPOINT, params, snap)
        before = timeline.snapshot()
        timeline.pending()
        _ = timeline.open_interval
        assert timeline.snapshot() == before, "views must not change the fold"
        closed = timeline.feed(item)
        assert all(i.end_ms <= item.ts_ms for i in closed), "only closed intervals are emitted"
        out += closed
    if current is not None and current.end_ms is not None:
        out += timeline.end_run(current.end_ms)
    return out + timeline.pending()


def timeline_rows(
    seq: Sequence[tuple[float, str]], params: FoldParams = P3, runs: Sequence[AgentRun] = ()
) -> list[Row]:
    """Batch fold of the sequence, checked equal to feeding it live with a restart after every result."""
    items = results(seq)
    batch = fold(AGENT, ENDPOINT, params, items, runs)
    assert live(items, params, runs) == batch
    assert live(items, params, runs, frozenset(range(len(items)))) == batch
    return rows(batch)


# -- the transition table, row by row ---------------------------------------------------------------------

TABLE: list[tuple[str, list[tuple[float, str]], int, list[Row]]] = [
    ("up, up: one interval", [(0, "u"), (10, "u"), (20, "u")], 3, [(0, 32, "up", None, None)]),
    (
        "up, degraded, up",
        [(0, "u"), (10, "g"), (20, "u")],
        3,
        [(0, 10, "up", None, None), (10, 20, "degraded", None, None), (20, 32, "up", None, None)],
    ),
    (
        "up, down (suspect), up: a blip counts as up",
        [(0, "u"), (10, "d"), (15, "u")],
        3,
        [(0, 27, "up", None, None)],
    ),
    (
        "up, down with confirm 1: down at once",
        [(0, "u"), (10, "d"), (20, "u")],
        1,
        [(0, 10, "up", None, None), (10, 20, "down", REFUSED, 10), (20, 32, "up", None, None)],
    ),
    (
        "up, unknown: an unknown span with its own cause; the count starts after it",
        [(0, "u"), (10, "?"), (20, "d"), (25, "d"), (30, "d"), (35, "u")],
        3,
        [
            (0, 10, "up", None, None),
            (10, 20, "unknown", CONTROLS, None),
            (20, 35, "down", REFUSED, 20),
            (35, 47, "up", None, None),
        ],
    ),
    (
        "up, no result in time: no_data",
        [(0, "u"), (30, "u")],
        3,
        [(0, 12, "up", None, None), (12, 30, "no_data", None, None), (30, 42, "up", None, None)],
    ),
    (
        "suspect, degraded: the suspect span was a blip",
        [(0, "u"), (10, "d"), (15, "d"), (20, "g")],
        3,
        [(0, 20, "up", None, None), (20, 32, "degraded", None, None)],
    ),
    (
        "suspect, down to N: down from the first failure; up ends it",
        [(0, "u"), (10, "d"), (15, "d"), (20, "d"), (25, "u")],
        3,
        [(0, 10, "up", None, None), (10, 25, "down", REFUSED, 10), (25, 37, "up", None, None)],
    ),
    (
        "suspect, unknown: blip as up, span unknown, count restarts",
        [(0, "u"), (10, "d"), (15, "d"), (20, "?"), (25, "d"), (30, "d"), (35, "d"), (40, "u")],
        3,
        [
            (0, 20, "up", None, None),
            (20, 25, "unknown", CONTROLS, None),
            (25, 40, "down", REFUSED, 25),
            (40, 52, "up", None, None),
        ],
    ),
    (
        "suspect, unknown, then fewer than N downs: no outage",
        [(0, "u"), (10, "d"), (15, "d"), (20, "?"), (25, "d"), (30, "u")],
        3,
        [(0, 20, "up", None, None), (20, 25, "unknown", CONTROLS, None), (25, 42, "up", None, None)],
    ),
    (
        "suspect, no result in time: count kept, the gap joins the outage once confirmed",
        [(0, "u"), (10, "d"), (40, "d"), (45, "d"), (50, "u")],
        3,
        [
            (0, 10, "up", None, None),
            (10, 22, "down", REFUSED, 10),
            (22, 40, "no_data", REFUSED, 10),
            (40, 50, "down", REFUSED, 10),
            (50, 62, "up", None, None),
        ],
    ),
    (
        "suspect, no result in time, then up: blip, plain no_data",
        [(0, "u"), (10, "d"), (40, "u")],
        3,
        [(0, 22, "up", None, None), (22, 40, "no_data", None, None), (40, 52, "up", None, None)],
    ),
    (
        "down, unknown: span unknown inside the one outage, down state kept",
        [(0, "d"), (5, "d"), (10, "d"), (15, "?"), (20, "d"), (25, "u")],
        3,
        [
            (0, 15, "down", REFUSED, 0),
            (15, 20, "unknown", REFUSED, 0),
            (20, 25, "down", REFUSED, 0),
            (25, 37, "up", None, None),
        ],
    ),
    (
        "down, unknown, up: the outage ends at the up, not at the unknown",
        [(0, "d"), (5, "d"), (10, "d"), (15, "?"), (20, "g")],
        3,
        [(0, 15, "down", REFUSED, 0), (15, 20, "unknown", REFUSED, 0), (20, 32, "degraded", None, None)],
    ),
    (
        "down, no result in time: no_data, outage continues",
        [(0, "d"), (5, "d"), (10, "d"), (40, "d"), (45, "u")],
        3,
        [
            (0, 22, "down", REFUSED, 0),
            (22, 40, "no_data", REFUSED, 0),
            (40, 45, "down", REFUSED, 0),
            (45, 57, "up", None, None),
        ],
    ),
    (
        "unknown alone, then N downs",
        [(0, "?"), (10, "d"), (20, "d")],
        2,
        [(0, 10, "unknown", CONTROLS, None), (10, 32, "down", REFUSED, 10)],
    ),
]


@pytest.mark.parametrize(("name", "seq", "confirm", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_transition_table(name: str, seq: list[tuple[float, str]], confirm: int, expected: list[Row]) -> None:
    params = FoldParams(interval_ms=10_000, grace_ms=2_000, confirm=confirm)
    assert timeline_rows(seq, params) == expected


@pytest.mark.parametrize(
    ("seq", "phases"),
    [
        (
            [(0, "u"), (10, "d"), (15, "d"), (20, "d"), (25, "?"), (30, "u")],
            [Phase.UP, Phase.SUSPECT, Phase.SUSPECT, Phase.DOWN, Phase.DOWN, Phase.UP],
        ),
        ([(0, "g"), (10, "?"), (20, "d"), (25, "?")], [Phase.DEGRADED, Phase.UNKNOWN, Phase.SUSPECT, Phase.UNKNOWN]),
    ],
)
def test_phase_follows_the_confirmation_state(seq: list[tuple[float, str]], phases: list[Phase]) -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    assert timeline.phase is Phase.NEW
    seen = []
    for item in results(seq):
        timeline.feed(item)
        seen.append(timeline.phase)
    assert seen == phases and all(type(phase) is Phase for phase in seen)


def test_suspect_count_and_outage_start_are_visible_to_the_worker() -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    for t in (0, 5, 10):
        assert timeline.outage_start_ms is None
        timeline.feed(result(ms(t), "d"))
    assert timeline.outage_start_ms == ms(0)
    assert timeline.suspect_count == 0
    timeline.feed(result(ms(15), "u"))
    assert timeline.outage_start_ms is None


def test_one_second_interval_server_down_twenty_seconds() -> None:
    """Probes every 1 s while up; refused connections (2 ms each) re-checked 1 s after the previous finished;
    the server refuses from 10.000 s to 30.000 s. The outage starts at the first failure and ends at the first
    success, as one down interval."""
    params = FoldParams(interval_ms=1000, grace_ms=500, confirm=3)
    items: list[ProbeResult] = []
    t = 0
    first_success = None
    while t < 40_000:
        down = 10_000 <= t < 30_000
        items.append(result(T0 + t, "d" if down else "u"))
        if not down and t >= 30_000 and first_success is None:
            first_success = t
        t += 2 + 1000 if down else 1000
    assert first_success is not None
    out = fold(AGENT, ENDPOINT, params, items)
    assert live(items, params, restarts=frozenset(range(0, len(items), 7))) == out
    assert [(i.start_ms - T0, i.end_ms - T0, i.state, i.outage_start_ms) for i in out] == [
        (0, 10_000, State.UP, None),
        (10_000, first_success, State.DOWN, T0 + 10_000),
        (first_success, items[-1].ts_ms - T0 + 1500, State.UP, None),
    ]
    assert 20_000 <= first_success - 10_000 < 21_100


def test_a_single_failed_probe_never_makes_down_time() -> None:
    seq = [(float(t), "d" if t % 30 == 10 else "u") for t in range(0, 300, 10)]
    assert timeline_rows(seq) == [(0, 302, "up", None, None)]


def test_a_month_of_healthy_probes_is_one_interval() -> None:
    params = FoldParams(interval_ms=60_000, grace_ms=10_000, confirm=2)
    timeline = TimelineFold(AGENT, ENDPOINT, params)
    for n in range(43_200):
        assert timeline.feed(result(T0 + n * 60_000, "u")) == []
    assert rows(timeline.pending()) == [(0, 43_199 * 60 + 70, "up", None, None)]


# -- agent runs -------------------------------------------------------------------------------------------


def test_a_crash_makes_the_time_until_the_next_run_no_data() -> None:
    runs = [run(1, -1, 55), run(2, 100, None)]
    seq = [(0, "u"), (10, "u"), (20, "u"), (30, "u"), (40, "u"), (50, "u"), (103, "u"), (113, "u")]
    assert timeline_rows(seq, runs=runs) == [
        (0, 55, "up", None, None),
        (55, 103, "no_data", None, None),
        (103, 125, "up", None, None),
    ]


def test_end_run_closes_the_interval_at_once() -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    assert timeline.end_run(ms(5)) == []  # nothing yet
    for t in (0, 10, 20):
        timeline.feed(result(ms(t), "u"))
    assert rows(timeline.end_run(ms(25))) == [(0, 25, "up", None, None)]
    assert timeline.end_run(ms(25)) == []
    assert timeline.end_run(ms(90)) == []
    assert timeline.open_interval is None and timeline.pending() == []
    assert timeline.phase == "up"
    with pytest.raises(ValueError, match="already ended"):
        timeline.feed(result(ms(24), "u"))
    # The gap is closed once a span of another kind follows it (the down is only suspect yet).
    assert timeline.feed(result(ms(60), "d")) == []
    assert rows(timeline.pending()) == [(25, 60, "no_data", None, None), (60, 72, "up", None, None)]
    assert rows(timeline.feed(result(ms(65), "u"))) == [(25, 60, "no_data", None, None)]


def test_run_end_beyond_coverage_does_not_extend_it() -> None:
    assert timeline_rows([(0, "u")], runs=[run(1, 0, 100)]) == [(0, 12, "up", None, None)]


def test_a_result_after_the_last_heartbeat_speaks_for_no_time() -> None:
    """Run 1's last heartbeat is at 15 s but a result at 20 s was stored before the crash: the daemon had
    already closed the 10 s result's span at 20 s when it learns of the end, so that stays; the 20 s result
    speaks for nothing."""
    runs = [run(1, 0, 15), run(2, 60, None)]
    seq = [(0, "u"), (10, "u"), (20, "u"), (61, "u")]
    assert timeline_rows(seq, runs=runs) == [
        (0, 20, "up", None, None),
        (20, 61, "no_data", None, None),
        (61, 73, "up", None, None),
    ]


def test_a_suspect_run_survives_a_restart_and_confirms_across_the_gap() -> None:
    runs = [run(1, 0, 15), run(2, 50, None)]
    seq = [(0, "u"), (10, "d"), (55, "d"), (60, "d"), (65, "u")]
    assert timeline_rows(seq, runs=runs) == [
        (0, 10, "up", None, None),
        (10, 15, "down", REFUSED, 10),
        (15, 55, "no_data", REFUSED, 10),
        (55, 65, "down", REFUSED, 10),
        (65, 77, "up", None, None),
    ]
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    for item in results(seq[:2]):
        timeline.feed(item)
    assert timeline.end_run(ms(15)) == []  # may still turn out down: nothing is final
    assert rows(timeline.pending()) == [(0, 15, "up", None, None)]


def test_an_outage_stays_one_incident_across_a_restart() -> None:
    runs = [run(1, 0, 22), run(2, 50, None)]
    seq = [(0, "d"), (5, "d"), (10, "d"), (20, "?"), (55, "d"), (60, "u")]
    out = timeline_rows(seq, runs=runs)
    assert out == [
        (0, 20, "down", REFUSED, 0),
        (20, 22, "unknown", REFUSED, 0),
        (22, 55, "no_data", REFUSED, 0),
        (55, 60, "down", REFUSED, 0),
        (60, 72, "up", None, None),
    ]


def test_live_runs_and_other_agents_runs_impose_no_bound() -> None:
    other = AgentRun(9, "fra-1", ms(0), ms(3))
    assert timeline_rows([(0, "u"), (10, "u")], runs=[run(1, 0, None), other]) == [(0, 22, "up", None, None)]


def test_results_before_the_first_run_are_bounded_by_interval_and_grace_only() -> None:
    runs = [run(1, 100, 130)]
    seq = [(0, "u"), (30, "u"), (101, "u"), (111, "u"), (121, "u")]
    assert timeline_rows(seq, runs=runs) == [
        (0, 12, "up", None, None),
        (12, 30, "no_data", None, None),
        (30, 42, "up", None, None),
        (42, 101, "no_data", None, None),
        (101, 130, "up", None, None),
    ]


# -- views, snapshots, errors -----------------------------------------------------------------------------


def test_pending_shows_a_suspect_run_as_if_it_cleared_now() -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    assert timeline.open_interval is None and timeline.pending() == []
    for t, code in [(0, "u"), (10, "?"), (20, "u"), (30, "d"), (35, "d")]:
        timeline.feed(result(ms(t), code))
    assert timeline.phase is Phase.SUSPECT
    assert rows(timeline.pending()) == [(20, 47, "up", None, None)]
    open_interval = timeline.open_interval
    assert open_interval is not None and rows([open_interval]) == [(20, 47, "up", None, None)]
    assert rows(timeline.feed(result(ms(40), "d"))) == [(20, 30, "up", None, None)]  # confirmed: up is final
    assert rows(timeline.pending()) == [(30, 52, "down", REFUSED, 30)]


def test_snapshot_resumes_mid_suspect_run() -> None:
    items = results([(0, "u"), (10, "d"), (15, "d"), (20, "d"), (25, "?"), (30, "u")])
    whole = TimelineFold(AGENT, ENDPOINT, P3)
    expected = [i for item in items for i in whole.feed(item)] + whole.pending()
    first = TimelineFold(AGENT, ENDPOINT, P3)
    got = [i for item in items[:3] for i in first.feed(item)]
    assert first.phase is Phase.SUSPECT and first.suspect_count == 2
    resumed = TimelineFold(AGENT, ENDPOINT, P3, json.loads(json.dumps(first.snapshot())))
    assert resumed.snapshot() == first.snapshot()
    assert resumed.phase is Phase.SUSPECT and resumed.suspect_count == 2
    got += [i for item in items[3:] for i in resumed.feed(item)] + resumed.pending()
    assert got == expected
    assert rows(expected) == [
        (0, 10, "up", None, None),
        (10, 25, "down", REFUSED, 10),
        (25, 30, "unknown", REFUSED, 10),
        (30, 42, "up", None, None),
    ]


# Snapshots as the fold stored them before the phase was an enum (plain strings; P3, results u@0 d@10 d@15, then
# also d@20 ?@25): they load, and the fold writes them back byte for byte.
OLD_SNAPSHOTS = [
    '{"v": 1, "agent": "ams-1", "endpoint": "web", "phase": "suspect", "count": 2, "suspect_start": 1780000010000, '
    '"suspect_cause": "connect_refused", "outage_start": null, "outage_cause": null, "cur": [1780000000000, '
    '1780000010000, "up", null, null], "pending": [[1780000010000, 1780000015000, "down"]], "last": {"ts": '
    '1780000015000, "bound": 1780000027000, "open": true, "key": ["down", null, null], "pending": true}, '
    '"frontier": 1780000015000}',
    '{"v": 1, "agent": "ams-1", "endpoint": "web", "phase": "down", "count": 0, "suspect_start": null, '
    '"suspect_cause": null, "outage_start": 1780000010000, "outage_cause": "connect_refused", "cur": [1780000010000, '
    '1780000025000, "down", "connect_refused", 1780000010000], "pending": [], "last": {"ts": 1780000025000, "bound": '
    '1780000037000, "open": true, "key": ["unknown", "connect_refused", 1780000010000], "pending": false}, '
    '"frontier": 1780000025000}',
]


@pytest.mark.parametrize(("stored", "phase"), list(zip(OLD_SNAPSHOTS, [Phase.SUSPECT, Phase.DOWN], strict=True)))
def test_a_snapshot_stored_with_plain_string_phases_still_loads(stored: str, phase: Phase) -> None:
    resumed = TimelineFold(AGENT, ENDPOINT, P3, json.loads(stored))
    assert resumed.phase is phase
    assert json.dumps(resumed.snapshot()) == stored
    assert type(resumed.snapshot()["phase"]) is str  # the stored value stays a plain string
    live = TimelineFold(AGENT, ENDPOINT, P3)
    for item in results([(0, "u"), (10, "d"), (15, "d"), (20, "d"), (25, "?")][: 3 if phase is Phase.SUSPECT else 5]):
        live.feed(item)
    assert json.dumps(live.snapshot()) == stored
    assert snapshot_spans(AGENT, ENDPOINT, json.loads(stored)) == live.pending()


def test_fold_params_of_an_endpoint_or_the_defaults() -> None:
    """``FoldParams.of`` takes interval, grace and confirm from anything that has them: a configured endpoint, or
    the config's defaults, whose grace is the default timeout."""
    config = Config.model_validate(
        {
            "defaults": {"interval": "30s", "timeout": "4s", "confirm": 2},
            "endpoints": [{"id": "a", "tcp": "h:1"}, {"id": "b", "tcp": "h:2", "grace": "1s", "confirm": 5}],
        }
    )
    assert FoldParams.of(config.endpoint("a")) == FoldParams(interval_ms=30_000, grace_ms=4_000, confirm=2)
    assert FoldParams.of(config.endpoint("b")) == FoldParams(interval_ms=30_000, grace_ms=1_000, confirm=5)
    assert FoldParams.of(config.defaults) == FoldParams(interval_ms=30_000, grace_ms=4_000, confirm=2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 99}, "version"),
        ({"endpoint": "api"}, "given to"),
        ({"phase": "sleepy"}, "phase"),
        ({"count": "2"}, "malformed"),
        ({"cur": [1, 2, "up"]}, "malformed|unpack"),
        ({"pending": [[1, 2, "sideways"]]}, "sideways"),
        ({"last": {"ts": 1}}, "malformed"),
    ],
)
def test_a_bad_snapshot_is_refused(change: dict[str, Any], message: str) -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    for t, code in [(0, "u"), (10, "d")]:
        timeline.feed(result(ms(t), code))
    with pytest.raises(ValueError, match=message):
        TimelineFold(AGENT, ENDPOINT, P3, {**timeline.snapshot(), **change})


def test_feed_refuses_out_of_order_duplicate_and_foreign_results() -> None:
    timeline = TimelineFold(AGENT, ENDPOINT, P3)
    timeline.feed(result(ms(10), "u"))
    with pytest.raises(ValueError, match="not after"):
        timeline.feed(result(ms(10), "u"))
    with pytest.raises(ValueError, match="not after"):
        timeline.feed(result(ms(5), "u"))
    with pytest.raises(ValueError, match="fed to the fold"):
        timeline.feed(ProbeResult(ts_ms=ms(20), agent=AGENT, endpoint="api", outcome=Outcome.UP))


def test_batch_sorts_drops_exact_duplicates_and_refuses_conflicting_ones() -> None:
    items = results([(20, "u"), (0, "u"), (10, "g"), (10, "g")])
    assert rows(fold(AGENT, ENDPOINT, P3, items)) == [
        (0, 10, "up", None, None),
        (10, 20, "degraded", None, None),
        (20, 32, "up", None, None),
    ]
    with pytest.raises(ValueError, match="same ts"):
        fold(AGENT, ENDPOINT, P3, [*items, result(ms(10), "d")])


@pytest.mark.parametrize(("interval", "grace", "confirm"), [(0, 0, 1), (1000, -1, 1), (1000, 0, 0)])
def test_params_are_validated(interval: int, grace: int, confirm: int) -> None:
    with pytest.raises(ValueError):
        FoldParams(interval_ms=interval, grace_ms=grace, confirm=confirm)


# -- properties against an independent model --------------------------------------------------------------


def reference(items: Sequence[ProbeResult], params: FoldParams, runs: Sequence[AgentRun]) -> list[StateInterval]:
    """The rules by look-ahead over the whole sequence: a streak of >= N consecutive downs starting outside
    an outage opens one at its first result, lasting until the next up/degraded result; shorter streaks are
    blips.
    Coverage per result, with a run's end applied to the last result of that run. Then coalesce."""
    mine = sorted(runs, key=lambda r: r.start_ms)
    starts = [r.start_ms for r in mine]

    def owner(item: ProbeResult) -> AgentRun | None:
        position = bisect.bisect_right(starts, item.ts_ms) - 1
        return mine[position] if position >= 0 else None

    n = len(items)
    outage_of: list[int | None] = [None] * n  # index of the outage's first result
    i = 0
    while i < n:
        if items[i].outcome is not Outcome.DOWN:
            i += 1
            continue
        j = i
        while j < n and items[j].outcome is Outcome.DOWN:
            j += 1
        if j - i < params.confirm:
            i = j
            continue
        m = j
        while m < n and items[m].outcome not in (Outcome.UP, Outcome.DEGRADED):
            m += 1
        for k in range(i, m):
            outage_of[k] = i
        i = m
    spans: list[tuple[int, int, tuple[State, str | None, int | None]]] = []
    for k, item in enumerate(items):
        kind = None if item.error_kind is None else item.error_kind.value
        end = item.ts_ms + params.interval_ms + params.grace_ms
        nxt = items[k + 1] if k + 1 < n else None
        run_k = owner(item)
        if run_k is not None and run_k.end_ms is not None and (nxt is None or owner(nxt) is not run_k):
            end = max(item.ts_ms, min(end, run_k.end_ms))
        if nxt is not None:
            end = min(end, nxt.ts_ms)
        start_index = outage_of[k]
        if start_index is not None:
            first = items[start_index]
            cause = None if first.error_kind is None else first.error_kind.value
            state = State.UNKNOWN if item.outcome is Outcome.UNKNOWN else State.DOWN
            key: tuple[State, str | None, int | None] = (state, cause, first.ts_ms)
            gap_key: tuple[State, str | None, int | None] = (State.NO_DATA, cause, first.ts_ms)
        else:
            state = {Outcome.DEGRADED: State.DEGRADED, Outcome.UNKNOWN: State.UNKNOWN}.get(item.outcome, State.UP)
            key = (state, kind if state is State.UNKNOWN else None, None)
            gap_key = (State.NO_DATA, None, None)
        spans.append((item.ts_ms, end, key))
        if nxt is not None and end < nxt.ts_ms:
            spans.append((end, nxt.ts_ms, gap_key))
    merged: list[StateInterval] = []
    for start, end, key in spans:
        if end <= start:
            continue
        if (
            merged
            and merged[-1].end_ms == start
            and (merged[-1].state, merged[-1].cause, merged[-1].outage_start_ms) == key
        ):
            last = merged.pop()
            merged.append(StateInterval(AGENT, ENDPOINT, last.start_ms, end, *key))
        else:
            merged.append(StateInterval(AGENT, ENDPOINT, start, end, *key))
    return merged


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FoldParams, list[ProbeResult], list[AgentRun], frozenset[int]]:
    params = FoldParams(
        interval_ms=draw(st.integers(1, 20)),
        grace_ms=draw(st.integers(0, 10)),
        confirm=draw(st.integers(1, 4)),
    )
    n = draw(st.integers(1, 40))
    span = params.interval_ms + params.grace_ms
    kinds = st.sampled_from([ErrorKind.CONNECT_REFUSED, ErrorKind.READ_TIMEOUT, None])
    items: list[ProbeResult] = []
    t = T0
    for _ in range(n):
        code = draw(st.sampled_from("uuddddg?"))
        kind = draw(kinds) if code in "d?" else None
        items.append(ProbeResult(ts_ms=t, agent=AGENT, endpoint=ENDPOINT, outcome=_OUTCOMES[code], error_kind=kind))
        t += draw(st.integers(1, 2 * span + 5))
    runs: list[AgentRun] = []
    if draw(st.booleans()):
        start = items[0].ts_ms - draw(st.integers(0, 5))
        for b in range(1, n):
            before, after = items[b - 1].ts_ms, items[b].ts_ms
            if after - before >= 3 and draw(st.integers(0, 3)) == 0:
                end = draw(st.integers(max(start, before - 15), after - 2))  # may be before the last result
                runs.append(AgentRun(len(runs) + 1, AGENT, start, end))
                start = draw(st.integers(end + 1, after))
        last_end = draw(st.none() | st.integers(max(start, items[-1].ts_ms - 15), items[-1].ts_ms + 40))
        runs.append(AgentRun(len(runs) + 1, AGENT, start, last_end))
    restarts = frozenset(draw(st.lists(st.integers(0, n - 1), max_size=5)))
    return params, items, runs, restarts


def _key(i: StateInterval) -> tuple[State, str | None, int | None]:
    return i.state, i.cause, i.outage_start_ms


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_fold_matches_the_model_and_keeps_its_invariants(
    case: tuple[FoldParams, list[ProbeResult], list[AgentRun], frozenset[int]],
) -> None:
    params, items, runs, restarts = case
    out = fold(AGENT, ENDPOINT, params, items, runs)
    assert out == reference(items, params, runs)
    assert live(items, params, runs, restarts) == out  # incremental, with restarts, equals batch

    # Ordered, no empty spans, contiguous from the first result, adjacent intervals differ.
    assert not out or out[0].start_ms == items[0].ts_ms
    for a, b in itertools.pairwise(out):
        assert a.end_ms == b.start_ms and _key(a) != _key(b)
    assert all(i.end_ms > i.start_ms for i in out)

    # Down time only where down results speak.
    model = reference(items, FoldParams(params.interval_ms, params.grace_ms, 1), runs)
    down_covered = sum(i.duration_ms for i in model if i.state is State.DOWN)
    assert sum(i.duration_ms for i in out if i.state is State.DOWN) <= down_covered

    # Fewer than N consecutive downs anywhere: no down span, no outage.
    streak = longest = 0
    for item in items:
        streak = streak + 1 if item.outcome is Outcome.DOWN else 0
        longest = max(longest, streak)
    if longest < params.confirm:
        assert all(i.state is not State.DOWN and i.outage_start_ms is None for i in out)

    # Every span of one outage carries its start and the first failure's cause.
    for i in out:
        if i.outage_start_ms is not None:
            first = next(item for item in items if item.ts_ms == i.outage_start_ms)
            assert first.outcome is Outcome.DOWN
            assert i.cause == (None if first.error_kind is None else first.error_kind.value)
            assert i.state in (State.DOWN, State.UNKNOWN, State.NO_DATA)
