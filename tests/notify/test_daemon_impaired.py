"""The daemon in-process: ``agent_impaired`` episodes reach a loopback webhook sink (controls failing, a coverage
gap after a crash), and the dead man's switch pings a loopback sink while the agent is healthy and stops while every
control fails. Times are hand-counted from what the store holds."""

from __future__ import annotations

import socket
import sqlite3
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from probe_agent.agent.impaired import Reason
from probe_agent.config.schema import Endpoint
from probe_agent.model import DAY_MS, ErrorKind, Outcome, ProbeResult, iso
from probe_agent.probes import run_probe
from probe_agent.store import records
from probe_agent.store.schema import open_db
from tests.agent.daemon_harness import UP, Call, ScriptedProber, in_process
from tests.e2e.harness import agent_config
from tests.notify.sink import webhook_sink
from tests.notify.sinks import HttpSink
from tests.notify.test_daemon_notify import fast_sender
from tests.probes.servers import LOOPBACK, TlsMaterial, serve_app, target_app
from tests.probes.test_peer_cert import expected

REFUSED = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
DEAD_PID = 2**22 + 1  # above Linux's pid_max limit (2**22): no process has it


def doc_with(tmp_path: Path, url: str, **notifications: Any) -> dict[str, Any]:
    doc = agent_config(
        tmp_path / "pa.db",
        [{"id": "web", "tcp": "shop.example:443"}],
        controls=[{"id": "c1", "tcp": "control.example:443"}],
    )
    doc["notifications"] = {
        "channels": [{"id": "hook", "webhook": {"url": url}}],
        "routes": [{"channels": ["hook"], "events": ["agent_impaired", "agent_impaired_resolved"]}],
        **notifications,
    }
    return doc


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_every_control_failing_is_one_episode_resolved_by_a_round_with_a_control_up(tmp_path: Path) -> None:
    prober = ScriptedProber()
    async with webhook_sink() as sink:
        async with in_process(tmp_path, doc_with(tmp_path, sink.url), prober, before_run=fast_sender) as run:
            await run.until(lambda: len(run.results("web")) >= 1, "an up result")
            prober.answers["web"] = prober.answers["c1"] = REFUSED  # the agent's own network is out
            await run.until(lambda: len(sink.received) == 1, "agent_impaired delivered")
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 3, "three more unknown results")
            prober.answers["c1"] = UP  # the network is back, the target still refuses: a round finds c1 up
            await run.until(lambda: len(sink.received) == 2, "agent_impaired_resolved delivered")
            assert run.daemon.impaired.open == {}
        outbox = run.store.rows("SELECT event_type, status FROM outbox ORDER BY id")
    opened, resolved = sink.events()
    assert [opened["type"], resolved["type"]] == ["agent_impaired", "agent_impaired_resolved"]
    assert opened["details"]["reason"] == resolved["details"]["reason"] == "controls_failing"
    assert opened["details"]["problem"] == "0/1 controls up (c1: connect_refused)"
    assert resolved["details"]["since"] == opened["details"]["since"] == opened["time"]
    assert "endpoint" not in opened and opened["agent"] == "t1"
    assert opened["id"] != resolved["id"]
    assert outbox == [("agent_impaired", "sent"), ("agent_impaired_resolved", "sent")]  # one episode, not one a beat


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_crashed_previous_run_is_one_coverage_gap_event_with_its_length(tmp_path: Path) -> None:
    async with webhook_sink() as sink:
        doc = doc_with(tmp_path, sink.url)
        async with in_process(tmp_path, doc, before_run=fast_sender) as run:
            await run.until(lambda: len(run.results("web")) >= 1, "a result")
        assert sink.received == []  # a clean stop is no gap
        # A run that started after that clean stop and died 0.5 s in (kill -9, a power cut): it never stopped; its
        # pid is gone on this host, so the next start closes it at its last sign of life, the heartbeat.
        stopped = run.store.rows("SELECT max(stopped_ms) FROM runs")[0][0]
        last_beat = stopped + 501
        conn = open_db(tmp_path / "pa.db")
        try:
            crashed = records.start_run(conn, "t1", DEAD_PID, socket.gethostname(), "x", "x", stopped + 1)
            records.heartbeat(conn, crashed, last_beat)
        finally:
            conn.close()
        async with in_process(tmp_path, doc, before_run=fast_sender) as run:
            await run.until(lambda: len(sink.received) == 1, "coverage gap delivered")
            started = run.store.rows(f"SELECT started_ms FROM runs WHERE run_id = {run.daemon.run_id}")[0][0]
        assert run.store.rows(f"SELECT stopped_ms, clean FROM runs WHERE run_id = {crashed}") == [(last_beat, 0)]
        async with in_process(tmp_path, doc, before_run=fast_sender) as run:  # the crash is told once
            await run.until(lambda: len(run.results("web")) >= 1, "a result after a clean restart")
    (gap,) = sink.events()
    assert gap["type"] == "agent_impaired"
    assert gap["details"] == {
        "reason": "coverage_gap",
        "gap_start": iso(last_beat),
        "gap_end": iso(started),
        "duration_ms": started - last_beat,
    }
    assert gap["time"] == iso(started)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_dead_mans_switch_pings_while_healthy_and_stops_while_every_control_fails(tmp_path: Path) -> None:
    ping = HttpSink()
    prober = ScriptedProber()
    async with serve_app(ping.app()) as server, webhook_sink() as hook:
        url_file = tmp_path / "ping-url"
        url_file.write_text(server.url("/ping/5ecret-uuid"))
        doc = doc_with(tmp_path, hook.url, deadman={"url": f"file:{url_file}", "every": "1s"})
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            await ping.wait_for(2)
            prober.answers["web"] = prober.answers["c1"] = REFUSED
            switch = run.daemon.deadman.switch if run.daemon.deadman else None
            assert switch is not None
            await run.until(lambda: switch._paused, "the switch paused")
            pings = len(ping.requests)
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 3, "three more results")
            assert len(ping.requests) == pings  # silent while impaired: the monitor alerts
            prober.answers["c1"] = UP
            await ping.wait_for(pings + 1)
            assert not switch._paused
    assert {r.path for r in ping.requests} == {"/ping/5ecret-uuid"}
    assert {r.method for r in ping.requests} == {"GET"}
    assert [e["details"]["reason"] for e in hook.events()] == ["controls_failing", "controls_failing"]


