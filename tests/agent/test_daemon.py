"""The daemon in-process (``tests/agent/daemon_harness.py``): the controls rules and their cache, reload, clock steps.

Real SQLite file, the real scheduler on the real monotonic clock (intervals of 1 s: the config's minimum), the
prober seam answering what each test scripts. Expectations are counted from the rules in the README ("How the
numbers are made", the error kinds table, ``control_cache``) on the daemon's own labels, never from how long the
test slept.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.clock import LabelClock
from probe_agent.agent.daemon import Daemon
from probe_agent.model import ErrorKind, Outcome
from tests.agent.daemon_harness import UP, InProcess, ScriptedProber, in_process
from tests.e2e.harness import Interval, agent_config, assert_tiled, resolved_timeline, wall_ms

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

DNS_TEMPORARY = (Outcome.DOWN, ErrorKind.DNS_TEMPORARY)
REFUSED = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
TCP_CONTROL = {"id": "canary", "tcp": "192.0.2.1:53"}
DNS_CONTROL = {"id": "resolver", "dns": "example.org"}


def states(timeline: list[Interval]) -> list[str]:
    """The states in order, consecutive repeats merged."""
    return [state for state, _ in itertools.groupby(i.state for i in timeline)]


def total(timeline: list[Interval], state: str) -> int:
    return sum(i.end_ms - i.start_ms for i in timeline if i.state == state)


def on_grid(gap_ms: int, interval_ms: int, lateness_ms: int = 400) -> bool:
    """``gap_ms`` is a whole number of intervals (at least one), give or take ``lateness_ms``."""
    k = max(1, round(gap_ms / interval_ms))
    return abs(gap_ms - k * interval_ms) <= lateness_ms


def config_times(run: InProcess) -> list[int]:
    """When each config was put in force (start-up, then each applied reload), on the daemon's labels."""
    return [t for (t,) in run.store.rows("SELECT effective_ms FROM config_activations ORDER BY id")]


# -- dns_temporary is unknown unless a dns control resolves --------------------------------------------------------


@pytest.mark.parametrize(
    ("controls", "control_answer", "why"),
    [
        ([], UP, "no dns control configured to tell"),
        ([TCP_CONTROL], UP, "no dns control configured to tell"),  # a tcp control says nothing about resolving
        ([DNS_CONTROL], DNS_TEMPORARY, "0/1 controls up (resolver: dns_temporary)"),  # the dns control fails too
    ],
    ids=["no-controls", "tcp-control-only", "dns-control-fails"],
)
async def test_dns_temporary_is_unknown_unless_a_dns_control_resolves(
    tmp_path: Path, controls: list[dict[str, Any]], control_answer: tuple[Outcome, ErrorKind | None], why: str
) -> None:
    prober = ScriptedProber(answers={"web": DNS_TEMPORARY, **{c["id"]: control_answer for c in controls}})
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "shop.example:443"}], controls=controls)
    async with in_process(tmp_path, doc, prober) as run:
        await run.until(lambda: len(run.results("web")) >= 4, "four results")
        assert run.daemon.workers["web"].fold.phase == "unknown"
    results = run.results("web")
    assert {(r.outcome, r.error_kind) for r in results} == {("unknown", "dns_temporary")}
    details = [d for (d,) in run.store.rows("SELECT detail FROM results WHERE endpoint = 'web'")]
    assert all(
        d.startswith(f"resolver temporary failure, not the target's ({why}); target said dns_temporary")
        for d in details
    )
    timeline = resolved_timeline(run.store, "web")
    assert_tiled(timeline)
    assert states(timeline) == ["unknown"]  # never down, never an incident
    assert timeline[0].start_ms == results[0].ts_ms
    assert not any(r.recheck for r in results)  # unknown is not suspect: the probes stay on the 1 s grid


