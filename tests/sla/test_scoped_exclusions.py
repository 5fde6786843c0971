"""Exclusions scoped to one member mask only that member; incidents in excluded time are not the provider's."""

from __future__ import annotations

from fractions import Fraction

from probe_agent.model import State, StateInterval
from probe_agent.sla.evaluation import ServiceSpec, SlaSpec, evaluate
from probe_agent.sla.incidents import Outage, incidents_of
from probe_agent.sla.periods import explicit_period
from probe_agent.sla.timeline import ALL, ANY, Span, combine_masked, quorum

U, D, N = State.UP, State.DOWN, State.NO_DATA
H = 3_600_000


def spans(*parts: tuple[int, int, State]) -> list[Span]:
    return [Span(a, b, s) for a, b, s in parts]


def test_a_masked_member_does_not_vote() -> None:
    web = spans((0, 10, U), (10, 20, D), (20, 30, U))
    db = spans((0, 12, U), (12, 18, D), (18, 30, U))
    # db excluded 11..19: its own down time no longer counts, web's outage still does.
    out, masked = combine_masked([web, db], [[], [(11, 19)]], ALL, 0, 30)
    assert out == spans((0, 10, U), (10, 20, D), (20, 30, U))
    assert masked == []
    # web excluded over its outage: db alone decides.
    out, masked = combine_masked([web, db], [[(10, 20)], []], ALL, 0, 30)
    assert out == spans((0, 12, U), (12, 18, D), (18, 30, U))
    # Both excluded over 5..25: no member votes there, so that range is excluded for the service.
    out, masked = combine_masked([web, db], [[(5, 25)], [(5, 25)]], ALL, 0, 30)
    assert masked == [(5, 25)]
    assert out == spans((0, 5, U), (5, 25, N), (25, 30, U))


def test_masking_under_any_and_quorum() -> None:
    a = spans((0, 30, D))
    b = spans((0, 30, U))
    c = spans((0, 30, D))
    assert combine_masked([a, b], [[], [(0, 30)]], ANY, 0, 30)[0] == spans((0, 30, D))  # b's "up" is excluded
    # quorum 2 of 3 with b masked: a and c both down -> down; with a masked too, k shrinks to the one left.
    assert combine_masked([a, b, c], [[], [(0, 30)], []], quorum(2), 0, 30)[0] == spans((0, 30, D))
    assert combine_masked([a, b, c], [[(0, 30)], [(0, 30)], []], quorum(2), 0, 30)[0] == spans((0, 30, D))


def iv(endpoint: str, a: int, b: int, state: State, outage: int | None = None) -> StateInterval:
    return StateInterval("ams", endpoint, a * H, b * H, state, "http_status" if outage is not None else None,
                         None if outage is None else outage * H)  # fmt: skip


def test_endpoint_exclusion_keeps_the_other_endpoints_outage() -> None:
    """The reviewer's case: maintenance on db must not hide web's outage in the same window."""
    period = explicit_period(0, 100 * H)
    data = {
        "web": [iv("web", 0, 50, U), iv("web", 50, 51, D, 50), iv("web", 51, 100, U)],
        "db": [iv("db", 0, 49, U), iv("db", 49, 52, D, 49), iv("db", 52, 100, U)],
    }
    spec = SlaSpec(Fraction(999, 1000), (ServiceSpec("shop", ("web", "db"), ALL),))
    ev = evaluate(spec, period, data, 100 * H, endpoint_exclusions={"db": [(49 * H, 52 * H)]})
    a = ev.overall.availability
    assert a.counted_down_ms == 1 * H  # web's hour; db's 3 h are excluded for db only
    assert a.buckets.excluded_ms == 0  # web was measured all along, so no SLA time is excluded
    assert ev.endpoints["db"].availability.buckets.excluded_ms == 3 * H
    whole = evaluate(spec, period, data, 100 * H, exclusions=[(49 * H, 52 * H)])
    assert whole.overall.availability.counted_down_ms == 0 and whole.overall.availability.buckets.excluded_ms == 3 * H


def test_incidents_inside_maintenance_do_not_count_for_credits_or_max_duration() -> None:
    period = explicit_period(0, 100 * H)
    data = {"web": [iv("web", 0, 10, U), iv("web", 10, 13, D, 10), iv("web", 13, 50, U), iv("web", 50, 53, D, 50),
                    iv("web", 53, 100, U)]}  # fmt: skip
    spec = SlaSpec(Fraction(999, 1000), (ServiceSpec("s", ("web",), ALL),), max_incident_ms=2 * H)
    ev = evaluate(spec, period, data, 100 * H, exclusions=[(10 * H, 13 * H), (50 * H, 52 * H)])
    overall = ev.overall
    assert [(i.start_ms // H, i.end_ms // H) for i in overall.incidents] == [(50, 53)]  # the first is all excluded
    assert overall.incident_counted_ms == (1 * H,)  # 3 h less 2 h of maintenance
    assert overall.too_long == ()  # 1 counted hour is within the 2 h maximum


def test_an_outage_without_recovery_stays_ongoing_after_the_data_ends() -> None:
    combined = spans((0, 10, U), (10, 15, D), (15, 40, N))
    outage = Outage("ams", "web", 10, 15, 5, "connect_refused", ongoing=True)
    (incident,) = incidents_of(combined, [outage])
    assert incident.ongoing