class BulkyProber(ScriptedProber):
    """Every result's detail fills most of a 4 KiB page, so a store held at its page count fails at once."""

    async def __call__(self, ep: Endpoint, **kwargs: Any) -> ProbeResult:
        return replace(await super().__call__(ep, **kwargs), detail="x" * 3000)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_store_not_writable_arrives_once_the_store_takes_writes_again_then_its_resolution(
    tmp_path: Path,
) -> None:
    db = tmp_path / "pa.db"
    # A filler table whose pages stand for the space a clean-up frees (as tests/agent/test_store_trouble.py does).
    conn = open_db(db)
    try:
        conn.execute("CREATE TABLE filler (b BLOB)")
        conn.executemany("INSERT INTO filler VALUES (zeroblob(4000))", [()] * 120)
    finally:
        conn.close()
    async with (
        webhook_sink() as sink,
        in_process(tmp_path, doc_with(tmp_path, sink.url), BulkyProber(), before_run=fast_sender) as run,
    ):
        writer = run.daemon.writer
        assert writer is not None
        await run.until(lambda: len(run.results("web")) >= 1, "a result")
        pages = await writer.run(lambda c: int(c.execute("PRAGMA page_count").fetchone()[0]))
        await writer.run(lambda c: c.execute(f"PRAGMA max_page_count = {pages}").fetchall())
        await run.until(lambda: Reason.STORE_NOT_WRITABLE in run.daemon.impaired.open, "store trouble seen")
        n = len(run.prober.calls)
        await run.until(lambda: len(run.prober.calls) >= n + 2, "two more probes in trouble")
        assert sink.received == []  # the event waits in the writer's memory with the results
        space = sqlite3.connect(db, timeout=10, isolation_level=None)
        try:
            space.execute("DELETE FROM filler")
        finally:
            space.close()
        await run.until(lambda: len(sink.received) == 2, "both events delivered", timeout=30)
        await writer.run(lambda c: c.execute("PRAGMA max_page_count = 1073741823").fetchall())
    opened, resolved = sink.events()
    assert [opened["type"], resolved["type"]] == ["agent_impaired", "agent_impaired_resolved"]
    assert opened["details"]["reason"] == resolved["details"]["reason"] == "store_not_writable"
    assert opened["details"]["problem"] == "commits are failing: database or disk is full"
    assert resolved["details"]["since"] == opened["time"]  # the times they were seen, not when they arrived
    since, ended = (datetime.fromisoformat(e["time"]) for e in (opened, resolved))
    assert resolved["details"]["duration_ms"] == round((ended - since).total_seconds() * 1000) > 0


