"""A populated store for the JSON API's tests, and the API over it (in-process, or on a real port in a thread).

The store (written by the real import, as ``tests/test_report_golden.py`` builds its own): two endpoints probed
every 5 minutes over September 2026 by agent ``ams-1``; ``web`` down 12:00-13:00 UTC on Sep 10 and 08:00-08:25 on
Sep 20, ``db`` unknown 03:00-03:20 on Sep 15. A second vantage point ``fra-1`` has a day of ``web`` results (Sep 3).
SLA ``gold`` (Europe/Berlin, service ``shop``, credits) has September closed as of Oct 2; ``slices`` (UTC, endpoint
``web``, slice counting) has no credit terms. Every test pins "now" (``NOW_DONE``, ``NOW_RUNNING``) on both sides.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from probe_agent.api.context import ApiContext
from probe_agent.api.server import ApiServer
from probe_agent.cli import main
from probe_agent.config import LoadedConfig, load_config
from probe_agent.model import dt_to_ms
from probe_agent.reports import scope
from probe_agent.reports.closing import close_cycle
from probe_agent.store.schema import open_db

TOKEN = "t0ken-for-the-api-tests-0123456789"
ENV = {"PA_API_TEST_TOKEN": TOKEN}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = datetime(2026, 9, 1, tzinfo=UTC)
WEB_DOWN = [
    (datetime(2026, 9, 10, 12, 0, tzinfo=UTC), datetime(2026, 9, 10, 13, 0, tzinfo=UTC)),
    (datetime(2026, 9, 20, 8, 0, tzinfo=UTC), datetime(2026, 9, 20, 8, 25, tzinfo=UTC)),
]
DB_UNKNOWN = (datetime(2026, 9, 15, 3, 0, tzinfo=UTC), datetime(2026, 9, 15, 3, 20, tzinfo=UTC))
FRA_DAY = datetime(2026, 9, 3, tzinfo=UTC)
NOW_DONE = dt_to_ms(datetime(2026, 10, 5, tzinfo=UTC))
NOW_RUNNING = dt_to_ms(datetime(2026, 9, 20, 15, 0, tzinfo=UTC))
CLOSED_AT = dt_to_ms(datetime(2026, 10, 2, tzinfo=UTC))
RESULTS_PER_AGENT_ENDPOINT = 30 * 24 * 12  # ams-1: every 5 minutes over September
FRA_RESULTS = 24 * 12  # fra-1: web, every 5 minutes on Sep 3


def _outcome(ep: str, ts: datetime) -> str:
    if ep == "web" and any(lo <= ts < hi for lo, hi in WEB_DOWN):
        return "down"
    if ep == "db" and DB_UNKNOWN[0] <= ts < DB_UNKNOWN[1]:
        return "unknown"
    return "up"


def _row(ts: datetime, agent: str, ep: str, outcome: str, minute: int) -> dict[str, Any]:
    return {
        "ts": ts.isoformat(),
        "agent": agent,
        "endpoint": ep,
        "outcome": outcome,
        "error_kind": {"down": "connect_refused", "unknown": "controls_failed"}.get(outcome),
        "latency_ms": 3.0 + (minute % 7) * 20 if outcome == "up" else None,
        "status_code": 200 if outcome == "up" and ep == "web" else None,
        "detail": "ünïcode ok" if outcome == "up" else "refused",
    }


def write_config(directory: Path) -> Path:
    path = directory / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {directory / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 5m, timeout: 10s, retry_interval: 20s, confirm: 1}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
              - {{id: db, tcp: "127.0.0.1:9"}}
            services:
              - {{id: shop, endpoints: [web, db], rule: all}}
            slas:
              - id: gold
                customer: ACME Corp
                services: [shop]
                target: 99.9%
                cycle: {{period: monthly, anchor_day: 1, timezone: Europe/Berlin}}
                close_after: 1d
                credits:
                  fee: "100.00"
                  currency: EUR
                  tiers: [{{below: 99.9%, credit: 10%}}, {{below: 99%, credit: 25%}}]
              - id: slices
                endpoints: [web]
                target: 99.5%
                cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
                counting: {{method: slices, unit: 5m, partial: count, min_run: 2}}
            api:
              tokens: [{{token: "${{PA_API_TEST_TOKEN}}", owner: tester}}]
            """
        )
    )
    return path


def populate(directory: Path) -> LoadedConfig:
    """Write the config and the store described in the module docstring; returns the loaded config."""
    path = write_config(directory)
    rows = []
    for m in range(0, 30 * 24 * 60, 5):
        ts = START + timedelta(minutes=m)
        for ep in ("web", "db"):
            rows.append(_row(ts, "ams-1", ep, _outcome(ep, ts), m))
        if FRA_DAY <= ts < FRA_DAY + timedelta(days=1):
            rows.append(_row(ts, "fra-1", "web", "up", m))
    data = directory / "sep.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = CliRunner().invoke(main, ["import", str(data), "-c", str(path)], env=ENV)
    assert out.exit_code == 0, out.output
    loaded = load_config(path, env=ENV)
    config = loaded.config
    conn = open_db(config.agent.database)
    try:
        gold = config.sla("gold")
        close_cycle(conn, config, gold, scope.sla_period(config, gold, CLOSED_AT, cycle="2026-09"), CLOSED_AT)
    finally:
        conn.close()
    return loaded


def context(loaded: LoadedConfig, now: int) -> ApiContext:
    """The API's context over the store, "now" pinned (as ``probe-agent serve`` builds it, with no live view)."""
    return ApiContext(lambda: loaded.config, Path(loaded.config.agent.database), lambda: now, None, "ams-1")


def cli_json(config: Path, *args: str) -> Any:
    """``probe-agent ARGS --format json -c CONFIG`` parsed (the caller pins "now" in the command modules)."""
    out = CliRunner().invoke(main, [*args, "--format", "json", "-c", str(config)], env=ENV)
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


@contextmanager
def server_thread(ctx: ApiContext) -> Iterator[str]:
    """An ``ApiServer`` on 127.0.0.1 port 0 in a thread of its own (for blocking clients such as schemathesis's);
    yields its base URL. Start and stop are bounded."""
    loop = asyncio.new_event_loop()
    server = ApiServer(ctx, ("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, name="api-test-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        yield server.url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
