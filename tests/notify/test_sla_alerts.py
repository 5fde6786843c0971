"""The SLA alerts job (``agent/slaalerts.py``) on a real store, with events delivered by the real sender to a loopback
webhook sink; the job's rounds are called with an injected "now" minute by minute (the daemon calls one a minute).

The store holds synthetic results (``tests/months.py``: agent ``ams-1``, endpoint ``web`` in service ``shop``):
hourly up results from the cycle's start, then one a minute around a 10-minute outage, 08:00-08:10 on Oct 15 (10
down results from 08:00, the first up result at 08:10 ends it; ``confirm: 1``). Target 99.9 %: the allowed error
is 1/1000, so a burn rate is (down ms / counted ms in the window) x 1000, counted by hand below.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from probe_agent.agent.slaalerts import SlaAlertJob
from probe_agent.config import LoadedConfig, load_config
from probe_agent.model import dt_to_ms, iso
from probe_agent.notify.routes import Router
from probe_agent.notify.sender import Sender
from probe_agent.store.writer import StoreWriter
from tests.months import every, import_rows, rows_for, utc
from tests.notify.sink import Sink, webhook_sink

OUTAGE = utc(2026, 10, 15, 8)
MIN = timedelta(minutes=1)


def write_config(tmp_path: Path, sla: str, sink: Sink, *, defaults: str = "interval: 1h, confirm: 1") -> Path:
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{{defaults}, timeout: 10s, retry_interval: 10s}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            services:
              - {{id: shop, endpoints: [web]}}
            notifications:
              channels: [{{id: hook, webhook: {{url: "{sink.url}"}}}}]
              routes: [{{channels: [hook], slas: [gold]}}]
            slas:
            """
        )
        + textwrap.indent(textwrap.dedent(sla).strip() + "\n", "  ")
    )
    return cfg


def gold(target: str, extra: str = "") -> str:
    return f"""
        - id: gold
          services: [shop]
          target: {target}
          cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
        {extra}"""


def outage_rows(minutes: int = 10, until: datetime = OUTAGE + timedelta(hours=2)) -> list[dict[str, object]]:
    hourly = every(utc(2026, 10, 1), OUTAGE - timedelta(hours=1), timedelta(hours=1))
    minutely = every(OUTAGE - timedelta(hours=1), until, MIN)
    return rows_for([*hourly, *minutely], [(OUTAGE + i * MIN, "down") for i in range(minutes)])


@dataclass
class Rig:
    """A writer on the store, the job and the sender, all on the fake clock ``now``."""

    loaded: LoadedConfig
    writer: StoreWriter
    sender: Sender
    session: aiohttp.ClientSession
    now: list[int]
    job: SlaAlertJob | None = None

    def new_job(self) -> SlaAlertJob:
        router = Router(self.loaded.config)
        self.job = SlaAlertJob(
            Path(self.loaded.config.agent.database),
            self.writer,
            agent="ams-1",
            config=lambda: self.loaded.config,
            outbox=router.outbox_rows,
            now_ms=lambda: self.now[0],
        )
        return self.job

    async def restart(self) -> None:
        """A new job, as a restarted daemon makes it: its state read back from the outbox."""
        await self.new_job().start()

    async def at(self, when: datetime) -> list[str]:
        """One round of the job at ``when`` and one pass of the sender: the types of the events enqueued."""
        assert self.job is not None
        self.now[0] = dt_to_ms(when)
        events = await self.job.step_at(self.now[0])
        await self.sender.step(self.session)
        return [str(e.type) for e in events]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.writer.run_sync(lambda c: c.execute(sql).fetchall())


@asynccontextmanager
async def rig(tmp_path: Path, cfg: Path, rows: list[dict[str, object]]) -> AsyncIterator[Rig]:
    import_rows(tmp_path, cfg, rows)
    loaded = load_config(cfg)
    writer = StoreWriter(tmp_path / "pa.db", flush_interval=0.01)
    writer.start()
    now = [0]
    sender = Sender(writer, agent="ams-1", config=lambda: loaded.config, now_ms=lambda: now[0], rng=lambda: 1.0)
    try:
        async with aiohttp.ClientSession() as session:
            r = Rig(loaded, writer, sender, session, now)
            await r.restart()
            yield r
    finally:
        writer.close()