async def test_dns_temporary_while_a_dns_control_resolves_is_down_after_confirmation(tmp_path: Path) -> None:
    prober = ScriptedProber()
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "shop.example:443"}], controls=[DNS_CONTROL])
    async with in_process(tmp_path, doc, prober) as run:
        await run.until(lambda: len(run.results("web")) >= 2, "two up results")
        prober.answers["web"] = DNS_TEMPORARY
        worker = run.daemon.workers["web"]
        await run.until(lambda: worker.fold.phase == "suspect", "suspect")
        await run.until(lambda: worker.fold.phase == "down", "down (confirm 3)")
        prober.answers["web"] = UP
        await run.until(lambda: worker.fold.phase == "up", "recovery")
        await run.until(lambda: run.results("web")[-1].outcome == "up" and len(run.results("web")) >= 1, "stored")
    results = run.results("web")
    failed = [r for r in results if r.outcome != "up"]
    # confirm 3: three consecutive down results (and any re-checks while down), every one dns_temporary, down.
    assert len(failed) >= 3 and {(r.outcome, r.error_kind) for r in failed} == {("down", "dns_temporary")}
    first_failure, recovery = failed[0].ts_ms, next(r.ts_ms for r in results if r.ts_ms > failed[-1].ts_ms)
    assert all(r.recheck for r in failed[1:])  # suspect and down: re-checks at retry_interval
    timeline = resolved_timeline(run.store, "web")
    assert_tiled(timeline)
    assert states(timeline) == ["up", "down", "up"]
    down = [i for i in timeline if i.state == "down"]
    # The outage starts at the first failure (not at the third, which confirmed it) and ends at the recovery.
    assert down[0].start_ms == first_failure and down[-1].end_ms == recovery
    assert {i.outage_start_ms for i in down} == {first_failure} and {i.cause for i in down} == {"dns_temporary"}
    assert prober.count("resolver") >= len(failed)  # each failure began after the last round: a round each


async def test_a_failure_while_every_control_fails_is_unknown_and_with_one_up_is_down(tmp_path: Path) -> None:
    prober = ScriptedProber(answers={"web": REFUSED, "canary": REFUSED})
    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "127.0.0.1:9"}], controls=[TCP_CONTROL])
    async with in_process(tmp_path, doc, prober) as run:
        await run.until(lambda: len(run.results("web")) >= 2, "two results")
        prober.answers["canary"] = UP
        await run.until(lambda: run.daemon.workers["web"].fold.phase == "down", "down once the control is up")
    results = run.results("web")
    kinds = [k for k, _ in itertools.groupby((r.outcome, r.error_kind) for r in results)]
    assert kinds == [("unknown", "controls_failed"), ("down", "connect_refused")]
    timeline = resolved_timeline(run.store, "web")
    assert states(timeline) == ["unknown", "down"]
    first_down = next(r.ts_ms for r in results if r.outcome == "down")
    assert next(i.start_ms for i in timeline if i.state == "down") == first_down  # unknown restarts the count


# -- the control cache ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("control_cache", "rounds"), [("1h", 1), ("0s", 2)])
async def test_the_control_cache_reuses_a_verdict_within_its_age_and_reprobes_after(
    tmp_path: Path, control_cache: str, rounds: int
) -> None:
    """Two targets fail together, their probes both in flight before the first failure's round of control probes
    starts; the second is judged after that round has finished. Within ``control_cache`` the verdict speaks for it
    (one round for two failures); with a cache of 0 it is stale at once and the controls are probed again."""
    prober = ScriptedProber()
    in_flight: set[str] = set()
    run_ref: list[InProcess] = []

    def gate(me: str, other: str) -> Any:
        async def hold() -> None:
            in_flight.add(me)
            while other not in in_flight:  # both probes are in flight before either is judged
                await asyncio.sleep(0.01)
            if me == "b":  # b is judged after a's judgement (and its round of control probes) is done
                while run_ref[0].daemon.workers["a"].probes < armed["a"] + 1:
                    await asyncio.sleep(0.01)
            prober.answers[me] = UP  # one failure each
            del prober.gate[me]

        return hold

    armed: dict[str, int] = {}
    doc = agent_config(
        tmp_path / "pa.db",
        [{"id": "a", "tcp": "127.0.0.1:9"}, {"id": "b", "tcp": "127.0.0.1:9"}],
        controls=[TCP_CONTROL],
        agent={"control_cache": control_cache},
    )
    async with in_process(tmp_path, doc, prober) as run:
        run_ref.append(run)
        await run.until(lambda: len(run.results("a")) >= 1 and len(run.results("b")) >= 1, "a first result each")
        armed.update({ep: w.probes for ep, w in run.daemon.workers.items()})
        prober.answers.update({"a": REFUSED, "b": REFUSED})
        prober.gate.update({"a": gate("a", "b"), "b": gate("b", "a")})
        await run.until(lambda: all(w.probes > armed[ep] for ep, w in run.daemon.workers.items()), "both judged")
        await run.until(lambda: len(run.results("a")) > armed["a"] and len(run.results("b")) > armed["b"], "stored")
        assert prober.count("canary") == rounds


