"""The controls rule over time: a verdict only speaks for failures that began before its round started.

In-process through the seams: the monotonic clock and the prober are injected, the network is a flag the test
flips, so each case states exactly when the agent's own network failed and when each probe started.
"""

from __future__ import annotations

import asyncio

import pytest

from probe_agent.agent.controls import Controls
from probe_agent.config.document import Config
from probe_agent.config.schema import Endpoint
from probe_agent.model import ErrorKind, Outcome, ProbeResult


class World:
    """A clock the test sets, and an agent network that is up or down."""

    def __init__(self) -> None:
        self.t = 0.0
        self.network_up = True
        self.rounds = 0  # control probes sent
        self.hold: asyncio.Event | None = None  # when set, a control's answer is delivered only once it fires

    def clock(self) -> float:
        return self.t

    async def probe(self, ep: Endpoint) -> ProbeResult:
        self.rounds += 1
        ok = self.network_up  # the network as it is when the control is probed
        hold = self.hold
        if hold is not None:
            await hold.wait()
        await asyncio.sleep(0)
        return ProbeResult(
            ts_ms=int(self.t * 1000),
            agent="t",
            endpoint=ep.id,
            outcome=Outcome.UP if ok else Outcome.DOWN,
            latency_ms=1.0 if ok else None,
            status_code=None,
            error_kind=None if ok else ErrorKind.CONNECT_TIMEOUT,
            detail="",
            phases={},
        )


def failed(at: float) -> ProbeResult:
    return ProbeResult(int(at * 1000), "t", "web", Outcome.DOWN, None, None, ErrorKind.CONNECT_TIMEOUT, "", {})


def controls(world: World) -> Controls:
    control = Config.model_validate({"controls": [{"id": "canary", "tcp": "127.0.0.1:53"}]}).controls[0]
    return Controls([control], world.probe, cache_s=5.0, monotonic=world.clock)


@pytest.mark.fault(
    "the agent's network fails with a 'controls up' verdict cached",
    expected="a new round of controls: unknown, not the target's downtime",
)
async def test_a_cached_up_verdict_does_not_speak_for_a_failure_that_began_after_it() -> None:
    world = World()
    c = controls(world)
    # t=0: a target fails while the network is fine; the round says "controls up": the failure is the target's.
    assert (await c.judge(failed(0), started=0.0)).outcome is Outcome.DOWN
    assert world.rounds == 1
    # t=1: the agent's network fails. A probe started at t=1.5 fails; the verdict cached at t=0 (fresh for 5 s)
    # predates the failure, so a new round runs and finds the controls down too: unknown, not the target's.
    world.network_up = False
    world.t = 1.5
    judged = await c.judge(failed(1.5), started=1.5)
    assert (judged.outcome, judged.error_kind) == (Outcome.UNKNOWN, ErrorKind.CONTROLS_FAILED)
    assert world.rounds == 2
    # A failure whose probe started before that round (t=1.2) is judged by it: no third round.
    world.t = 2.0
    assert (await c.judge(failed(1.2), started=1.2)).outcome is Outcome.UNKNOWN
    assert world.rounds == 2


async def test_many_failures_that_began_together_share_one_round() -> None:
    world = World()
    c = controls(world)
    world.t = 10.0
    judged = await asyncio.gather(*(c.judge(failed(9.9), started=9.9) for _ in range(20)))
    assert {j.outcome for j in judged} == {Outcome.DOWN} and world.rounds == 1


@pytest.mark.fault(
    "the network fails while a control round is under way",
    expected="the later failure waits for a newer round: unknown",
)
async def test_a_round_under_way_since_before_a_failure_is_not_joined() -> None:
    world = World()
    c = controls(world)
    world.hold = gate = asyncio.Event()  # the first round's answer ("up") is delayed until the gate opens
    first = asyncio.create_task(c.judge(failed(0), started=0.0))
    await asyncio.sleep(0.01)
    world.network_up = False  # then the network fails, and a probe that started after that fails
    world.t = 1.0
    world.hold = None
    second = asyncio.create_task(c.judge(failed(1.0), started=1.0))
    await asyncio.sleep(0.01)
    gate.set()
    assert (await first).outcome is Outcome.DOWN  # the old round spoke for the failure it was started for
    assert (await second).outcome is Outcome.UNKNOWN  # a new round spoke for the later one
    assert world.rounds == 2