def minutes(start: datetime, end: datetime) -> list[datetime]:
    return list(every(start, end, MIN))


async def run_minutes(r: Rig, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Rounds a minute apart from ``start`` until before ``end``: "HH:MM" -> the event types of that round."""
    out = {}
    for when in minutes(start, end):
        got = await r.at(when)
        if got:
            out[when.strftime("%H:%M")] = got
    return out


async def test_a_burn_fires_and_resolves_at_the_hand_counted_minutes_once_across_a_restart(tmp_path: Path) -> None:
    async with webhook_sink() as sink:
        cfg = write_config(tmp_path, gold("99.9%"), sink)
        async with rig(tmp_path, cfg, outage_rows()) as r:
            before = await run_minutes(r, OUTAGE - 2 * MIN, OUTAGE + 6 * MIN)
            await r.restart()  # after both pairs started, before either resolved
            after = await run_minutes(r, OUTAGE + 6 * MIN, OUTAGE + 45 * MIN)
            outbox = r.rows("SELECT event_type, status, attempts FROM outbox ORDER BY id")
    # 1 h pair (14.4x, confirmed over 5 min), rate = down / counted x 1000:
    #   08:00: nothing down yet in either window: False.
    #   08:01: 1 h window 1 min down of 60 -> 16.7; 5 min window 1 of 5 -> 200: both >= 14.4, starts.
    #   08:14: 5 min window [08:09, 08:14) holds 1 min down -> 200, still firing;
    #   08:15: [08:10, 08:15) holds none -> 0 < 14.4: resolves (the 1 h rate, 166.7, no longer matters).
    # 6 h pair (6x, confirmed over 30 min): 08:02: 2 min of 360 -> 5.6 < 6; 08:03: 3 of 360 -> 8.3 (30 min:
    #   3 of 30 -> 100): starts. 08:39: [08:09, 08:39) holds 1 min -> 33.3; 08:40: none -> 0: resolves.
    # The breach: 10 min down is under the 44.64 min that 0.1 % of October allows: never.
    assert before == {"08:01": ["sla_at_risk"], "08:03": ["sla_at_risk"]}
    assert after == {"08:15": ["sla_at_risk_resolved"], "08:40": ["sla_at_risk_resolved"]}
    events = sink.events()
    assert [(e["type"], e["details"]["window"]) for e in events] == [
        ("sla_at_risk", "1h"), ("sla_at_risk", "6h"), ("sla_at_risk_resolved", "1h"), ("sla_at_risk_resolved", "6h")
    ]  # fmt: skip
    one, six, one_done, six_done = events
    assert one["time"] == iso(dt_to_ms(OUTAGE + MIN)) and six["time"] == iso(dt_to_ms(OUTAGE + 3 * MIN))
    assert one["sla"] == "gold" and one["cycle"] == "2026-10" and one["agent"] == "ams-1"
    assert one["details"]["long_burn_rate"] == round(1000 / 60, 4) and one["details"]["short_burn_rate"] == 200
    assert one["details"]["alert"] == "sla_at_risk:gold:2026-10:1h"
    assert one_done["time"] == iso(dt_to_ms(OUTAGE + 15 * MIN))
    assert one_done["details"]["duration_ms"] == 14 * 60_000 and one_done["details"]["reason"] == "ended"
    assert one_done["details"]["episode"] == one["details"]["episode"]  # the restart kept the episode's start
    assert six_done["details"]["since"] == six["time"]
    assert len({e["id"] for e in events}) == 4
    assert outbox == [(t, "sent", 1) for t in ("sla_at_risk",) * 2 + ("sla_at_risk_resolved",) * 2]


async def test_a_restart_that_finds_the_same_episode_sends_nothing_twice(tmp_path: Path) -> None:
    """Restarting every minute: each round's job is new, its state read back from the outbox."""
    async with webhook_sink() as sink:
        cfg = write_config(tmp_path, gold("99.9%"), sink)
        async with rig(tmp_path, cfg, outage_rows()) as r:
            seen = {}
            for when in minutes(OUTAGE - 2 * MIN, OUTAGE + 45 * MIN):
                await r.restart()
                got = await r.at(when)
                if got:
                    seen[when.strftime("%H:%M")] = got
    assert seen == {
        "08:01": ["sla_at_risk"], "08:03": ["sla_at_risk"],
        "08:15": ["sla_at_risk_resolved"], "08:40": ["sla_at_risk_resolved"],
    }  # fmt: skip
    assert len(sink.received) == 4


async def test_a_100_percent_target_is_breached_at_the_first_counted_down_and_resolved_by_the_next_cycle(
    tmp_path: Path,
) -> None:
    november = rows_for(every(utc(2026, 11, 1), utc(2026, 11, 1, 0, 10), MIN), [])
    async with webhook_sink() as sink:
        cfg = write_config(tmp_path, gold("100%"), sink)
        async with rig(tmp_path, cfg, outage_rows() + november) as r:
            seen = {}
            for when in [OUTAGE, OUTAGE + timedelta(seconds=1), *minutes(OUTAGE + MIN, OUTAGE + 30 * MIN)]:
                got = await r.at(when)
                if got:
                    seen[when.strftime("%H:%M:%S")] = got
            await r.restart()
            new_cycle = await r.at(utc(2026, 11, 1, 0, 5))
            again = await r.at(utc(2026, 11, 1, 0, 6))
    # At 08:00 nothing is down yet; a second later one second is: with no budget, that is the breach. No burn
    # rates without a budget: never at risk.
    assert seen == {"08:00:01": ["sla_breached"]}
    assert new_cycle == ["sla_breached_resolved"] and again == []
    breached, resolved = sink.events()
    assert breached["details"]["counted_down_ms"] == 1000 and breached["details"]["allowed_down_ms"] == 0
    assert breached["cycle"] == resolved["cycle"] == "2026-10"
    assert resolved["details"]["reason"] == "cycle_ended"
    assert resolved["details"]["episode"] == breached["details"]["episode"]


async def test_a_flapping_endpoint_gives_one_objective_breached_after_min_samples(tmp_path: Path) -> None:
    """A result a minute from the cycle's start, every 20th down (5 %): single failures under ``confirm: 3``,
    never an outage; the error-rate objective (below 1 %) is missed once 100 results are in."""
    start = utc(2026, 10, 1)
    downs = [(start + i * MIN, "down") for i in range(10, 300, 20)]
    rows = rows_for(every(start, start + timedelta(hours=5), MIN), downs)
    async with webhook_sink() as sink:
        sla = gold("99.9%", "  objectives: {error_rate: {below: 1%}}")
        cfg = write_config(tmp_path, sla, sink, defaults="interval: 1m, confirm: 3")
        async with rig(tmp_path, cfg, rows) as r:
            seen = await run_minutes(r, start + 90 * MIN, start + 200 * MIN)
            samples = r.rows("SELECT body FROM outbox")
    # Results at minutes 0, 1, ... : at 01:40 (minute 100) the 100 results of minutes 0..99 are in, 5 of them down.
    assert seen == {"01:40": ["objective_breached"]}
    (event,) = sink.events()
    assert event["details"]["objective"] == "error_rate" and event["details"]["samples"] == 100
    assert event["details"]["error_rate_percent"] == 5.0
    assert len(samples) == 1


async def test_without_a_route_to_the_sla_nothing_is_enqueued(tmp_path: Path) -> None:
    async with webhook_sink() as sink:
        cfg = write_config(tmp_path, gold("99.9%"), sink)
        cfg.write_text(cfg.read_text().replace("slas: [gold]", "endpoints: [web], events: [endpoint_down]"))
        async with rig(tmp_path, cfg, outage_rows()) as r:
            seen = await run_minutes(r, OUTAGE, OUTAGE + 5 * MIN)
            assert r.rows("SELECT count(*) FROM outbox") == [(0,)]
    assert seen == {"08:01": ["sla_at_risk"], "08:03": ["sla_at_risk"]}  # judged, routed to no channel
    assert sink.received == []
