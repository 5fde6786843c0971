"""kill -9 between the state change and the delivery of its event: the restart delivers it, with the same id, once.

The daemon probes a closed loopback port (down: connect refused); its webhook receiver refuses everything (503), so
the ``endpoint_down`` event is committed with the outage (the outbox row) but not delivered when the daemon is
killed. The receiver then accepts, the daemon starts again: the same event arrives, and the fold's snapshot (still
down) enqueues no second one.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonLauncher, StoreReader, agent_config, closed_port, wait_until, write_config
from tests.notify.sink import webhook_sink


@pytest.mark.fault(
    "kill -9 after an outage's event committed, before it was delivered",
    expected="delivered after the restart, same id, one outbox row",
)
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_an_event_committed_before_kill_9_is_delivered_after_the_restart(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher
) -> None:
    async with webhook_sink(refuse=10**6) as sink:
        doc = agent_config(
            db, [{"id": "web", "tcp": f"127.0.0.1:{closed_port()}"}], defaults={"confirm": 2, "interval": "1s"}
        )
        doc["notifications"] = {
            "channels": [{"id": "hook", "webhook": {"url": sink.url, "secret": "${HOOK_SECRET}"}}],
            "routes": [{"channels": ["hook"], "events": ["endpoint_down"]}],
        }
        cfg = write_config(tmp_path / "c.yaml", doc)
        env = {"HOOK_SECRET": "s3cret-for-the-crash-test"}
        first = await launcher.start(cfg, env)

        def pending() -> list[tuple[str, str, int]] | None:
            rows = store.rows("SELECT event_id, status, attempts FROM outbox") if db.exists() else []
            return rows if rows and rows[0][2] >= 1 else None  # committed, and at least one attempt refused

        [(event_id, status, _)] = await wait_until(pending, timeout=30, what="a refused endpoint_down", daemon=first)
        assert status == "pending"
        first.signal(signal.SIGKILL)
        await first.wait(10)
        refused = len(sink.received)
        assert {e["id"] for e in sink.events()} == {event_id}
        sink.refuse = 0  # the receiver is back
        sink.received.clear()
        second = await launcher.start(cfg, env)
        await wait_until(lambda: sink.received, timeout=30, what="the event delivered after the restart", daemon=second)
        await wait_until(
            lambda: store.rows("SELECT status FROM outbox") == [("sent",)],
            timeout=10,
            what="marked sent",
            daemon=second,
        )
        assert await second.stop() == 0
    assert refused >= 1
    assert [e["id"] for e in sink.events()] == [event_id]
    assert [e["type"] for e in sink.events()] == ["endpoint_down"]
    assert store.rows("SELECT count(*) FROM outbox") == [(1,)]  # the restart, still down, enqueued nothing new