# -- reload: add, remove, change --------------------------------------------------------------------------------------


async def test_reload_adds_removes_and_re_adds_endpoints(tmp_path: Path) -> None:
    db = tmp_path / "pa.db"
    both = agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}, {"id": "old", "tcp": "127.0.0.1:9"}])
    async with in_process(tmp_path, both) as run:
        await run.until(lambda: len(run.results("old")) >= 2, "two results of old")
        run.write(agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}, {"id": "new", "tcp": "127.0.0.1:9"}]))
        assert await run.daemon.reload()
        assert sorted(run.daemon.workers) == ["new", "web"]
        await run.until(lambda: len(run.results("new")) >= 2, "two results of new")
        removed_at = config_times(run)[-1]
        old_results = len(run.results("old"))
        run.write(both)  # old comes back, new goes
        assert await run.daemon.reload()
        await run.until(lambda: len(run.results("old")) >= old_results + 2, "old probed again")
        back_at = config_times(run)[-1]  # old added back, new removed
        assert run.daemon.reloads == 2
    stopped = run.store.runs()[-1].stopped_ms
    assert stopped is not None

    # Removed: its timeline ends at the reload's time (no result after it); history is kept.
    old = run.results("old")
    before, after = [r for r in old if r.ts_ms < removed_at], [r for r in old if r.ts_ms >= removed_at]
    assert before and after[0].ts_ms >= back_at
    timeline = resolved_timeline(run.store, "old")
    assert_tiled(timeline)
    # Re-added: it resumes its stored timeline, and the time it was not probed is no_data.
    assert [(i.state, i.start_ms, i.end_ms) for i in timeline if i.state == "no_data"] == [
        ("no_data", removed_at, after[0].ts_ms)
    ]
    assert states(timeline) == ["up", "no_data", "up"] and timeline[0].start_ms == before[0].ts_ms
    assert timeline[-1].end_ms == stopped
    # Added: its first result starts its timeline (after the reload); removed again, it ends at that reload.
    new = run.results("new")
    new_timeline = resolved_timeline(run.store, "new")
    assert new[0].ts_ms >= removed_at and new_timeline[0].start_ms == new[0].ts_ms
    assert states(new_timeline) == ["up"] and new_timeline[-1].end_ms == back_at
    assert all(r.ts_ms < back_at for r in new)


