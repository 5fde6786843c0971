"""The SLA commands over imported data: exclusions, closed cycles, incidents, status, and their error paths."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.model import dt_to_ms, now_ms
from probe_agent.reports.build import build_report
from probe_agent.reports.closing import due_cycles
from probe_agent.sla.periods import cycle_starting_in
from probe_agent.store.schema import open_db

START = datetime(2026, 9, 1, tzinfo=UTC)
OUTAGE = (datetime(2026, 9, 10, 12, 0, tzinfo=UTC), datetime(2026, 9, 10, 13, 0, tzinfo=UTC))  # 1 h down


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def write_cfg(directory: Path) -> Path:
    """The config of these tests, its database ``pa.db`` beside it."""
    path = directory / "probe-agent.yaml"
    db = directory / "pa.db"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {db}, timezone: UTC}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 20s, confirm: 3}}
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
                cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
                close_after: 1d
                credits:
                  fee: "100.00"
                  currency: EUR
                  tiers: [{{below: 99.9%, credit: 10%}}]
            """
        )
    )
    return path


@pytest.fixture(scope="module")
def september(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """September imported once per module (86,400 results: 2 endpoints x 30 days of minutes); tests get a copy."""
    directory = tmp_path_factory.mktemp("september")
    path = write_cfg(directory)
    rows = []
    for m in range(30 * 24 * 60):
        ts = START + timedelta(minutes=m)
        for ep in ("web", "db"):
            down = ep == "web" and OUTAGE[0] <= ts < OUTAGE[1]
            rows.append(
                {
                    "ts": ts.isoformat(),
                    "agent": "ams-1",
                    "endpoint": ep,
                    "outcome": "down" if down else "up",
                    "error_kind": "connect_refused" if down else None,
                    "latency_ms": None if down else 3.0,
                }
            )
    data = directory / "sep.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = cli("import", str(data), "-c", str(path))
    assert code == 0, out
    return directory / "pa.db"


@pytest.fixture
def cfg(tmp_path: Path, september: Path) -> Path:
    """This test's own config and copy of the imported database: tests write to both (closes, exclusions)."""
    source = sqlite3.connect(september)
    target = sqlite3.connect(tmp_path / "pa.db")
    try:
        source.backup(target)  # a consistent copy, WAL included
    finally:
        target.close()
        source.close()
    return write_cfg(tmp_path)


def report(cfg: Path) -> dict[str, object]:
    code, out = cli("report", "--sla", "gold", "--cycle", "2026-09", "--format", "json", "-c", str(cfg))
    assert code == 0, out
    doc: dict[str, object] = json.loads(out)
    return doc


def test_exclusion_lifts_availability_and_is_listed_then_revoked(cfg: Path) -> None:
    before = report(cfg)
    assert before["availability_exact"] == "719/720"  # 1 h of 720 h down
    assert before["met"] is False
    code, out = cli(
        "exclusions", "add", "--endpoint", "web", "--from", "2026-09-10T12:00:00Z", "--to", "2026-09-10T12:30:00Z",
        "--kind", "maintenance", "--reason", "=HYPERLINK(\"x\") planned", "--author", "alice", "-c", str(cfg),
    )  # fmt: skip
    assert code == 0, out
    after = report(cfg)
    # Only web is excluded: db was measured meanwhile, so the service's time is not excluded, just not down.
    assert after["seconds"]["excluded"] == 0  # type: ignore[index]
    assert after["seconds"]["down"] == 1800  # type: ignore[index]
    web = next(e for e in after["endpoints"] if e["endpoint"] == "web")  # type: ignore[attr-defined]
    assert web["seconds"]["excluded"] == 1800
    assert after["exclusions"][0]["author"] == "alice"  # type: ignore[index]
    code, listing = cli("exclusions", "list", "--format", "csv", "-c", str(cfg))
    assert code == 0 and "'=HYPERLINK" in listing  # formula-escaped in CSV
    assert cli("exclusions", "revoke", "1", "-c", str(cfg))[0] == 0
    assert report(cfg)["availability_exact"] == "719/720"
    code, out = cli("exclusions", "revoke", "1", "-c", str(cfg))
    assert code == 2 and "no active exclusion #1" in out
    code, listing = cli("exclusions", "list", "--all", "--format", "json", "-c", str(cfg))
    assert json.loads(listing)[0]["revoked"] is not None  # revoked, never deleted


@pytest.mark.fault("an exclusion from 0001 to 9999 (and other bad exclusions)", expected="exit 2, nothing stored")
def test_exclusion_errors_exit_2_and_store_nothing(cfg: Path) -> None:
    args = ["exclusions", "add", "--kind", "customer", "--reason", "r", "-c", str(cfg)]
    assert cli(*args, "--endpoint", "nope", "--from", "2026-09-01", "--to", "2026-09-02")[0] == 2
    assert cli(*args, "--sla", "gold", "--from", "2026-09-02", "--to", "2026-09-01")[0] == 2
    assert cli(*args, "--sla", "gold", "--endpoint", "web", "--from", "2026-09-01", "--to", "2026-09-02")[0] == 2
    assert cli(*args, "--sla", "gold", "--from", "2026-09-01T00:00:00", "--to", "2026-09-02")[0] == 2  # naive
    # A typo'd year would silently excuse every outage of every cycle: bounded to 1970-9000 and to 366 days.
    code, out = cli(*args, "--sla", "gold", "--from", "0001-01-01", "--to", "9999-01-01")
    assert code == 2 and "between 1970 and 9000" in out
    code, out = cli(*args, "--sla", "gold", "--from", "2026-01-01", "--to", "2027-01-03")
    assert code == 2 and "at most 366 days (this one lasts 367.0 days)" in out
    assert cli(*args, "--sla", "gold", "--from", "2026-01-01", "--to", "2027-01-02")[0] == 0  # 366 days: allowed
    assert cli("exclusions", "revoke", "1", "-c", str(cfg))[0] == 0
    _, listing = cli("exclusions", "list", "--all", "--format", "json", "-c", str(cfg))
    assert [e["start"][:10] for e in json.loads(listing)] == ["2026-01-01"]  # only the 366-day one


def test_closed_cycle_keeps_its_figures_and_warns_on_drift(cfg: Path) -> None:
    config = load_config(cfg).config
    conn = open_db(Path(config.agent.database), readonly=True)
    now = dt_to_ms(datetime(2026, 10, 1, 12, tzinfo=UTC))
    assert due_cycles(conn, config, now) == []  # close_after (1 day) has not passed
    due = due_cycles(conn, config, now + 86_400_000)
    assert [(s.id, p.label) for s, p in due] == [("gold", "2026-09")]
    conn.close()
    code, out = cli("cycle", "close", "--sla", "gold", "--cycle", "2026-09", "-c", str(cfg))
    assert code == 0, out
    code, out = cli("cycle", "close", "--sla", "gold", "--cycle", "2026-09", "-c", str(cfg))
    assert code == 2 and "already closed" in out
    assert cli("cycle", "close", "--sla", "gold", "--cycle", "2099-01", "-c", str(cfg))[0] == 2  # not over yet
    stored = report(cfg)
    assert stored["closed"]["differs_today"] is False  # type: ignore[index]
    cli("exclusions", "add", "--sla", "gold", "--from", "2026-09-10T12:00:00Z", "--to", "2026-09-10T13:00:00Z",
        "--kind", "force_majeure", "--reason", "storm", "-c", str(cfg))  # fmt: skip
    drifted = report(cfg)
    assert drifted["availability_exact"] == "719/720"  # the stored figure stands
    assert drifted["closed"]["differs_today"] is True  # type: ignore[index]
    assert drifted["closed"]["today"]["availability_percent"] == 100.0  # type: ignore[index]
    assert any("closed at" in w for w in drifted["warnings"])  # type: ignore[union-attr]
    code, out = cli("credits", "--sla", "gold", "--cycle", "2026-09", "--format", "json", "-c", str(cfg))
    assert json.loads(out)["credit"]["amount"] == "10.00"  # the closed cycle's credit
    # The record itself cannot be changed, even by hand.
    raw = sqlite3.connect(load_config(cfg).config.agent.database)
    with pytest.raises(sqlite3.DatabaseError):
        raw.execute("UPDATE closed_cycles SET credit = '{}'")
    raw.close()


def test_incidents_status_and_formats(cfg: Path) -> None:
    code, out = cli("incidents", "--service", "shop", "--from", "2026-09-01", "--to", "2026-10-01", "--format", "json",
                    "-c", str(cfg))  # fmt: skip
    assert code == 0, out
    doc = json.loads(out)
    assert [(i["start"], i["end"], i["cause"]) for i in doc["incidents"]] == [
        ("2026-09-10T12:00:00+00:00", "2026-09-10T13:00:00+00:00", "connect_refused")
    ]
    assert cli("incidents", "--endpoint", "db", "--from", "2026-09-01", "--to", "2026-10-01", "-c", str(cfg))[0] == 0
    assert cli("incidents", "--endpoint", "nope", "-c", str(cfg))[0] == 2
    for fmt in ("table", "markdown", "csv"):
        code, out = cli("report", "--sla", "gold", "--cycle", "2026-09", "--format", fmt, "-c", str(cfg))
        assert code == 0 and "99.86" in out, (fmt, out)
    code, out = cli("status", "--format", "json", "-c", str(cfg))
    assert code == 0, out
    status = json.loads(out)
    assert status["daemon"]["running"] is False
    assert {e["endpoint"] for e in status["endpoints"]} == {"web", "db"}
    assert cli("report", "--sla", "nope", "-c", str(cfg))[0] == 2
    assert cli("report", "--sla", "gold", "--cycle", "2026-13", "-c", str(cfg))[0] == 2
    assert cli("report", "--cycle", "2026-09", "--from", "2026-09-01", "-c", str(cfg))[0] == 2


def window_report(cfg: Path, from_: str, to: str) -> dict[str, Any]:
    code, out = cli("report", "--sla", "gold", "--from", from_, "--to", to, "--format", "json", "-c", str(cfg))
    assert code == 0, out
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_stored_figures_apply_only_to_exactly_the_closed_cycle(cfg: Path) -> None:
    assert cli("cycle", "close", "--sla", "gold", "--cycle", "2026-09", "-c", str(cfg))[0] == 0
    # Sep 1-15 starts where the closed cycle starts, but is not that cycle: 14 days = 336 h, 1 h of it down.
    half = window_report(cfg, "2026-09-01", "2026-09-15")
    assert half["closed"] is None
    assert half["availability_exact"] == "335/336"
    assert half["seconds"]["total"] == 14 * 86_400
    # The same bounds as the cycle: that is the closed cycle, and its stored record is shown.
    whole = window_report(cfg, "2026-09-01", "2026-10-01")
    assert whole["closed"] is not None and whole["closed"]["differs_today"] is False
    assert whole["availability_exact"] == "719/720"


def rewrite(cfg: Path, old: str, new: str) -> None:
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "today_percent"),
    [
        # rule any: the service is up while db is up, so web's hour down no longer counts: 100 %.
        ("rule: all}", "rule: any}", 100.0),
        # One agent's view either way: the figures stay 719/720 = 99.861111 %, but an input of them changed.
        ("rule: all}", "rule: all, vantage: all}", 99.861111),
    ],
    ids=["service-rule", "service-vantage"],
)
def test_drift_when_a_service_the_sla_names_changes(cfg: Path, old: str, new: str, today_percent: float) -> None:
    assert cli("cycle", "close", "--sla", "gold", "--cycle", "2026-09", "-c", str(cfg))[0] == 0
    rewrite(cfg, old, new)
    drifted = report(cfg)
    assert drifted["availability_exact"] == "719/720"  # the stored figure stands
    assert drifted["closed"]["differs_today"] is True  # type: ignore[index]
    assert drifted["closed"]["today"]["availability_percent"] == today_percent  # type: ignore[index]


