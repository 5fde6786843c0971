"""SLA alerts on a fake clock: burn rates, the two window pairs, the breach boundary, objectives, and ``step``.

Every expected figure is counted by hand in the comments. Times are minutes after T (an arbitrary epoch ms), the
target 99.9 % unless said (allowed error 1/1000), and the counted timeline is up except where a test says.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe_agent.latency import LatencyHistogram
from probe_agent.model import DAY_MS, HOUR_MS, MINUTE_MS, State, StateInterval
from probe_agent.sla.alert_state import AlertState, ResolveReason, step
from probe_agent.sla.alerts import (
    AlertInputs,
    AlertKey,
    AlertKind,
    BreachReading,
    CountedSpan,
    CycleSoFar,
    ObjectiveReading,
    PairReading,
    SlaAlerts,
    breach_reading,
    burn_rate,
    counted_spans,
    cycle_so_far,
    evaluate_alerts,
)
from probe_agent.sla.availability import Bucket, BucketSpan, Counted, Policies
from probe_agent.sla.evaluation import ServiceSpec, SlaSpec, evaluate
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.objectives import LatencyObjective, ResultCounts, error_rate_result, latency_result
from probe_agent.sla.periods import Period

T = 1_800_000_000_000  # 2027-01-15T08:00:00Z
TARGET = Fraction(999, 1000)
CYCLE = CycleSoFar("2027-01", counted_ms=14 * DAY_MS, counted_down_ms=0, ahead_ms=Fraction(17 * DAY_MS))


Piece = tuple[float, float, Counted | None]  # start minute, end minute, counted


def m(minutes: float) -> int:
    return T + int(minutes * MINUTE_MS)


def timeline(now: int, *pieces: Piece) -> tuple[CountedSpan, ...]:
    """Up from T - 7 h to ``now``, with ``pieces`` (start minute, end minute, counted) laid over it."""
    marks = sorted({m(-420), now, *(m(a) for a, _, _ in pieces), *(m(b) for _, b, _ in pieces)})
    marks = [t for t in marks if m(-420) <= t <= now]
    out: list[CountedSpan] = []
    for a, b in itertools.pairwise(marks):
        counted: Counted | None = "up"
        for pa, pb, pc in pieces:
            if m(pa) <= a and b <= m(pb):
                counted = pc
        out.append(CountedSpan(a, b, counted))
    return tuple(out)


OUTAGE: Piece = (0.0, 10.0, "down")  # a 10-minute outage from T


def inputs_at(now: int, *pieces: Piece, target: Fraction = TARGET) -> AlertInputs:
    return AlertInputs("api", target, CYCLE, timeline(now, *pieces))


def pair(now: int, name: str, *pieces: Piece) -> PairReading:
    reading = evaluate_alerts(inputs_at(now, *pieces), now).readings[
        AlertKey(AlertKind.SLA_AT_RISK, "api", "2027-01", name)
    ]
    assert isinstance(reading, PairReading)
    return reading


# minute, 1 h rate, 5 min rate, 1 h pair fires; 6 h rate, 30 min rate, 6 h pair fires.
# 1 h: down minutes / 60 / 0.001 = 50 x down / 3; 5 min: down / 5 / 0.001 = 200 x down (14.4 needs 0.864 min
# and 4.32 s down). 6 h: down / 360 / 0.001 = 25 x down / 9; 30 min: down / 30 / 0.001 = 100 x down / 3 (6 needs
# 2.16 min and 10.8 s down).
TABLE = [
    (0, 0, 0, False, 0, 0, False),
    (1, Fraction(50, 3), 200, True, Fraction(25, 9), Fraction(100, 3), False),  # 1 h pair fires (16.7, 200)
    (2, Fraction(100, 3), 400, True, Fraction(50, 9), Fraction(200, 3), False),  # 6 h: 5.56 < 6
    (3, 50, 600, True, Fraction(25, 3), 100, True),  # 6 h pair fires (8.33, 100)
    (10, Fraction(500, 3), 1000, True, Fraction(250, 9), Fraction(1000, 3), True),  # recovery: 166.7, 1000
    (14, Fraction(500, 3), 200, True, Fraction(250, 9), Fraction(1000, 3), True),  # 1 down minute in the last 5
    (15, Fraction(500, 3), 0, False, Fraction(250, 9), Fraction(1000, 3), True),  # 1 h pair resolves
    (39, Fraction(500, 3), 0, False, Fraction(250, 9), Fraction(100, 3), True),  # 1 down minute in the last 30
    (40, Fraction(500, 3), 0, False, Fraction(250, 9), 0, False),  # 6 h pair resolves
    (70, 0, 0, False, Fraction(250, 9), 0, False),  # the outage left the hour
]


@pytest.mark.parametrize(("minute", "r1h", "r5m", "f1h", "r6h", "r30m", "f6h"), TABLE)
def test_ten_minute_outage_rates_by_hand(
    minute: int, r1h: Fraction, r5m: Fraction, f1h: bool, r6h: Fraction, r30m: Fraction, f6h: bool
) -> None:
    now = m(minute)
    one, six = pair(now, "1h", OUTAGE), pair(now, "6h", OUTAGE)
    assert (one.long_rate, one.short_rate, one.firing) == (r1h, r5m, f1h)
    assert (six.long_rate, six.short_rate, six.firing) == (r6h, r30m, f6h)


def test_ten_minute_outage_starts_and_resolves_once_each_per_pair() -> None:
    state, events = AlertState(), []
    for minute in range(-5, 80):
        now = m(minute)
        state, starts, resolves = step(state, evaluate_alerts(inputs_at(now, OUTAGE), now), now)
        events += [("start", s.key.detail, (s.at_ms - T) // MINUTE_MS) for s in starts]
        events += [("resolve", r.key.detail, (r.at_ms - T) // MINUTE_MS, r.duration_ms) for r in resolves]
    assert events == [
        ("start", "1h", 1),
        ("start", "6h", 3),
        ("resolve", "1h", 15, 14 * MINUTE_MS),
        ("resolve", "6h", 40, 37 * MINUTE_MS),
    ]
    assert not state.open  # 10 min of 43.2 allowed in the cycle: no breach either


def test_burn_rate_at_the_factor_fires() -> None:
    # 1 h pair exactly at 14.4: 51.84 s down in the hour (51_840 ms / 3_600_000 / 0.001 = 14.4), all of it in the
    # last 5 min (51_840 / 300_000 / 0.001 = 172.8).
    now = m(0)
    spans = (CountedSpan(now - HOUR_MS, now - 51_840, "up"), CountedSpan(now - 51_840, now, "down"))
    assert burn_rate(spans, TARGET, now, HOUR_MS) == Fraction(72, 5)
    assert (
        evaluate_alerts(AlertInputs("api", TARGET, CYCLE, spans), now)
        .readings[AlertKey(AlertKind.SLA_AT_RISK, "api", "2027-01", "1h")]
        .firing
    )
    one_ms_less = (CountedSpan(now - HOUR_MS, now - 51_839, "up"), CountedSpan(now - 51_839, now, "down"))
    assert burn_rate(one_ms_less, TARGET, now, HOUR_MS) == Fraction(51_839, 3_600)
    assert (
        evaluate_alerts(AlertInputs("api", TARGET, CYCLE, one_ms_less), now)
        .readings[AlertKey(AlertKind.SLA_AT_RISK, "api", "2027-01", "1h")]
        .firing
        is False
    )


def test_window_without_counted_time_has_no_rate() -> None:
    now = m(0)
    assert burn_rate((), TARGET, now, HOUR_MS) is None
    assert burn_rate((CountedSpan(now - HOUR_MS, now, None),), TARGET, now, HOUR_MS) is None
    assert burn_rate((CountedSpan(now - HOUR_MS, now, "up"),), TARGET, now, HOUR_MS) == 0
    reading = pair(now, "1h", (-60, 0, None))
    assert (reading.long_rate, reading.short_rate, reading.firing) == (None, None, None)


def test_no_data_holds_the_pair_until_the_windows_speak_again() -> None:
    # Down 0-10, then no counted time 10-20 (the agent stopped), up again from 20. At 15 the 5 min window is empty:
    # the 1 h pair holds (1 h rate 10 down / 55 counted / 0.001 = 181.8, 5 min: None). At 21 the 5 min window
    # holds 1 counted minute, up: rate 0, the pair resolves.
    gap = (OUTAGE, (10.0, 20.0, None))
    held = pair(m(15), "1h", *gap)
    assert (held.long_rate, held.short_rate, held.firing) == (Fraction(2000, 11), None, None)
    state, log = AlertState(), []
    for minute in range(0, 30):
        now = m(minute)
        state, starts, resolves = step(state, evaluate_alerts(inputs_at(now, *gap), now), now)
        log += [(s.key.detail, "start", minute) for s in starts] + [(r.key.detail, "end", minute) for r in resolves]
    assert [e for e in log if e[0] == "1h"] == [("1h", "start", 1), ("1h", "end", 21)]
    # An empty short window never starts a pair: down 0-2 only seen by the 1 h window, no data since.
    quiet = pair(m(10), "1h", (0.0, 2.0, "down"), (2.0, 10.0, None))
    assert quiet.firing is None and quiet.long_rate is not None and quiet.long_rate >= Fraction(72, 5)


def test_known_rate_below_the_factor_resolves_even_when_the_other_window_is_empty() -> None:
    # The last 5 min hold no counted time (5 min rate None) but the hour's 55 counted minutes are all up (1 h rate
    # 0, below 14.4): one known rate below the factor is enough for False.
    reading = pair(m(100), "1h", (95.0, 100.0, None))  # 55 up minutes, none down: 1 h rate 0, 5 min None
    assert (reading.long_rate, reading.short_rate, reading.firing) == (0, None, False)


def test_excluded_time_does_not_count() -> None:
    buckets = [
        BucketSpan(m(-60), m(0), Bucket.UP),
        BucketSpan(m(0), m(10), Bucket.EXCLUDED),  # the outage fell in a maintenance window
        BucketSpan(m(10), m(12), Bucket.NO_DATA),
        BucketSpan(m(12), m(15), Bucket.UP),
    ]
    spans = counted_spans(buckets, Policies())
    assert spans == (
        CountedSpan(m(-60), m(0), "up"),
        CountedSpan(m(0), m(12), None),  # excluded and no_data (policy exclude) merge: neither counts
        CountedSpan(m(12), m(15), "up"),
    )
    assert burn_rate(spans, TARGET, m(15), HOUR_MS) == 0
    # no_data: down (a contract that bills unseen time) counts the gap as down: 2 of 50 counted minutes.
    billed = counted_spans(buckets, Policies(no_data="down"))
    assert burn_rate(billed, TARGET, m(15), HOUR_MS) == Fraction(2, 50) * 1000


def test_hundred_percent_target_never_at_risk_but_breached_at_the_first_down_ms() -> None:
    full = Fraction(1)
    ev = evaluate_alerts(inputs_at(m(10), OUTAGE, target=full), m(10))
    assert [k.kind for k in ev.readings] == [AlertKind.SLA_BREACHED]
    assert burn_rate(timeline(m(10), OUTAGE), full, m(10), HOUR_MS) is None
    assert breach_reading(full, CycleSoFar("c", 1000, 0, Fraction(10**9))).firing is False
    assert breach_reading(full, CycleSoFar("c", 1000, 1, Fraction(10**9))) == BreachReading(1, Fraction(0), True)


def test_breach_boundary() -> None:
    # 30-day cycle, 99.9 %: 2_592_000 ms (43.2 min) allowed when everything is counted. Down == allowed ends the
    # cycle at exactly 99.9 % (met): not breached; one ms more: breached.
    done = 10 * DAY_MS
    at = CycleSoFar("c", done, 2_592_000, Fraction(30 * DAY_MS - done))
    assert breach_reading(TARGET, at) == BreachReading(2_592_000, Fraction(2_592_000), False)
    over = CycleSoFar("c", done, 2_592_001, Fraction(30 * DAY_MS - done))
    assert breach_reading(TARGET, over).firing
    # An hour already passed without a count can no longer count: allowed 0.001 x (30 d - 1 h) = 2_588_400 ms;
    # an hour of maintenance ahead is not countable either: another 3_600 ms less.
    gap = CycleSoFar("c", done - HOUR_MS, 2_588_401, Fraction(30 * DAY_MS - done))
    assert breach_reading(TARGET, gap) == BreachReading(2_588_401, Fraction(2_588_400), True)
    maintenance_ahead = CycleSoFar("c", done, 2_588_401, Fraction(30 * DAY_MS - done - HOUR_MS))
    assert breach_reading(TARGET, maintenance_ahead).firing


def test_cycle_so_far_from_an_evaluation() -> None:
    # A 30-day cycle evaluated on day 10: up days 0-9 but for a no_data hour on day 2 (not counted) and 30 min down
    # on day 5; a 2-hour maintenance window on day 20 (ahead). Counted: 10 d - 1 h; down 30 min; ahead: 20 d - 2 h.
    period = Period(0, 30 * DAY_MS, "c")
    now = 10 * DAY_MS
    spans = [
        (0, 2 * DAY_MS, State.UP),
        (2 * DAY_MS, 2 * DAY_MS + HOUR_MS, State.NO_DATA),
        (2 * DAY_MS + HOUR_MS, 5 * DAY_MS, State.UP),
        (5 * DAY_MS, 5 * DAY_MS + 30 * MINUTE_MS, State.DOWN),
        (5 * DAY_MS + 30 * MINUTE_MS, now, State.UP),
    ]
    intervals = {"web": [StateInterval("a", "web", a, b, state) for a, b, state in spans]}
    window = MaintenanceWindow(20 * DAY_MS, 20 * DAY_MS + 2 * HOUR_MS, label="upgrade")
    spec = SlaSpec(TARGET, (ServiceSpec("shop", ("web",)),))
    ev = evaluate(spec, period, intervals, now, maintenance=[window])
    cycle = cycle_so_far(ev)
    assert cycle == CycleSoFar("c", 10 * DAY_MS - HOUR_MS, 30 * MINUTE_MS, Fraction(20 * DAY_MS - 2 * HOUR_MS))
    # Allowed: 0.001 x (30 d - 3 h) = 2_581_200 ms, 3_600 ms less than the budget's 0.001 x (30 d - 2 h): the
    # uncounted hour can no longer count.
    assert breach_reading(TARGET, cycle).allowed_ms == 2_581_200
    assert ev.overall.budget.allowed_ms == 2_584_800


def test_breach_starts_once_and_resolves_with_the_cycle() -> None:
    blown = CycleSoFar("2027-01", 14 * DAY_MS, 3_000_000, Fraction(16 * DAY_MS))  # 50 min > 43.2 min
    key = AlertKey(AlertKind.SLA_BREACHED, "api", "2027-01")
    state, starts, _ = step(AlertState(), evaluate_alerts(AlertInputs("api", TARGET, blown, ()), m(0)), m(0))
    assert [s.key for s in starts] == [key] and key.id == "sla_breached:api:2027-01"
    state, starts, resolves = step(state, evaluate_alerts(AlertInputs("api", TARGET, blown, ()), m(1)), m(1))
    assert not starts and not resolves
    fresh = CycleSoFar("2027-02", 0, 0, Fraction(28 * DAY_MS))
    state, starts, resolves = step(state, evaluate_alerts(AlertInputs("api", TARGET, fresh, ()), m(2)), m(2))
    assert not starts
    assert [(r.key, r.reason, r.reading) for r in resolves] == [(key, ResolveReason.CYCLE_ENDED, None)]
    assert not state.open


def test_objective_breached_only_after_min_samples() -> None:
    def error_rate(up: int, down: int, min_samples: int = 100) -> bool | None:
        result = error_rate_result(ResultCounts(up=up, down=down), Fraction(1))  # objective: below 1 %
        ev = evaluate_alerts(AlertInputs("api", TARGET, CYCLE, (), error_rate=result), m(0), min_samples=min_samples)
        return ev.readings[AlertKey(AlertKind.OBJECTIVE_BREACHED, "api", "2027-01", "error_rate")].firing

    assert error_rate(49, 50) is None  # 99 results, half down: too few to judge
    assert error_rate(98, 2) is True  # 100 results, 2 % down
    assert error_rate(99, 1) is True  # 1 % is not below 1 %
    assert error_rate(199, 1) is False  # 0.5 %
    assert error_rate(8, 2, min_samples=10) is True

    slow = LatencyHistogram.of([500.0] * 100)
    objective = LatencyObjective(99, 300)
    few = latency_result(objective, LatencyHistogram.of([500.0] * 99))
    ev = evaluate_alerts(AlertInputs("api", TARGET, CYCLE, (), latency=few), m(0))
    key = AlertKey(AlertKind.OBJECTIVE_BREACHED, "api", "2027-01", "latency")
    assert ev.readings[key].firing is None
    ev = evaluate_alerts(AlertInputs("api", TARGET, CYCLE, (), latency=latency_result(objective, slow)), m(0))
    assert ev.readings[key].firing is True


def test_step_leaves_other_slas_alone_and_resolves_a_dropped_objective() -> None:
    other = AlertKey(AlertKind.SLA_AT_RISK, "web", "2027-01", "1h")
    obj = AlertKey(AlertKind.OBJECTIVE_BREACHED, "api", "2027-01", "error_rate")
    web = SlaAlerts("web", "2027-01", m(5), {other: pair(m(5), "1h", OUTAGE)})  # web's 1 h pair fires
    state, _, _ = step(AlertState(), web, m(5))
    assert set(state.open) == {other}
    errors = error_rate_result(ResultCounts(up=90, down=10), Fraction(1))
    with_obj = AlertInputs("api", TARGET, CYCLE, timeline(m(5)), error_rate=errors)
    state, starts, _ = step(state, evaluate_alerts(with_obj, m(5)), m(5))
    assert [s.key for s in starts] == [obj]
    state, _, resolves = step(state, evaluate_alerts(inputs_at(m(6)), m(6)), m(6))  # objective removed on reload
    assert [(r.key, r.reason) for r in resolves] == [(obj, ResolveReason.ENDED)]
    assert set(state.open) == {other}


def test_a_second_episode_of_a_key_has_its_own_id() -> None:
    # Two 10-minute outages an hour apart: the 1 h pair starts at 1 and 71 and resolves at 15 and 85 (the second
    # hour's window holds only the second outage once the first left it at 70).
    state, starts, resolves = AlertState(), [], []
    for minute in range(0, 100):
        now = m(minute)
        inputs = inputs_at(now, OUTAGE, (70.0, 80.0, "down"))
        state, started, resolved = step(state, evaluate_alerts(inputs, now), now)
        starts += [s for s in started if s.key.detail == "1h"]
        resolves += [r for r in resolved if r.key.detail == "1h"]
    assert [(s.at_ms - T) // MINUTE_MS for s in starts] == [1, 71]
    assert [(r.at_ms - T) // MINUTE_MS for r in resolves] == [15, 85]
    assert starts[0].key == starts[1].key and starts[0].id != starts[1].id
    assert [r.id for r in resolves] == [s.id for s in starts]
    assert starts[0].id == f"sla_at_risk:api:2027-01:1h@{m(1)}"


def test_evaluate_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        evaluate_alerts(inputs_at(m(0)), m(0), min_samples=0)
    with pytest.raises(ValueError, match="empty or reversed"):
        CountedSpan(m(1), m(1), "up")


KEYS = [
    AlertKey(AlertKind.SLA_AT_RISK, "api", "c1", "1h"),
    AlertKey(AlertKind.SLA_BREACHED, "api", "c1"),
    AlertKey(AlertKind.OBJECTIVE_BREACHED, "api", "c1", "latency"),
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2", "c3"]),
            st.lists(st.sampled_from([True, False, None]), min_size=len(KEYS), max_size=len(KEYS)),
            st.booleans(),  # whether the third key is evaluated at all
        ),
        max_size=40,
    )
)
def test_step_starts_and_resolves_alternate_per_key(
    evaluations: list[tuple[str, list[bool | None], bool]],
) -> None:
    state = AlertState()
    history: dict[AlertKey, list[str]] = {}
    for minute, (cycle, firing, third) in enumerate(evaluations):
        readings = {
            AlertKey(k.kind, k.sla, cycle, k.detail): ObjectiveReading("latency", 0, None, f)
            for k, f in zip(KEYS, firing, strict=True)
            if third or k.detail != "latency"
        }
        state, starts, resolves = step(state, SlaAlerts("api", cycle, m(minute), readings), m(minute))
        for r in resolves:
            history.setdefault(r.key, []).append("resolve")
        for s in starts:
            history.setdefault(s.key, []).append("start")
        # After each step exactly the keys whose condition is True (and of this cycle) may be newly open; nothing
        # of another cycle stays open; a True condition is always open.
        assert all(key.cycle == cycle for key in state.open)
        assert {k for k, r in readings.items() if r.firing is True} <= set(state.open)
        assert not {k for k, r in readings.items() if r.firing is False} & set(state.open)
    for key, events in history.items():
        assert events == ["start", "resolve"] * (len(events) // 2) + ["start"] * (len(events) % 2), key
        assert (key in state.open) == (events[-1] == "start")
