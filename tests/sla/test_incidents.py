"""Outages from state intervals, incidents of combined timelines, incident statistics."""

from __future__ import annotations

from probe_agent.model import State, StateInterval
from probe_agent.sla.incidents import Incident, incident_stats, incidents_of, longer_than, outages_of
from probe_agent.sla.timeline import ALL, ANY, Span, combine, normalize

U, D, K, N = State.UP, State.DOWN, State.UNKNOWN, State.NO_DATA


def iv(
    start: int,
    end: int,
    state: State,
    outage: int | None = None,
    cause: str | None = None,
    endpoint: str = "e",
    agent: str = "a",
) -> StateInterval:
    return StateInterval(agent, endpoint, start, end, state, cause, outage)


# One outage from 100 to 300 with an unknown stretch inside it, then a second one that never recovers.
ONE_ENDPOINT = [
    iv(0, 100, U),
    iv(100, 200, D, 100, "connect_refused"),
    iv(200, 250, K, 100, "dns_temporary"),
    iv(250, 300, D, 100, "connect_refused"),
    iv(300, 400, U),
    iv(400, 500, D, 400, "read_timeout"),
]


def test_outages_of_one_endpoint() -> None:
    outages = outages_of(ONE_ENDPOINT)
    assert [(o.start_ms, o.end_ms, o.down_ms, o.cause, o.ongoing) for o in outages] == [
        (100, 300, 150, "connect_refused", False),
        (400, 500, 100, "read_timeout", True),
    ]


def test_outage_ending_unknown_then_up_lasts_until_the_up() -> None:
    intervals = [iv(0, 100, U), iv(100, 200, D, 100, "http_status"), iv(200, 260, K, 100), iv(260, 300, U)]
    (outage,) = outages_of(intervals)
    assert (outage.start_ms, outage.end_ms, outage.down_ms, outage.ongoing) == (100, 260, 100, False)
    timeline = normalize(intervals)
    (incident,) = incidents_of(timeline, [outage])
    assert (incident.start_ms, incident.end_ms, incident.duration_ms, incident.down_ms) == (100, 260, 160, 100)


def test_unknown_inside_an_outage_does_not_split_the_incident() -> None:
    timeline = normalize(ONE_ENDPOINT)
    incidents = incidents_of(timeline, outages_of(ONE_ENDPOINT))
    assert incidents == [
        Incident(100, 300, 150, ("e",), "connect_refused", False),
        Incident(400, 500, 100, ("e",), "read_timeout", True),
    ]


def test_without_outage_information_a_gap_splits_down_runs() -> None:
    timeline = [Span(0, 100, D), Span(100, 150, N), Span(150, 200, D), Span(200, 300, U)]
    incidents = incidents_of(timeline, [])
    assert [(i.start_ms, i.end_ms, i.cause, i.endpoints) for i in incidents] == [
        (0, 100, None, ()),
        (150, 200, None, ()),
    ]


def test_up_between_down_runs_always_splits() -> None:
    intervals = [iv(0, 100, D, 0), iv(100, 110, U), iv(110, 200, D, 110)]
    assert len(incidents_of(normalize(intervals), outages_of(intervals))) == 2


def two_endpoints() -> tuple[list[StateInterval], list[StateInterval]]:
    a = [
        iv(0, 100, U, endpoint="A"),
        iv(100, 300, D, 100, "connect_timeout", endpoint="A"),
        iv(300, 500, U, endpoint="A"),
    ]
    b = [iv(0, 200, U, endpoint="B"), iv(200, 400, D, 200, "tls_expired", endpoint="B"), iv(400, 500, U, endpoint="B")]
    return a, b


def test_service_all_merges_overlapping_endpoint_outages_into_one_incident() -> None:
    a, b = two_endpoints()
    service = combine([normalize(a), normalize(b)], ALL, 0, 500)
    (incident,) = incidents_of(service, outages_of(a + b))
    assert incident == Incident(100, 400, 300, ("A", "B"), "connect_timeout", False)


def test_service_any_is_down_only_while_both_are() -> None:
    a, b = two_endpoints()
    service = combine([normalize(a), normalize(b)], ANY, 0, 500)
    (incident,) = incidents_of(service, outages_of(a + b))
    assert incident == Incident(200, 300, 100, ("A", "B"), "connect_timeout", False)


def test_stats_and_max_duration() -> None:
    incidents = [
        Incident(0, 10, 10, ("e",), None, False),
        Incident(50, 70, 20, ("e",), None, False),
        Incident(100, 130, 30, ("e",), None, False),
        Incident(200, 260, 60, ("e",), None, True),
    ]
    # A window [0, 260) with 260 - (10 + 20 + 30 + 60) = 140 ms counted up and four incidents started in it.
    stats = incident_stats(incidents, 140, 0)
    assert stats.count == 4
    assert stats.mttr_ms == 20  # resolved only: (10 + 20 + 30) / 3
    assert stats.mtbf_ms == 35  # 140 / 4
    assert stats.longest == incidents[3]
    assert longer_than(incidents, 30) == [incidents[3]]  # exactly 30 is within the maximum
    empty = incident_stats([], 260, 0)
    assert (empty.count, empty.mttr_ms, empty.mtbf_ms, empty.longest) == (0, None, None, None)


def test_mtbf_is_up_time_per_incident_started_in_the_window_and_never_negative() -> None:
    # Two endpoints' incidents overlap (A 100-400, B 150-200): the old gap-based mean was 150 - 400 = -250 ms.
    overlapping = [Incident(100, 400, 300, ("A",), None, False), Incident(150, 200, 50, ("B",), None, False)]
    assert incident_stats(overlapping, 700, 0).mtbf_ms == 350  # 700 ms up / 2 incidents
    # A window from 120: the incident that started at 100 is listed but is not a failure of this window.
    late = incident_stats(overlapping, 580, 120)
    assert (late.count, late.mtbf_ms) == (2, 580)
    # One incident is enough for an MTBF; none started in the window (only a carried-over one) gives null.
    assert incident_stats(overlapping[:1], 600, 0).mtbf_ms == 600
    assert incident_stats(overlapping[:1], 600, 101).mtbf_ms is None
    assert incident_stats(overlapping, None, 0).mtbf_ms is None  # merged scopes: no one up time


def test_outages_of_several_agents_are_separate() -> None:
    intervals = [iv(0, 100, D, 0, "connect_refused", agent="x"), iv(50, 150, D, 50, "dns_nxdomain", agent="y")]
    outages = outages_of(intervals)
    assert [(o.agent, o.start_ms, o.ongoing) for o in outages] == [("x", 0, True), ("y", 50, True)]
