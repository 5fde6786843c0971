"""An incident across cycle boundaries and crashes: its start is the stored outage start; it is credited once.

Hand-counted cases first (the issue's), then hypothesis properties over timelines made by the real fold, with
agent runs that crash mid-outage, cut into consecutive cycles the way reports read them: each cycle gets the
intervals from its own start on (what ``load_intervals`` reads), nothing before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.fold import FoldParams, fold
from probe_agent.model import AgentRun, ErrorKind, Outcome, ProbeResult, State, StateInterval, dt_to_ms
from probe_agent.sla.evaluation import ServiceSpec, SlaEvaluation, SlaSpec, evaluate
from probe_agent.sla.periods import explicit_period

U, D, K, N = State.UP, State.DOWN, State.UNKNOWN, State.NO_DATA
S, H = 1000, 3_600_000
SPEC = SlaSpec(Fraction(999, 1000), (ServiceSpec("site", ("web",)),), max_incident_ms=4 * H)


def utc(day: int, hour: int, minute: int = 0) -> int:
    return dt_to_ms(datetime(2026, 10, day, hour, minute, tzinfo=UTC))


def iv(start: int, end: int, state: State, outage: int | None = None, cause: str | None = None) -> StateInterval:
    return StateInterval("ams", "web", start, end, state, cause, outage)


# The case 1, in UTC: down from Oct 31 20:00, unknown 21:00-22:20, no data 22:20-22:30, down again from
# 22:30, up at Nov 1 01:00. One outage dated 20:00 by the fold; November starts at Nov 1 00:00.
OCTOBER = explicit_period(utc(1, 0), utc(31, 0) + 24 * H)
NOVEMBER = explicit_period(OCTOBER.end_ms, OCTOBER.end_ms + 30 * 24 * H)
T20, T01 = utc(31, 20), OCTOBER.end_ms + H
HISTORY = [
    iv(OCTOBER.start_ms, T20, U),
    iv(T20, utc(31, 21), D, T20, "connect_refused"),
    iv(utc(31, 21), utc(31, 22, 20), K, T20, "connect_refused"),
    iv(utc(31, 22, 20), utc(31, 22, 30), N, T20, "connect_refused"),
    iv(utc(31, 22, 30), T01, D, T20, "connect_refused"),
    iv(T01, NOVEMBER.end_ms, U),
]


def test_the_next_cycle_dates_an_incident_from_its_stored_outage_start() -> None:
    # What November's report reads from its own start: only the last down interval and what follows.
    from_november = [i for i in HISTORY if i.end_ms > NOVEMBER.start_ms]
    assert from_november[0].start_ms == utc(31, 22, 30)
    (incident,) = evaluate(SPEC, NOVEMBER, {"web": from_november}, NOVEMBER.end_ms).overall.incidents
    # 20:00 to 01:00 = 18,000 s (it was 22:30 and 9,000 s); only the down time handed over is known: 9,000 s.
    assert (incident.start_ms, incident.end_ms, incident.duration_ms) == (T20, T01, 18_000 * S)
    assert (incident.down_ms, incident.cause, incident.ongoing) == (9_000 * S, "connect_refused", False)
    # With the outage's earlier intervals too (reports read them), the down time is whole: 1 h + 2 h 30 min.
    whole = evaluate(SPEC, NOVEMBER, {"web": HISTORY}, NOVEMBER.end_ms).overall
    (incident,) = whole.incidents
    assert (incident.start_ms, incident.duration_ms, incident.down_ms) == (T20, 18_000 * S, 12_600 * S)
    assert whole.availability.counted_down_ms == H  # the cycle's own figures are still cut at its start
    assert whole.too_long == (incident,)  # 5 h > 4 h: listed in November too


def test_a_per_incident_credit_counts_only_in_the_cycle_the_incident_started() -> None:
    october = evaluate(SPEC, OCTOBER, {"web": HISTORY}, NOVEMBER.end_ms)
    november = evaluate(SPEC, NOVEMBER, {"web": HISTORY}, NOVEMBER.end_ms)
    assert october.overall.incident_counted_ms == november.overall.incident_counted_ms == (18_000 * S,)
    assert october.credited_incident_ms == (18_000 * S,)
    assert november.credited_incident_ms == ()  # was (18,000 s,): 10 % paid again


def test_a_crash_right_after_the_first_failure_keeps_the_outage_start() -> None:
    """Interval 1 s, confirm 3: up 0-9 s, first failure at 10 s, killed (the run's last sign of life is that
    result, so it speaks for no time); the next run fails at 15 s and 16 s (confirmed: the outage started at
    10 s) and recovers at 17 s. The incident is 10-17 s = 7 s, not 15-17 s = 2 s."""
    params = FoldParams(interval_ms=S, grace_ms=S // 2, confirm=3)
    outcomes = {10: Outcome.DOWN, 15: Outcome.DOWN, 16: Outcome.DOWN}
    results = [result(s * S, outcomes.get(s, Outcome.UP)) for s in [*range(11), *range(15, 30)]]
    runs = [AgentRun(1, "ams", 0, 10 * S), AgentRun(2, "ams", 15 * S, 30 * S)]
    intervals = fold("ams", "web", params, results, runs)
    assert [(i.start_ms, i.end_ms, i.state, i.outage_start_ms) for i in intervals if i.outage_start_ms] == [
        (10 * S, 15 * S, N, 10 * S),
        (15 * S, 17 * S, D, 10 * S),
    ]
    period = explicit_period(0, 30 * S)
    (incident,) = evaluate(SPEC, period, {"web": intervals}, 30 * S).overall.incidents
    assert (incident.start_ms, incident.end_ms, incident.duration_ms, incident.down_ms) == (
        10 * S,
        17 * S,
        7 * S,
        2 * S,
    )


def test_a_recovery_stored_just_before_a_crash_ends_the_outage() -> None:
    """Interval 1 s (grace 0.5 s), confirm 1: down at 10 s, up at 12 s, killed right after storing it (so the up
    result speaks for no time); the next run starts at 20 s, up. The outage ends at 12 s, where the fold saw the
    recovery: an incident of 2 s, not 10 s (to the next up interval at 20 s)."""
    params = FoldParams(interval_ms=S, grace_ms=S // 2, confirm=1)
    outcomes = {10: Outcome.DOWN}
    results = [result(s * S, outcomes.get(s, Outcome.UP)) for s in [*range(11), 12, *range(20, 30)]]
    runs = [AgentRun(1, "ams", 0, 12 * S), AgentRun(2, "ams", 20 * S, 30 * S)]
    intervals = fold("ams", "web", params, results, runs)
    period = explicit_period(0, 30 * S)
    (incident,) = evaluate(SPEC, period, {"web": intervals}, 30 * S).overall.incidents
    assert (incident.start_ms, incident.end_ms, incident.down_ms, incident.ongoing) == (10 * S, 12 * S, 1500, False)


# -- properties ------------------------------------------------------------------------------------------------

PARAMS = st.builds(FoldParams, interval_ms=st.just(10), grace_ms=st.just(2), confirm=st.integers(1, 3))
STEPS = st.lists(
    st.tuples(
        st.sampled_from([1, 5, 10, 12, 40]),  # ms since the previous result (12 and 40 leave no_data)
        st.sampled_from([Outcome.UP, Outcome.DOWN, Outcome.DOWN, Outcome.DOWN, Outcome.UNKNOWN, Outcome.DEGRADED]),
        st.sampled_from([False, False, False, True]),  # the agent crashed after the previous result
    ),
    min_size=1,
    max_size=60,
)


def result(ts: int, outcome: Outcome) -> ProbeResult:
    kind = {Outcome.DOWN: ErrorKind.CONNECT_REFUSED, Outcome.UNKNOWN: ErrorKind.DNS_TEMPORARY}.get(outcome)
    return ProbeResult(ts, "ams", "web", outcome, error_kind=kind)


def folded(params: FoldParams, steps: list[tuple[int, Outcome, bool]]) -> tuple[list[StateInterval], int]:
    """The fold's intervals of the steps; a crash ends the run at its last result (its last sign of life)."""
    results: list[ProbeResult] = []
    runs: list[AgentRun] = []
    run_start, ts = 0, 0
    for gap, outcome, crashed in steps:
        if crashed and results:
            runs.append(AgentRun(len(runs) + 1, "ams", run_start, results[-1].ts_ms))
            run_start = ts + gap
        ts += gap
        results.append(result(ts, outcome))
    end = ts + 20
    runs.append(AgentRun(len(runs) + 1, "ams", run_start, end))
    return fold("ams", "web", params, results, runs), end


