"""The sender against real loopback webhook sinks and a real store, on a fake clock: backoff, at-least-once with one id,
signatures, permanent failures, the rate limit's summary, a failing channel raising agent_impaired, secrets kept out.

Each test drives ``Sender.step`` by hand at chosen times; the jitter is pinned (``rng`` 1.0: the full delay), so
the retry times are hand-counted: 1 s, 2 s, 4 s, ... after each failure.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from probe_agent.config import LoadedConfig, load_config
from probe_agent.notify.event import endpoint_down
from probe_agent.notify.routes import Router
from probe_agent.notify.sender import Sender, SenderSettings, backoff_ms
from probe_agent.store.writer import StoreWriter
from tests.e2e.harness import write_config
from tests.notify.sink import Sink, verify, webhook_sink

T0 = 1_800_000_000_000
SECRET = "hook-secret-canary-3e9a"
HEADER = "header-canary-81c4"


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def loaded(tmp_path: Path, channels: list[dict[str, Any]], *, rate_limit: int = 10) -> LoadedConfig:
    doc = {
        "agent": {"id": "a1", "database": str(tmp_path / "db.sqlite")},
        "endpoints": [{"id": f"ep{i}", "http": {"url": f"http://127.0.0.1:9/{i}"}} for i in range(20)],
        "notifications": {
            "channels": channels,
            "routes": [{"channels": [c["id"] for c in channels]}],
            "rate_limit": rate_limit,
        },
    }
    path = write_config(tmp_path / "probe-agent.yaml", doc)
    return load_config(path, env={"HOOK_SECRET": SECRET, "HOOK_HEADER": HEADER})


def hook(channel_id: str, sink: Sink) -> dict[str, Any]:
    return {
        "id": channel_id,
        "webhook": {"url": sink.url, "secret": "${HOOK_SECRET}", "headers": {"X-Token": "${HOOK_HEADER}"}},
    }


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[StoreWriter]:
    w = StoreWriter(tmp_path / "db.sqlite", flush_interval=0.01)
    w.start()
    yield w
    w.close()


def enqueue(writer: StoreWriter, cfg: LoadedConfig, endpoint: str = "ep0", start_ms: int = T0 - 3000) -> str:
    event = endpoint_down(
        "a1", endpoint, outage_start_ms=start_ms, confirmed_ms=T0, error_kind="refused", detail="connection refused"
    )
    writer.submit(outbox=Router(cfg.config).outbox_rows(event))
    writer.flush()
    return event.id


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT channel, event_type, status, attempts, last_error, sent_ms FROM outbox ORDER BY id"
        ).fetchall()


def sender(writer: StoreWriter, cfg: LoadedConfig, clock: Clock, **settings: Any) -> Sender:
    return Sender(
        writer,
        agent="a1",
        config=lambda: cfg.config,
        now_ms=clock,
        secrets=lambda: cfg.secrets,
        settings=SenderSettings(**settings),
        rng=lambda: 1.0,
    )


def test_backoff_doubles_from_one_second_to_ten_minutes_with_jitter() -> None:
    assert [backoff_ms(n, lambda: 1.0) for n in (1, 2, 3, 4, 10, 11, 50)] == [
        1000, 2000, 4000, 8000, 512_000, 600_000, 600_000
    ]  # fmt: skip
    assert backoff_ms(3, lambda: 0.0) == 2000  # jitter: half the delay at least


async def test_a_refusing_receiver_gets_the_same_event_after_it_comes_back(tmp_path: Path, writer: StoreWriter) -> None:
    async with webhook_sink(refuse=3) as sink, aiohttp.ClientSession() as session:
        cfg = loaded(tmp_path, [hook("hook", sink)])
        event_id = enqueue(writer, cfg)
        clock = Clock()
        s = sender(writer, cfg, clock)
        # Attempts at T0 (503), +1 s (503), +3 s (503), +7 s (200): 1, 2 and 4 s apart.
        for at, attempts in ((0, 1), (500, 1), (1000, 2), (2999, 2), (3000, 3), (6999, 3), (7000, 4), (60_000, 4)):
            clock.ms = T0 + at
            await s.step(session)
            assert len(sink.received) == attempts, at
    events = sink.events()
    assert [e["id"] for e in events] == [event_id] * 4
    assert len({body for _, body in sink.received}) == 1  # the same bytes every time
    assert all(verify(SECRET, headers, body) for headers, body in sink.received)
    assert not verify("another secret", *sink.received[0])
    assert all(headers["X-Token"] == HEADER for headers, _ in sink.received)
    assert events[0]["type"] == "endpoint_down" and events[0]["endpoint"] == "ep0" and events[0]["agent"] == "a1"
    assert events[0]["details"]["error_kind"] == "refused"
    assert rows(tmp_path / "db.sqlite") == [("hook", "endpoint_down", "sent", 4, None, T0 + 7000)]


async def test_a_4xx_is_not_retried_and_408_is(tmp_path: Path, writer: StoreWriter) -> None:
    bad_sink, slow_sink = webhook_sink(refuse=1, status=400), webhook_sink(refuse=1, status=408)
    async with bad_sink as bad, slow_sink as slow, aiohttp.ClientSession() as session:
        cfg = loaded(tmp_path, [hook("bad", bad), hook("slow", slow)])
        enqueue(writer, cfg)
        clock = Clock()
        s = sender(writer, cfg, clock)
        for at in (0, 1000, 5000):
            clock.ms = T0 + at
            await s.step(session)
    assert len(bad.received) == 1 and len(slow.received) == 2
    assert rows(tmp_path / "db.sqlite") == [
        ("bad", "endpoint_down", "failed", 1, "HTTP 400: try later", None),
        ("slow", "endpoint_down", "sent", 2, None, T0 + 1000),
    ]


async def test_fifteen_events_in_a_minute_give_ten_and_one_summary(tmp_path: Path, writer: StoreWriter) -> None:
    async with webhook_sink() as sink, aiohttp.ClientSession() as session:
        cfg = loaded(tmp_path, [hook("hook", sink)])
        ids = [enqueue(writer, cfg, f"ep{i}") for i in range(15)]
        clock = Clock()
        s = sender(writer, cfg, clock)
        await s.step(session)
        assert [e["id"] for e in sink.events()] == ids[:10]
        clock.ms = T0 + 59_999
        await s.step(session)
        assert len(sink.received) == 10  # the held five wait for the minute's end
        clock.ms = T0 + 60_000
        await s.step(session)
    summary = sink.events()[10:]
    assert len(summary) == 1
    assert summary[0]["type"] == "summary" and summary[0]["details"]["count"] == 5
    assert summary[0]["summary"].startswith("5 more endpoint_down events: ep10 is down")
    statuses = [r[2] for r in rows(tmp_path / "db.sqlite")]
    assert statuses == ["sent"] * 10 + ["summarised"] * 5 + ["sent"]


async def test_a_failing_channel_raises_agent_impaired_on_the_others_and_resolves_it(
    tmp_path: Path, writer: StoreWriter
) -> None:
    async with webhook_sink(refuse=3) as failing, webhook_sink() as other, aiohttp.ClientSession() as session:
        cfg = loaded(tmp_path, [hook("failing", failing), hook("other", other)])
        enqueue(writer, cfg)
        clock = Clock()
        s = sender(writer, cfg, clock, impaired_after_attempts=3, impaired_after_ms=3000)
        # failing: attempts at T0, +1 s, +3 s (the third, 3 s into the streak: impaired), +7 s (delivered: resolved).
        for at in (0, 1000, 3000, 3001, 7000, 7001):
            clock.ms = T0 + at
            await s.step(session)
    kinds = [e["type"] for e in other.events()]
    assert kinds == ["endpoint_down", "agent_impaired", "agent_impaired_resolved"]
    impaired, resolved = other.events()[1:]
    assert impaired["details"] == {"reason": "channel_failing", "channel": "failing", "answer": "HTTP 503: try later"}
    assert impaired["id"] != resolved["id"] and impaired["time"] == "2027-01-15T08:00:03.000Z"
    assert [e["type"] for e in failing.events()] == ["endpoint_down"] * 4  # never told about itself


async def test_secrets_reach_no_row_no_log_no_answer(
    tmp_path: Path, writer: StoreWriter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with webhook_sink(refuse=1, status=500) as sink, aiohttp.ClientSession() as session:
        sink.echo = "X-Token"  # the refusal repeats the header's secret value
        cfg = loaded(tmp_path, [hook("hook", sink)])
        enqueue(writer, cfg)
        clock = Clock()
        s = sender(writer, cfg, clock)
        await s.step(session)
        assert rows(tmp_path / "db.sqlite")[0][4] == "HTTP 500: try later (***)"  # stored redacted
        clock.ms = T0 + 1000
        await s.step(session)
    assert sink.received[0][0]["X-Token"] == HEADER
    assert rows(tmp_path / "db.sqlite")[0][2:4] == ("sent", 2)
    assert "HTTP 500: try later (***)" in caplog.text
    assert SECRET in cfg.secrets and HEADER in cfg.secrets
    writer.flush()
    for path in tmp_path.glob("db.sqlite*"):
        data = path.read_bytes()
        assert SECRET.encode() not in data and HEADER.encode() not in data, path
    assert SECRET not in caplog.text and HEADER not in caplog.text


async def test_a_failing_channel_gets_one_attempt_per_backoff_step_and_keeps_the_order(
    tmp_path: Path, writer: StoreWriter
) -> None:
    async with webhook_sink(refuse=2) as sink, aiohttp.ClientSession() as session:
        cfg = loaded(tmp_path, [hook("hook", sink)])
        ids = [enqueue(writer, cfg, f"ep{i}") for i in range(3)]
        clock = Clock()
        s = sender(writer, cfg, clock)
        # ep0 refused at T0 and T0 + 1 s; delivered at T0 + 3 s, then ep1 and ep2 at once, in order.
        for at, seen in ((0, 1), (500, 1), (999, 1), (1000, 2), (2999, 2), (3000, 5)):
            clock.ms = T0 + at
            await s.step(session)
            assert len(sink.received) == seen, at
    assert [e["id"] for e in sink.events()] == [ids[0], ids[0], ids[0], ids[1], ids[2]]
    assert [r[2:4] for r in rows(tmp_path / "db.sqlite")] == [("sent", 3), ("sent", 1), ("sent", 1)]