def test_drift_when_a_late_import_changes_only_the_objectives(cfg: Path, tmp_path: Path) -> None:
    rewrite(cfg, "close_after: 1d", "close_after: 1d\n    objectives: {error_rate: {below: 1%}}")
    assert cli("cycle", "close", "--sla", "gold", "--cycle", "2026-09", "-c", str(cfg))[0] == 0
    closed = report(cfg)
    # 60 down results of 2 x 43,200 definite ones (web's hour): 60 / 86,400 = 0.069444 %.
    assert closed["objectives"]["error_rate"]["down"] == 60  # type: ignore[index]
    assert closed["objectives"]["error_rate"]["definite"] == 86_400  # type: ignore[index]
    # One late failure between two passes: a blip (confirm 3), so the timeline (all intervals) is unchanged, but
    # the error rate now counts 61 down results of 86,401.
    late = tmp_path / "late.jsonl"
    late.write_text(
        json.dumps(
            {
                "ts": "2026-09-05T00:00:30+00:00",
                "agent": "ams-1",
                "endpoint": "web",
                "outcome": "down",
                "error_kind": "connect_refused",
            }
        )
        + "\n"
    )
    code, out = cli("import", str(late), "-c", str(cfg))
    assert code == 0, out
    config = load_config(cfg).config
    conn = open_db(Path(config.agent.database), readonly=True)
    assert conn.execute("SELECT count(*) FROM intervals WHERE endpoint = 'web' AND state != 'up'").fetchone() == (1,)
    today = build_report(conn, config, config.sla("gold"), cycle_starting_in(2026, 9, 1, ZoneInfo("UTC")), now_ms()).doc
    conn.close()
    assert (today["objectives"]["error_rate"]["down"], today["objectives"]["error_rate"]["definite"]) == (61, 86_401)
    drifted = report(cfg)
    assert drifted["closed"]["differs_today"] is True  # type: ignore[index]
    assert drifted["objectives"]["error_rate"]["down"] == 60  # type: ignore[index]  # the stored record stands
