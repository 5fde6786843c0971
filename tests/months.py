"""Synthetic months for CLI tests: sparse results for one endpoint, imported into a real SQLite store.

One endpoint `web` probed by agent `ams-1`, `confirm: 1` (one down result starts an outage at its own timestamp, the
first up result ends it) and a 10 s timeout, so a result speaks for ``[ts, min(next ts, ts + interval + 10 s))``.
With a long interval (an hour, a day) a few results cover a month, and the minutes around an outage are given
one by one.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from probe_agent.cli import main


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def result(ts: datetime, outcome: str) -> dict[str, object]:
    down = outcome == "down"
    return {
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "agent": "ams-1",
        "endpoint": "web",
        "outcome": outcome,
        "latency_ms": None if outcome != "up" else 42.0,
        "status_code": 503 if down else (200 if outcome == "up" else None),
        "error_kind": "http_status" if down else ("controls_failed" if outcome == "unknown" else None),
        "detail": "HTTP 503" if down else "HTTP 200",
        "recheck": False,
    }


def every(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    """``start``, ``start + step``, ... before ``end``."""
    ts = start
    while ts < end:
        yield ts
        ts += step


def rows_for(up_times: Iterable[datetime], states: Sequence[tuple[datetime, str]]) -> list[dict[str, object]]:
    """Up results at ``up_times`` plus the ``(ts, outcome)`` results, which win where both give a timestamp."""
    given = dict(states)
    rows = [result(ts, "up") for ts in up_times if ts not in given] + [result(ts, o) for ts, o in given.items()]
    return sorted(rows, key=lambda r: str(r["ts"]))


def write_config(tmp_path: Path, sla: str, interval: str = "1h") -> Path:
    """A config with the one endpoint and the SLA given as YAML (indented as one list item under `slas:`)."""
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: {interval}, timeout: 10s, retry_interval: 10s, confirm: 1}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            services:
              - {{id: shop, endpoints: [web]}}
            slas:
            """
        )
        + textwrap.indent(textwrap.dedent(sla).strip() + "\n", "  ")
    )
    return cfg


def import_rows(tmp_path: Path, cfg: Path, rows: list[dict[str, object]]) -> None:
    data = tmp_path / "results.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = CliRunner().invoke(main, ["import", str(data), "-c", str(cfg)])
    assert out.exit_code == 0, out.output


def run(cfg: Path, *args: str) -> Any:
    """``probe-agent ARGS -c CFG``; the output parsed as JSON when it is JSON, else the text."""
    out = CliRunner().invoke(main, [*args, "-c", str(cfg)])
    assert out.exit_code == 0, out.output
    text = out.output
    return json.loads(text) if "--format" in args and args[args.index("--format") + 1] == "json" else text
