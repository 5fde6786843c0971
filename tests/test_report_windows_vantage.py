"""Per-window maintenance notice and per-service vantage rules, through import and ``report --format json``.

Each case is one explicit UTC day (1,440 minutes) probed every minute, imported into a real SQLite file; the
expectations are counted by hand from the README's rules.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from probe_agent.cli import main

DAY = datetime(2026, 9, 1, tzinfo=UTC)  # a Tuesday


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


def setup(tmp_path: Path, sla_yaml: str, services_yaml: str, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 20s, confirm: 3}}
            endpoints:
              - {{id: a, http: "http://127.0.0.1:9/"}}
              - {{id: b, tcp: "127.0.0.1:9"}}
            """
        )
        + textwrap.dedent(services_yaml)
        + textwrap.dedent(sla_yaml)
    )
    data = tmp_path / "results.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = cli("import", str(data), "-c", str(path))
    assert code == 0, out
    return path


def minutely(
    endpoint: str, agent: str, outcome: Callable[[datetime], str], error_kind: str = "connect_refused"
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for m in range(24 * 60):
        ts = DAY + timedelta(minutes=m)
        state = outcome(ts)
        rows.append(
            {
                "ts": ts.isoformat(),
                "agent": agent,
                "endpoint": endpoint,
                "outcome": state,
                "error_kind": {"down": error_kind, "unknown": "controls_failed"}.get(state),
                "latency_ms": 3.0 if state == "up" else None,
            }
        )
    return rows


def report(cfg: Path) -> dict[str, object]:
    code, out = cli("report", "--sla", "gold", "--format", "json", "-c", str(cfg))
    assert code == 0, out
    doc: dict[str, object] = json.loads(out)
    return doc


def test_notice_is_per_window(tmp_path: Path) -> None:
    # A weekly window (Tuesdays 02:00-04:00) that needs 24 h notice and was never announced (imported data has no
    # config history), and a one-off window 09:30-11:30 that needs none. Outages 02:30-02:40 and 10:00-11:00.
    cfg = setup(
        tmp_path,
        """
        slas:
          - id: gold
            services: [shop]
            target: 99.9%
            cycle: {from: "2026-09-01", to: "2026-09-02", timezone: UTC}
            maintenance:
              - {cron: "0 2 * * TUE", duration: 2h, notice: 24h, reason: weekly}
              - {from: "2026-09-01T09:30:00Z", to: "2026-09-01T11:30:00Z", reason: one-off}
        """,
        "services:\n  - {id: shop, endpoints: [a]}\n",
        minutely("a", "ams-1", lambda t: "down" if at(2, 30) <= t < at(2, 40) or at(10) <= t < at(11) else "up"),
    )
    doc = report(cfg)
    by_label = {m["label"]: m for m in doc["maintenance"]}  # type: ignore[attr-defined]
    assert by_label["one-off"]["excluded"] is True  # before the fix: "not excluded: never announced"
    assert by_label["one-off"]["reason"] == "maintenance (no notice required)"
    assert by_label["weekly"]["excluded"] is False and "never announced" in by_label["weekly"]["reason"]
    # Excluded: the one-off window's 120 min (its 60 down minutes with it). Down: 02:30-02:40, 10 min.
    # Availability = (1,440 - 120 - 10) / (1,440 - 120) = 1,310 / 1,320 = 131/132 (before: 1,370/1,440).
    seconds = doc["seconds"]
    assert (seconds["excluded"], seconds["down"]) == (120 * 60, 10 * 60)  # type: ignore[index]
    assert doc["availability_exact"] == "131/132"
    assert doc["availability_percent"] == 99.242424
    # The day's bar has the README's 6 decimals too (it had 4: 99.2424).
    days = doc["days"]
    assert isinstance(days, list) and len(days) == 1
    assert days[0]["availability_percent"] == 99.242424


def test_each_service_applies_its_own_vantage_rule(tmp_path: Path) -> None:
    # Two agents. Service strict {a, vantage: all}: ams-1 sees a down 10:00-10:30, fra-1 sees it up.
    # Service loose {b, vantage: any}: ams-1 sees b down 12:00-13:00 while fra-1's controls failed (unknown).
    cfg = setup(
        tmp_path,
        """
        slas:
          - id: gold
            services: [strict, loose]
            target: 99.9%
            cycle: {from: "2026-09-01", to: "2026-09-02", timezone: UTC}
        """,
        """
        services:
          - {id: strict, endpoints: [a], vantage: all}
          - {id: loose, endpoints: [b], vantage: any}
        """,
        [
            *minutely("a", "ams-1", lambda t: "down" if at(10) <= t < at(10, 30) else "up"),
            *minutely("a", "fra-1", lambda t: "up"),
            *minutely("b", "ams-1", lambda t: "down" if at(12) <= t < at(13) else "up"),
            *minutely("b", "fra-1", lambda t: "unknown" if at(12) <= t < at(13) else "up"),
        ],
    )
    doc = report(cfg)
    services = {s["service"]: s for s in doc["services"]}  # type: ignore[attr-defined]
    endpoints = {e["endpoint"]: e for e in doc["endpoints"]}  # type: ignore[attr-defined]
    # vantage all: a is down while any agent sees it down: 30 min of 1,440 (with_data said up: 0 min).
    assert services["strict"]["seconds"]["down"] == 30 * 60
    assert services["strict"]["availability_exact"] == "47/48"
    assert endpoints["a"]["seconds"]["down"] == 30 * 60
    # vantage any: b is down only if every agent sees it down; fra-1 unknown -> unknown for 60 min, not counted
    # (with_data said down: only ams-1 had a definite state).
    assert (services["loose"]["seconds"]["down"], services["loose"]["seconds"]["unknown"]) == (0, 60 * 60)
    assert services["loose"]["availability_exact"] == "1"
    assert endpoints["b"]["seconds"]["unknown"] == 60 * 60
    # The SLA (down when any service is): down 30 min, unknown 60 min (excluded by `unknown: exclude`):
    # (1,440 - 60 - 30) / (1,440 - 60) = 1,350 / 1,380 = 45/46 (before the fix: 1,380/1,440 = 23/24).
    assert (doc["seconds"]["down"], doc["seconds"]["unknown"]) == (30 * 60, 60 * 60)  # type: ignore[index]
    assert doc["availability_exact"] == "45/46"
