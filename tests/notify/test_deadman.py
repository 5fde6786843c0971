"""The dead man's switch against a real loopback ping receiver: it pings while healthy, falls silent while not
(counted by slots, not by timing windows), logs once per spell and never shows its URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from probe_agent.notify.deadman import DeadMansSwitch
from probe_agent.notify.delivery import Delivery
from tests.notify.sinks import HttpSink
from tests.probes.servers import LOOPBACK, closed_port, serve_app

CANARY = "CanaryPingUuid4412"
EVERY_S = 0.02


class Health:
    """``healthy()`` as a script: True for the first ``healthy_for`` calls, False for the next ``sick_for``, True
    after; each call is one slot of the switch, and ``slots`` says how many passed."""

    def __init__(self, healthy_for: int, sick_for: int = 0) -> None:
        self.healthy_for, self.sick_for = healthy_for, sick_for
        self.slots = 0
        self.changed = asyncio.Event()

    def __call__(self) -> bool:
        self.slots += 1
        self.changed.set()
        return not self.healthy_for < self.slots <= self.healthy_for + self.sick_for

    async def wait_slots(self, count: int, timeout_s: float = 20) -> None:
        async with asyncio.timeout(timeout_s):
            while self.slots < count:
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def running(switch: DeadMansSwitch, healthy: Callable[[], bool]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(switch.run(healthy))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_it_pings_while_healthy_and_stops_while_not(caplog: pytest.LogCaptureFixture) -> None:
    sink = HttpSink()
    health = Health(healthy_for=3, sick_for=5)
    async with serve_app(sink.app()) as server:
        switch = DeadMansSwitch(server.url(f"/ping/{CANARY}"), EVERY_S)
        with caplog.at_level(logging.INFO, logger="probe_agent.notify.deadman"):
            async with running(switch, health) as task:
                await health.wait_slots(3 + 5)  # 3 healthy slots, then the 5th sick one: no ping in flight
                assert len(sink.requests) == 3  # each ping is awaited within its slot: none during the 5
                requests = await sink.wait_for(4)
                assert not task.done()
    assert all((r.method, r.path) == ("GET", f"/ping/{CANARY}") for r in requests)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not healthy" in m for m in messages) == 1  # once per spell, not once per slot
    assert sum("healthy again" in m for m in messages) == 1
    assert CANARY not in caplog.text


async def test_a_failing_receiver_is_logged_once_per_run_of_failures_without_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = HttpSink(status=503)
    health = Health(healthy_for=10**9)
    async with serve_app(sink.app()) as server:
        switch = DeadMansSwitch(server.url(f"/{CANARY}"), EVERY_S)
        with caplog.at_level(logging.INFO, logger="probe_agent.notify.deadman"):
            async with running(switch, health):
                await sink.wait_for(4)
                sink.status = 200
                seen = len(sink.requests)
                await sink.wait_for(seen + 2)  # the one answered 200 is the second at most
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "ping failed" in m] == [
        f"dead man's switch: ping failed (deadman: HTTP 503); retrying every {EVERY_S:g} s"
    ]
    assert sum("get through again" in m for m in messages) == 1
    assert CANARY not in caplog.text


async def test_a_health_check_that_raises_counts_as_unhealthy_and_the_switch_lives_on() -> None:
    sink = HttpSink()
    calls = 0

    def healthy() -> bool:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("a bug in the health check")
        return True

    async with serve_app(sink.app()) as server, running(DeadMansSwitch(server.url("/"), EVERY_S), healthy):
        await sink.wait_for(2)
    assert calls >= 4


async def test_ping_once_answers() -> None:
    sink = HttpSink()
    async with serve_app(sink.app()) as server:
        switch = DeadMansSwitch(server.url("/p"), every_s=60)
        assert (await switch.ping_once()).answer == "deadman: HTTP 200"
        sink.status = 503
        failed = await switch.ping_once()
        assert not failed.ok and failed.retry and failed.answer == "deadman: HTTP 503"
        sink.status = 404
        gone = await switch.ping_once()
        assert not gone.ok and not gone.retry


async def test_a_closed_port_and_a_bad_url_are_data_without_the_url() -> None:
    refused = await DeadMansSwitch(f"http://{LOOPBACK}:{closed_port()}/{CANARY}", every_s=60).ping_once()
    assert not refused.ok and refused.retry
    assert refused.answer == "deadman: cannot connect: Connection refused"
    bad = await DeadMansSwitch(f"http://[{CANARY}/", every_s=60).ping_once()
    assert not bad.ok and not bad.retry
    assert CANARY not in bad.answer


async def test_the_timeout_is_held_under_the_interval() -> None:
    assert DeadMansSwitch("http://x/", every_s=2, timeout_s=10).timeout_s == 2
    with pytest.raises(ValueError):
        DeadMansSwitch("http://x/", every_s=0)


async def test_slots_follow_a_grid_on_the_monotonic_clock_and_missed_ones_are_skipped() -> None:
    """On a fake clock: every 60 s from 1000; the ping at slot 1 takes 130 s, so slots 2 and 3 are skipped."""
    now = 1000.0
    pinged_at: list[float] = []

    class Slow(DeadMansSwitch):
        async def ping_once(self) -> Delivery:
            nonlocal now
            pinged_at.append(now)
            if len(pinged_at) == 2:
                now += 130
            return Delivery.sent("ok")

    async def sleep(seconds: float) -> None:
        nonlocal now
        now += seconds
        if len(pinged_at) >= 5:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Slow("http://x/", every_s=60, clock=lambda: now, sleep=sleep).run(lambda: True)
    assert pinged_at == [1000, 1060, 1240, 1300, 1360]