class RealProber(ScriptedProber):
    """The real probes (``run_probe``), counted."""

    async def __call__(
        self, ep: Endpoint, *, agent: str, resolvers: Any = (), recheck: bool = False, **_: Any
    ) -> ProbeResult:
        self.calls.append(Call(ep.id, recheck, time.monotonic()))
        return await run_probe(ep, agent=agent, resolvers=resolvers, recheck=recheck)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_cert_expiring_once_per_certificate_and_resolved_when_the_server_renews_it(tmp_path: Path) -> None:
    material = TlsMaterial(str(tmp_path))
    context = material.server_context("soon")  # 5.5 days left: under the default 14
    prober = RealProber()
    async with serve_app(target_app(), context) as server, webhook_sink() as sink:
        doc = agent_config(
            tmp_path / "pa.db",
            [{"id": "web", "tls": {"host": LOOPBACK, "port": server.port, "ca_file": material.ca_file}}],
        )
        doc["notifications"] = {
            "channels": [{"id": "hook", "webhook": {"url": sink.url}}],
            "routes": [{"channels": ["hook"]}],
        }
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            await run.until(lambda: len(sink.received) == 1, "cert_expiring delivered")
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two more results, same certificate")
            material.certs["valid"].configure_cert(context)  # renewed: new handshakes get the 1-year certificate
            await run.until(lambda: len(sink.received) == 2, "cert_expiring_resolved delivered", timeout=30)
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two more results, renewed")
        # A restart with the old certificate again: the same id, so the outbox keeps it once and nothing is sent.
        material.certs["soon"].configure_cert(context)
        async with in_process(tmp_path, doc, prober, before_run=fast_sender) as run:
            n = len(run.results("web"))
            await run.until(lambda: len(run.results("web")) >= n + 2, "two results after the restart")
            rows = run.store.rows("SELECT event_type, status FROM outbox ORDER BY id")
    expiring, resolved = sink.events()
    soon_sha, soon_after = expected(material, "soon")
    valid_sha, valid_after = expected(material, "valid")
    assert [expiring["type"], resolved["type"]] == ["cert_expiring", "cert_expiring_resolved"]
    assert expiring["endpoint"] == "web"
    assert expiring["details"]["fingerprint_sha256"] == soon_sha
    assert expiring["details"]["not_after"] == iso(soon_after)
    seen_ms = int(datetime.fromisoformat(expiring["time"]).timestamp() * 1000)
    assert expiring["details"]["days_left"] == round((soon_after - seen_ms) / DAY_MS, 2)  # 5.5 days less a moment
    assert expiring["details"]["threshold_days"] == 14
    assert resolved["details"] == {
        "fingerprint_sha256": soon_sha,
        "not_after": iso(soon_after),
        "now_fingerprint_sha256": valid_sha,
        "now_not_after": iso(valid_after),
        "why": "renewed",
    }
    assert rows == [("cert_expiring", "sent"), ("cert_expiring_resolved", "sent")]


class BlockingProber(ScriptedProber):
    """Blocks the event loop (a stuck synchronous call) for ``block_s`` in the first probe after ``armed`` is set."""

    armed = False
    block_s = 8.0  # past the lag limit of max(5 s, 2 heartbeats of 1 s) by 3 s, whatever the beat's phase

    async def __call__(self, ep: Endpoint, **kwargs: Any) -> ProbeResult:
        if self.armed:
            self.armed = False
            time.sleep(self.block_s)
        return await super().__call__(ep, **kwargs)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_blocked_event_loop_is_one_schedule_lagging_episode(tmp_path: Path) -> None:
    prober = BlockingProber()
    async with (
        webhook_sink() as sink,
        in_process(tmp_path, doc_with(tmp_path, sink.url), prober, before_run=fast_sender) as run,
    ):
        await run.until(lambda: len(run.results("web")) >= 1, "a result")
        prober.armed = True
        await run.until(lambda: len(sink.received) == 2, "agent_impaired and its resolution delivered")
    opened, resolved = sink.events()
    assert [opened["type"], resolved["type"]] == ["agent_impaired", "agent_impaired_resolved"]
    assert opened["details"]["reason"] == resolved["details"]["reason"] == "schedule_lagging"
    assert opened["details"]["problem"].startswith("the event loop or the scheduler is ")
    assert resolved["details"]["since"] == opened["time"]
