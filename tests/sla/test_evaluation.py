"""The single entry point: hand-computed cycles with outages across a boundary, maintenance, services, agents."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from probe_agent.model import State, StateInterval, dt_to_ms
from probe_agent.sla.availability import Policies
from probe_agent.sla.evaluation import ServiceSpec, SlaSpec, evaluate
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.periods import cycle_starting_in, explicit_period
from probe_agent.sla.slices import SliceCounting
from probe_agent.sla.timeline import ALL, ANY

U, D, K, N = State.UP, State.DOWN, State.UNKNOWN, State.NO_DATA
M, H, DAY = 60_000, 3_600_000, 86_400_000
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TARGET = Fraction(999, 1000)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return dt_to_ms(datetime(year, month, day, hour, minute, tzinfo=UTC))


def iv(
    start: int,
    end: int,
    state: State,
    outage: int | None = None,
    cause: str | None = None,
    endpoint: str = "web",
    agent: str = "ams",
) -> StateInterval:
    return StateInterval(agent, endpoint, start, end, state, cause, outage)


def one_service(endpoints: tuple[str, ...] = ("web",), **changes: Any) -> SlaSpec:
    return replace(SlaSpec(target=TARGET, services=(ServiceSpec("site", endpoints),)), **changes)


def test_outage_across_a_cycle_boundary_is_split_by_time_and_kept_whole_as_an_incident() -> None:
    october = cycle_starting_in(2026, 10, 1, AMSTERDAM)  # 745 h: the EU fall-back is inside
    november = cycle_starting_in(2026, 11, 1, AMSTERDAM)
    start, end = utc(2026, 10, 31, 22, 50), utc(2026, 10, 31, 23, 20)  # 23:50 to 00:20 local
    assert october.end_ms == november.start_ms == utc(2026, 10, 31, 23)
    intervals = {
        "web": [
            iv(october.start_ms, start, U),
            iv(start, end, D, start, "connect_refused"),
            iv(end, november.end_ms, U),
        ]
    }
    now = november.end_ms
    oct_eval = evaluate(one_service(), october, intervals, now)
    nov_eval = evaluate(one_service(), november, intervals, now)
    assert oct_eval.overall.availability.counted_down_ms == 10 * M
    assert nov_eval.overall.availability.counted_down_ms == 20 * M
    assert oct_eval.overall.availability.availability == 1 - Fraction(10 * M, 745 * H)
    assert nov_eval.overall.availability.availability == 1 - Fraction(20 * M, 720 * H)
    for evaluation in (oct_eval, nov_eval):
        (incident,) = evaluation.overall.incidents
        assert (incident.start_ms, incident.end_ms, incident.ongoing) == (start, end, False)
        assert incident.cause == "connect_refused"
    assert oct_eval.overall.budget.allowed_ms == Fraction(745 * H, 1000)


@pytest.mark.parametrize(("announced_hours_ahead", "excluded"), [(72, True), (24, False)])
def test_maintenance_window_overlapping_an_outage(announced_hours_ahead: int, excluded: bool) -> None:
    period = explicit_period(0, DAY)
    intervals = {"web": [iv(0, 10 * H, U), iv(10 * H, 11 * H, D, 10 * H, "http_status"), iv(11 * H, DAY, U)]}
    announced = 10 * H - announced_hours_ahead * H
    window = MaintenanceWindow(10 * H + 30 * M, 12 * H, announced_ms=announced, label="db", notice_ms=48 * H)
    spec = one_service()
    result = evaluate(spec, period, intervals, DAY, maintenance=[window]).overall.availability
    if excluded:
        assert (result.counted_down_ms, result.buckets.excluded_ms) == (30 * M, 90 * M)
        assert result.availability == Fraction(DAY - 120 * M, DAY - 90 * M)
    else:
        assert (result.counted_down_ms, result.buckets.excluded_ms) == (H, 0)
        assert result.availability == Fraction(23, 24)
    warnings = evaluate(spec, period, intervals, DAY, maintenance=[window]).warnings
    assert any("db" in w for w in warnings) is not excluded


def test_all_versus_any_services_and_the_sla_rule() -> None:
    period = explicit_period(0, 500 * M)
    intervals = {
        "a": [
            iv(0, 100 * M, U, endpoint="a"),
            iv(100 * M, 300 * M, D, 100 * M, endpoint="a"),
            iv(300 * M, 500 * M, U, endpoint="a"),
        ],
        "b": [
            iv(0, 200 * M, U, endpoint="b"),
            iv(200 * M, 400 * M, D, 200 * M, endpoint="b"),
            iv(400 * M, 500 * M, U, endpoint="b"),
        ],
    }
    spec = SlaSpec(
        target=TARGET,
        services=(ServiceSpec("strict", ("a", "b"), ALL), ServiceSpec("redundant", ("a", "b"), ANY)),
    )
    result = evaluate(spec, period, intervals, 500 * M)
    assert result.services["strict"].availability.counted_down_ms == 300 * M
    assert result.services["redundant"].availability.counted_down_ms == 100 * M
    assert result.services["strict"].value == Fraction(2, 5)
    assert result.services["redundant"].value == Fraction(4, 5)
    assert result.overall.availability.counted_down_ms == 300 * M  # the SLA is down when any service is
    assert result.endpoints["a"].availability.counted_down_ms == 200 * M
    assert [i.duration_ms for i in result.services["strict"].incidents] == [300 * M]
    any_sla = evaluate(SlaSpec(TARGET, spec.services, sla_rule=ANY), period, intervals, 500 * M)
    assert any_sla.overall.availability.counted_down_ms == 100 * M


def test_vantage_points_down_only_when_every_agent_with_data_sees_it() -> None:
    period = explicit_period(0, 100 * M)
    x_down = [iv(0, 10 * M, U, agent="x"), iv(10 * M, 20 * M, D, 10 * M, agent="x"), iv(20 * M, 100 * M, U, agent="x")]
    y_up = [iv(0, 100 * M, U, agent="y")]
    y_unknown = [iv(0, 10 * M, U, agent="y"), iv(10 * M, 20 * M, K, agent="y"), iv(20 * M, 100 * M, U, agent="y")]
    y_silent = [iv(0, 10 * M, U, agent="y"), iv(20 * M, 100 * M, U, agent="y")]
    assert evaluate(one_service(), period, {"web": x_down + y_up}, 100 * M).overall.availability.counted_down_ms == 0
    for other in (y_unknown, y_silent):
        result = evaluate(one_service(), period, {"web": x_down + other}, 100 * M).overall
        assert result.availability.counted_down_ms == 10 * M
    # The agent's own network failure (unknown) is never the target's downtime.
    all_unknown = [iv(0, 100 * M, K, agent="x")]
    blind = evaluate(one_service(), period, {"web": all_unknown}, 100 * M).overall.availability
    assert (blind.buckets.unknown_ms, blind.counted_down_ms, blind.availability) == (100 * M, 0, None)


def test_each_service_combines_its_agents_by_its_own_vantage_rule() -> None:
    # One endpoint in two services: agent x sees it down 10-20 min, agent y sees it up throughout.
    period = explicit_period(0, 100 * M)
    views = [iv(0, 10 * M, U, agent="x"), iv(10 * M, 20 * M, D, 10 * M, agent="x"), iv(20 * M, 100 * M, U, agent="x")]
    views.append(iv(0, 100 * M, U, agent="y"))
    spec = SlaSpec(
        TARGET, (ServiceSpec("strict", ("web",), vantage=ALL), ServiceSpec("lenient", ("web",), vantage=ANY))
    )
    result = evaluate(spec, period, {"web": views}, 100 * M)
    assert result.services["strict"].availability.counted_down_ms == 10 * M  # all: down if any agent sees it
    assert result.services["lenient"].availability.counted_down_ms == 0  # any: up while any agent sees it up
    assert result.overall.availability.counted_down_ms == 10 * M  # the SLA is down when any service is
    # The endpoint's own figures: its services disagree, so the SLA's default (with_data: y sees it up) decides.
    assert result.endpoints["web"].availability.counted_down_ms == 0
    only_strict = SlaSpec(TARGET, (ServiceSpec("strict", ("web",), vantage=ALL),))
    assert (
        evaluate(only_strict, period, {"web": views}, 100 * M).endpoints["web"].availability.counted_down_ms == 10 * M
    )


def test_time_before_monitoring_started_is_not_billed() -> None:
    period = explicit_period(0, 10 * DAY)
    intervals = {"web": [iv(5 * DAY, 10 * DAY, U)]}
    spec = one_service(policies=Policies(no_data="down"))
    uncut = evaluate(spec, period, intervals, 10 * DAY)
    assert uncut.overall.value == Fraction(1, 2)
    cut = evaluate(spec, period, intervals, 10 * DAY, monitoring_start_ms=5 * DAY)
    assert cut.overall.value == 1 and cut.covered == Fraction(1, 2) and cut.full_period == period
    with pytest.raises(ValueError):
        evaluate(spec, period, intervals, 10 * DAY, monitoring_start_ms=11 * DAY)


def test_an_ongoing_cycle_is_measured_up_to_now() -> None:
    period = explicit_period(0, 30 * DAY)
    now = 10 * DAY
    intervals = {"web": [iv(0, now - H, U), iv(now - H, now, D, now - H, "connect_timeout")]}
    result = evaluate(one_service(), period, intervals, now, probe_interval_ms={"web": M})
    overall = result.overall
    assert result.measured_end_ms == now and overall.availability.buckets.total_ms == now
    assert overall.budget.elapsed == Fraction(1, 3)
    assert overall.budget.used_ms == H
    (incident,) = overall.incidents
    assert incident.ongoing and overall.stats.mttr_ms is None
    assert overall.bounds is not None and overall.bounds.changes == 1
    assert (overall.bounds.min_down_ms, overall.bounds.max_down_ms) == (H - M, H + M)


def test_slices_decide_met_and_coarse_probes_warn() -> None:
    period = explicit_period(0, 100 * M)
    intervals = {"web": [iv(0, 50 * M, U), iv(50 * M, 50 * M + 30_000, D, 50 * M), iv(50 * M + 30_000, 100 * M, U)]}
    spec = one_service(counting=SliceCounting(M, "ignore"), max_incident_ms=10 * M)
    result = evaluate(spec, period, intervals, 100 * M, probe_interval_ms={"web": 5 * M})
    assert result.overall.slices is not None and result.overall.slices.down_slices == 0
    assert result.overall.value == 1 and result.met is True
    assert result.overall.availability.availability == Fraction(199, 200)
    assert any("slice" in w for w in result.warnings)
    assert result.endpoints["web"].slices is None  # slices only for services and the SLA


def test_missing_endpoint_is_no_data_and_objectives_pass_through() -> None:
    from probe_agent.latency import LatencyHistogram
    from probe_agent.sla.objectives import LatencyObjective, ResultCounts

    spec = one_service(latency=LatencyObjective(95, 200), error_rate_below_percent=Fraction(1))
    result = evaluate(
        spec,
        explicit_period(0, 10 * M),
        {},
        10 * M,
        latency_histogram=LatencyHistogram.of([50.0] * 100),
        result_counts=ResultCounts(up=99, down=1),
    )
    assert result.overall.availability.buckets.no_data_ms == 10 * M and result.met is None
    assert result.latency is not None and result.latency.met is True
    assert result.error_rate is not None and result.error_rate.met is False  # 1 % is not below 1 %


@pytest.mark.parametrize(
    ("excluded_hours", "warning"),
    [
        (23, None),  # less than half of the 48 h: nothing to say
        (24, "50% of the measured time is excluded (maintenance windows and exclusions): the figures speak for"),
        (36, "75% of the measured time is excluded"),
        (48, "all of the measured time is excluded (maintenance windows and exclusions): there is no availability"),
    ],
)
@pytest.mark.fault("a mostly or wholly excluded SLA", expected="a warning says how much is excluded")
def test_a_mostly_or_wholly_excluded_period_says_so(excluded_hours: int, warning: str | None) -> None:
    period = explicit_period(utc(2026, 11, 1), utc(2026, 11, 3), "two days")
    intervals = {"web": [iv(period.start_ms, period.end_ms, U)]}
    ev = evaluate(
        one_service(),
        period,
        intervals,
        period.end_ms,
        exclusions=[(period.start_ms, period.start_ms + excluded_hours * H)],
    )
    found = [w for w in ev.warnings if "excluded" in w]
    assert found == ([] if warning is None else [found[0]]) and (warning is None or found[0].startswith(warning))
    assert (ev.overall.availability.availability is None) == (excluded_hours == 48)