async def test_reload_of_a_changed_interval_respaces_the_next_slots_and_keeps_the_timeline(tmp_path: Path) -> None:
    db = tmp_path / "pa.db"
    async with in_process(tmp_path, agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}])) as run:
        await run.until(lambda: len(run.results("web")) >= 3, "three results at 1 s")
        run.write(agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9", "interval": "2s"}]))
        assert await run.daemon.reload()
        changed_at = config_times(run)[-1]
        assert run.daemon.workers["web"].fold.params.interval_ms == 2_000
        await run.until(lambda: sum(r.ts_ms > changed_at for r in run.results("web")) >= 3, "three at 2 s")
    results = [r.ts_ms for r in run.results("web")]
    before = [b - a for a, b in itertools.pairwise(t for t in results if t < changed_at)]
    after = [b - a for a, b in itertools.pairwise(t for t in results if t > changed_at)]
    # Slots stay on their grid (a slot missed under load is skipped, not replayed): every gap is a whole number of
    # intervals, give or take the dispatch lateness of its two probes.
    assert before and all(on_grid(g, 1_000) for g in before), before  # the 1 s grid
    assert len(after) >= 2 and all(g >= 1_500 and on_grid(g, 2_000) for g in after), after  # the 2 s grid
    timeline = resolved_timeline(run.store, "web")
    assert_tiled(timeline)
    # 2 s apart, each result speaks for 2 s + grace: the timeline stays one up span, no no_data at the change.
    assert states(timeline) == ["up"] and timeline[0].start_ms == results[0]


async def test_a_reload_with_an_invalid_config_or_another_agent_id_is_refused_and_probing_goes_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "pa.db"
    doc = agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}])
    async with in_process(tmp_path, doc) as run:
        await run.until(lambda: len(run.results("web")) >= 1, "a result")
        run.config.write_text("agent: {id: t1\n")  # broken YAML
        assert not await run.daemon.reload()
        run.write(agent_config(db, [{"id": "web", "tcp": "127.0.0.1:9"}], agent_id="t2"))
        assert not await run.daemon.reload()
        count = len(run.results("web"))
        await run.until(lambda: len(run.results("web")) >= count + 2, "probing on")
        assert run.daemon.reloads == 0 and len(config_times(run)) == 1
    refused = [s for s in run.notifier.sent if s.startswith("STATUS=reload refused")]
    assert refused == [
        "STATUS=reload refused (invalid config); probing 1 endpoints",
        "STATUS=reload refused; probing 1 endpoints",
    ]


# -- a forward clock step that holds (the case tests/agent/test_clock_steps.py leaves) -------------------------------


async def test_a_forward_step_that_holds_is_followed_and_the_time_skipped_is_no_data_not_down(tmp_path: Path) -> None:
    """The wall clock jumps 60 s ahead and stays there; labels follow it once it held ``settle_ms`` (2 s here,
    5 min in production: the daemon's label clock is swapped before the run for one with a shorter settle)."""
    offset = {"ms": 0}

    def wall() -> int:
        return wall_ms() + offset["ms"]

    def short_settle(daemon: Daemon) -> None:
        daemon.clock = LabelClock(wall, settle_ms=2_000)
        daemon.wall_ms = daemon.clock.now_ms

    doc = agent_config(tmp_path / "pa.db", [{"id": "web", "tcp": "127.0.0.1:9"}])
    async with in_process(tmp_path, doc, wall=wall, before_run=short_settle) as run:
        await run.until(lambda: len(run.results("web")) >= 2, "two results")
        offset["ms"] = 60_000
        stepped = time.monotonic()
        await run.until(lambda: run.daemon.clock.steps == 1 and time.monotonic() - stepped > 2.5, "the step held")
        count = len(run.results("web"))
        await run.until(lambda: len(run.results("web")) >= count + 2, "results after the labels followed")
    details = [d for (d,) in run.store.rows("SELECT detail FROM results WHERE endpoint = 'web' ORDER BY ts_ms")]
    # The results labelled while the step was settling (2 s at a 1 s interval) say so; none after it was followed.
    flagged = [d for d in details if " ahead of this ts, which is on the monotonic clock" in d]
    assert 1 <= len(flagged) <= 3, details
    assert details[-1] == "ok"
    timeline = resolved_timeline(run.store, "web")
    assert_tiled(timeline)
    assert states(timeline) == ["up", "no_data", "up"]
    # The skipped time is the step, less what the last result before it still speaks for (interval 1 s + grace
    # 0.8 s at most): never down, never more than the step.
    assert 60_000 - 1_800 <= total(timeline, "no_data") <= 60_000
    assert total(timeline, "down") == 0
    results = run.results("web")
    assert results[-1].ts_ms <= wall() and results[-1].ts_ms > wall() - 10_000  # on the stepped clock now
