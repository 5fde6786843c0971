"""``notify test`` against loopback sinks (the answer printed, exit 1 on failure) and ``notify list``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.notify.event import endpoint_down
from probe_agent.notify.routes import Router
from probe_agent.store.writer import StoreWriter
from tests.e2e.harness import write_config
from tests.notify.sink import verify, webhook_sink

SECRET = "cmd-secret-canary-52aa"


def config(tmp_path: Path, url: str) -> Path:
    doc: dict[str, Any] = {
        "agent": {"id": "a1", "database": str(tmp_path / "db.sqlite")},
        "endpoints": [{"id": "web", "tcp": "127.0.0.1:9"}],
        "notifications": {
            "channels": [{"id": "hook", "webhook": {"url": url, "secret": "${HOOK_SECRET}"}}],
            "routes": [{"channels": ["hook"]}],
        },
    }
    return write_config(tmp_path / "c.yaml", doc)


async def cli(*args: str) -> Result:
    """The CLI on a thread: its asyncio.run must not run on the loop that serves the sink."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(args), env={"HOOK_SECRET": SECRET})


async def test_notify_test_prints_the_answer_and_signs(tmp_path: Path) -> None:
    async with webhook_sink() as sink:
        cfg = config(tmp_path, sink.url)
        done = await cli("notify", "test", "hook", "-c", str(cfg))
    assert done.exit_code == 0, done.output
    assert done.output == "hook (webhook): sent: HTTP 200: ok\n"
    [(headers, body)] = sink.received
    assert verify(SECRET, headers, body)
    event = json.loads(body)
    assert event["type"] == "test" and event["agent"] == "a1" and "endpoint" not in event


async def test_notify_test_exits_1_with_the_refusal_redacted(tmp_path: Path) -> None:
    async with webhook_sink(refuse=1, status=503) as sink:
        sink.echo = "X-Probe-Agent-Signature"  # not a secret itself, but the answer passes through redaction
        cfg = config(tmp_path, sink.url)
        done = await cli("notify", "test", "hook", "-c", str(cfg))
    assert done.exit_code == 1
    assert done.output.startswith("hook (webhook): failed: HTTP 503: try later (sha256=")
    assert SECRET not in done.output


async def test_notify_test_of_an_unknown_channel_is_a_usage_problem(tmp_path: Path) -> None:
    done = await cli("notify", "test", "nope", "-c", str(config(tmp_path, "http://127.0.0.1:9/")))
    assert done.exit_code == 2
    assert "unknown channel 'nope' (configured: hook)" in done.output


async def test_notify_list_shows_pending_and_filters(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9/")
    loaded = load_config(cfg, env={"HOOK_SECRET": SECRET})
    writer = StoreWriter(tmp_path / "db.sqlite")
    writer.start()
    event = endpoint_down(
        "a1", "web", outage_start_ms=1_800_000_000_000, confirmed_ms=1_800_000_002_000, error_kind="x", detail=None
    )
    writer.submit(outbox=Router(loaded.config).outbox_rows(event))
    writer.close()
    done = await cli("notify", "list", "--pending", "--format", "json", "-c", str(cfg))
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.output)
    assert row["event_id"] == event.id and row["status"] == "pending" and row["channel"] == "hook"
    assert row["event"]["type"] == "endpoint_down" and row["next_attempt"] == "2027-01-15T08:00:02.000Z"
    done = await cli("notify", "list", "--failed", "-c", str(cfg))
    assert done.output == "no deliveries\n"
    done = await cli("notify", "list", "-c", str(cfg))
    assert "endpoint_down" in done.output and "PENDING" not in done.output and "pending" in done.output
