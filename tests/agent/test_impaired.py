"""``agent_impaired`` episodes, judged beat by beat: hand-counted opens, resolutions, ids and the dead man's rule."""

from __future__ import annotations

from probe_agent.agent.controls import ControlsVerdict
from probe_agent.agent.impaired import ImpairedWatch, Reason
from probe_agent.notify.event import Event, event_id

T0 = 1_700_000_000_000


def watch() -> tuple[ImpairedWatch, list[Event]]:
    sent: list[Event] = []
    return ImpairedWatch("a1", sent.append), sent


def test_one_episode_per_reason_one_event_when_it_starts_one_when_it_ends() -> None:
    w, sent = watch()
    ok = {"controls_all_failing": None, "store_problem": None, "schedule_lag": None}
    w.check(T0, **ok)
    assert sent == []
    for i in range(1, 4):  # three beats of store trouble: one event
        w.check(T0 + i * 1000, **{**ok, "store_problem": "commits are failing: disk full"})
    w.check(T0 + 4000, **{**ok, "store_problem": "commits are failing: disk full", "schedule_lag": "6.0 s behind"})
    w.check(T0 + 5000, **{**ok, "schedule_lag": "6.0 s behind"})
    w.check(T0 + 6000, **ok)
    w.check(T0 + 7000, **ok)
    assert [(str(e.type), e.subject, e.episode_start_ms, e.time_ms) for e in sent] == [
        ("agent_impaired", ("agent", "store_not_writable"), T0 + 1000, T0 + 1000),
        ("agent_impaired", ("agent", "schedule_lagging"), T0 + 4000, T0 + 4000),
        ("agent_impaired_resolved", ("agent", "store_not_writable"), T0 + 1000, T0 + 5000),
        ("agent_impaired_resolved", ("agent", "schedule_lagging"), T0 + 4000, T0 + 6000),
    ]
    store, lag, store_ok, _ = sent
    assert store.details == {
        "reason": "store_not_writable",
        "since": "2023-11-14T22:13:21.000Z",
        "problem": "commits are failing: disk full",
    }
    assert store_ok.details == {
        "reason": "store_not_writable",
        "since": "2023-11-14T22:13:21.000Z",
        "duration_ms": 4000,
    }
    assert store.summary == "agent a1: the store cannot be written: commits are failing: disk full"
    assert store_ok.summary == "agent a1: the store takes writes again after 4s"
    # Stable ids: from (type, agent, reason, episode start) only; the resolution has its own.
    assert store.id == event_id(store.type, "a1", ("agent", "store_not_writable"), T0 + 1000)
    assert store_ok.id != store.id and lag.id != store.id
    assert store.to_json()["agent"] == "a1" and "endpoint" not in store.to_json()


def test_a_second_episode_of_a_reason_has_its_own_id() -> None:
    w, sent = watch()
    for t, bad in ((0, "x"), (1000, None), (2000, "x"), (3000, None)):
        w.check(T0 + t, controls_all_failing=bad, store_problem=None, schedule_lag=None)
    assert [e.episode_start_ms - T0 for e in sent] == [0, 0, 2000, 2000]
    assert len({e.id for e in sent}) == 4


def test_controls_problem_keeps_the_episode_without_a_new_round() -> None:
    w, _ = watch()
    down = ControlsVerdict(False, False, "0/2 controls up (c1: connect_refused; c2: timeout)", 1.0)
    up = ControlsVerdict(True, True, "2/2 controls up", 2.0)
    assert w.controls_problem(None) is None  # no round yet: nothing known, nothing opened
    assert w.controls_problem(down) == "0/2 controls up (c1: connect_refused; c2: timeout)"
    assert w.controls_problem(up) is None
    w.check(T0, controls_all_failing=w.controls_problem(down), store_problem=None, schedule_lag=None)
    assert Reason.CONTROLS_FAILING in w.open
    # A reload rebuilds the controls (no verdict yet): the episode stays open until a round says otherwise.
    w.check(T0 + 1000, controls_all_failing=w.controls_problem(None), store_problem=None, schedule_lag=None)
    assert w.open == {Reason.CONTROLS_FAILING: T0}
    w.check(T0 + 2000, controls_all_failing=w.controls_problem(up), store_problem=None, schedule_lag=None)
    assert w.open == {}


def test_coverage_gap_is_one_event_with_its_length_and_no_resolution() -> None:
    w, sent = watch()
    event = w.coverage_gap(T0, T0 + 125_000)
    assert event is not None and sent == [event]
    assert str(event.type) == "agent_impaired" and event.subject == ("agent", "coverage_gap")
    assert event.episode_start_ms == T0 and event.time_ms == T0 + 125_000
    assert event.details == {
        "reason": "coverage_gap",
        "gap_start": "2023-11-14T22:13:20.000Z",
        "gap_end": "2023-11-14T22:15:25.000Z",
        "duration_ms": 125_000,
    }
    assert "for 2m5s" in event.summary
    assert w.coverage_gap(T0, T0) is None and len(sent) == 1
    assert w.open == {}  # nothing to resolve


def test_healthy_needs_a_recent_check_and_no_open_episode() -> None:
    w, _ = watch()
    assert not w.healthy(T0, within_ms=7000)  # never checked
    w.check(T0, controls_all_failing=None, store_problem=None, schedule_lag=None)
    assert w.healthy(T0 + 7000, within_ms=7000)
    assert not w.healthy(T0 + 7001, within_ms=7000)  # the heartbeat stopped judging
    w.check(T0 + 8000, controls_all_failing="0/1 controls up", store_problem=None, schedule_lag=None)
    assert not w.healthy(T0 + 8000, within_ms=7000)