def cycles(cuts: list[int], end: int) -> list[tuple[int, int]]:
    bounds = sorted({0, *(c for c in cuts if 0 < c < end), end})
    return list(pairwise(bounds))


def as_read(intervals: list[StateInterval], start: int, end: int, now: int) -> SlaEvaluation:
    """A cycle as a report evaluates it from the intervals it reads: from the cycle's start on, nothing before."""
    return evaluate(SPEC, explicit_period(start, end), {"web": [i for i in intervals if i.end_ms > start]}, now)


@settings(max_examples=300, deadline=None)
@given(PARAMS, STEPS, st.lists(st.integers(1, 1000), max_size=3))
def test_an_incident_is_the_same_whichever_cycle_reports_it(
    params: FoldParams, steps: list[tuple[int, Outcome, bool]], cuts: list[int]
) -> None:
    intervals, end = folded(params, steps)
    truth = {i.start_ms: i for i in evaluate(SPEC, explicit_period(0, end), {"web": intervals}, end).overall.incidents}
    for start, stop in cycles(cuts, end):
        for incident in as_read(intervals, start, stop, end).overall.incidents:
            whole = truth.get(incident.start_ms)
            assert whole is not None, (start, incident)
            assert (incident.end_ms, incident.duration_ms, incident.ongoing, incident.cause) == (
                whole.end_ms,
                whole.duration_ms,
                whole.ongoing,
                whole.cause,
            )


@settings(max_examples=300, deadline=None)
@given(PARAMS, STEPS, st.lists(st.integers(1, 1000), max_size=3))
def test_per_incident_credits_over_consecutive_cycles_count_each_incident_once(
    params: FoldParams, steps: list[tuple[int, Outcome, bool]], cuts: list[int]
) -> None:
    intervals, end = folded(params, steps)
    whole = evaluate(SPEC, explicit_period(0, end), {"web": intervals}, end).overall.incident_counted_ms
    credited = [ms for a, b in cycles(cuts, end) for ms in as_read(intervals, a, b, end).credited_incident_ms]
    assert sorted(credited) == sorted(whole)
