"""Incidents through the CLI that cross a cycle boundary or a crash: true start, whole duration, credited once.

One endpoint ``web`` (agent ams-1, UTC), probed every 60 s (timeout 10 s, so a result speaks for at most 70 s),
confirm 3, imported from Oct 25 00:00 to Nov 5 00:00 2026. The SLA ``gold`` has ``max_incident_duration: 4h`` and
only a per-incident credit (10 % per incident longer than 4 h, fee 100.00 EUR, no proration). Hand count:

- Oct 31 20:00-21:00 down (cause connect_refused); 21:00-22:19 every result ``unknown`` (the controls failed too),
  so unknown from 21:00 to 22:20:10 (the last one speaks for 70 s); no results 22:20-22:29, so no_data from
  22:20:10 to 22:30; down again from 22:30; up at Nov 1 01:00. One outage (the fold keeps its start through the
  unknown and no_data time): start Oct 31 20:00, end Nov 1 01:00, 5 h = 18,000 s; down 1 h + 2 h 30 min =
  12,600 s, of which October holds 20:00-21:00 and 22:30-24:00 = 9,000 s and November 00:00-01:00 = 3,600 s.
- The November report used to load intervals from Nov 1 only and date the incident from the first down span it
  saw: start 22:30, 9,000 s. It is the same incident in both cycles now.
- Per-incident credit: the incident is longer than 4 h, credited once, in October (where it started): October
  10 % = 10.00 EUR, November 0 % = 0.00 EUR (it used to pay 10.00 in both).
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.model import dt_to_ms
from probe_agent.store import records
from probe_agent.store.schema import open_db

START = datetime(2026, 10, 25, tzinfo=UTC)
END = datetime(2026, 11, 5, tzinfo=UTC)
DOWN_FROM = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)
UNKNOWN_FROM = datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
SILENT_FROM = datetime(2026, 10, 31, 22, 20, tzinfo=UTC)
DOWN_AGAIN = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)
RECOVERED = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)

INCIDENT = {
    "start": "2026-10-31T20:00:00+00:00",
    "end": "2026-11-01T01:00:00+00:00",
    "duration_s": 18_000.0,
    "down_s": 12_600.0,
    "cause": "connect_refused",
    "endpoints": ["web"],
    "ongoing": False,
}


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def row(ts: datetime, outcome: str) -> dict[str, Any]:
    kind = {"down": "connect_refused", "unknown": "dns_temporary"}.get(outcome)
    return {
        "ts": ts.isoformat(),
        "agent": "ams-1",
        "endpoint": "web",
        "outcome": outcome,
        "error_kind": kind,
        "latency_ms": None if kind else 3.0,
    }


def config(tmp_path: Path) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 60s, confirm: 3}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            services:
              - {{id: shop, endpoints: [web]}}
            slas:
              - id: gold
                services: [shop]
                target: 99.9%
                cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
                max_incident_duration: 4h
                credits:
                  fee: "100.00"
                  currency: EUR
                  proration: false
                  per_incident: {{longer_than: 4h, credit: 10%}}
            """
        )
    )
    return path


def import_rows(cfg: Path, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    data = tmp_path / "results.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = cli("import", str(data), "-c", str(cfg))
    assert code == 0, out


@pytest.fixture
def boundary_cfg(tmp_path: Path) -> Path:
    cfg = config(tmp_path)
    rows = []
    ts = START
    while ts < END:
        if DOWN_FROM <= ts < UNKNOWN_FROM or DOWN_AGAIN <= ts < RECOVERED:
            rows.append(row(ts, "down"))
        elif UNKNOWN_FROM <= ts < SILENT_FROM:
            rows.append(row(ts, "unknown"))
        elif not SILENT_FROM <= ts < DOWN_AGAIN:
            rows.append(row(ts, "up"))
        ts += timedelta(minutes=1)
    import_rows(cfg, tmp_path, rows)
    return cfg


def doc(cfg: Path, command: str, cycle: str) -> dict[str, Any]:
    code, out = cli(command, "--sla", "gold", "--cycle", cycle, "--format", "json", "-c", str(cfg))
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


def test_an_incident_keeps_its_true_start_and_whole_duration_in_the_next_cycle(boundary_cfg: Path) -> None:
    october, november = doc(boundary_cfg, "report", "2026-10"), doc(boundary_cfg, "report", "2026-11")
    assert october["incidents"] == [INCIDENT]
    assert november["incidents"] == [INCIDENT]  # was: start 22:30, 9,000 s
    assert october["seconds"]["down"] == 9_000.0  # the bucket figures split the down time by cycle
    assert november["seconds"]["down"] == 3_600.0
    # Listed (with its whole 5 h) in every cycle it touches, though it is credited only in one.
    assert october["incidents_too_long"] == november["incidents_too_long"] == [INCIDENT]
    assert november["incident_stats"]["longest_s"] == 18_000.0
    for window in (("2026-11-01", "2026-11-02"), ("2026-10-31", "2026-11-02"), ("2026-10-31T21:30Z", "2026-11-01")):
        code, out = cli("incidents", "--endpoint", "web", "--from", window[0], "--to", window[1], "--format", "json",
                        "-c", str(boundary_cfg))  # fmt: skip
        assert code == 0, out
        assert json.loads(out)["incidents"] == [INCIDENT], window


def test_a_per_incident_credit_is_paid_once_in_the_cycle_the_incident_started(tmp_path: Path) -> None:
    """The issue's case: down from Oct 31 21:00 to Nov 1 02:00 (5 h, every result down), so both cycles see the
    whole 5-hour incident. Longer than 4 h: 10 % of 100.00 = 10.00 EUR in October, where it started, and nothing
    in November (it used to pay 10.00 EUR in both)."""
    cfg = config(tmp_path)
    down = (datetime(2026, 10, 31, 21, 0, tzinfo=UTC), datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
    minutes = int((END - START) / timedelta(minutes=1))
    stamps = [START + timedelta(minutes=m) for m in range(minutes)]
    import_rows(cfg, tmp_path, [row(ts, "down" if down[0] <= ts < down[1] else "up") for ts in stamps])
    october, november = doc(cfg, "credits", "2026-10"), doc(cfg, "credits", "2026-11")
    whole = {"start": "2026-10-31T21:00:00+00:00", "end": "2026-11-01T02:00:00+00:00", "duration_s": 18_000.0}
    for label in ("2026-10", "2026-11"):
        too_long = doc(cfg, "report", label)["incidents_too_long"]
        assert [{k: i[k] for k in whole} for i in too_long] == [whole]
    assert (october["credit"]["percent"], october["credit"]["amount"]) == ("10", "10.00")
    assert (november["credit"]["percent"], november["credit"]["amount"]) == ("0", "0.00")  # was 10 / 10.00


def test_the_boundary_incident_is_credited_once_too(boundary_cfg: Path) -> None:
    october, november = doc(boundary_cfg, "credits", "2026-10"), doc(boundary_cfg, "credits", "2026-11")
    assert (october["credit"]["amount"], november["credit"]["amount"]) == ("10.00", "0.00")


def test_mtbf_is_counted_up_time_per_incident_started_in_the_window(boundary_cfg: Path) -> None:
    # October: monitoring from Oct 25; 7 days less 2 h 30 min down less 1 h 30 min unknown/no_data (excluded)
    # = 604,800 - 9,000 - 5,400 = 590,400 s counted up, one incident started: MTBF 590,400 s.
    assert doc(boundary_cfg, "report", "2026-10")["incident_stats"] == {
        "count": 1,
        "mttr_s": 18_000.0,
        "mtbf_s": 590_400.0,
        "longest_s": 18_000.0,
    }
    # November: the incident is carried over (listed, counted), but no failure started in it: MTBF null.
    assert doc(boundary_cfg, "report", "2026-11")["incident_stats"]["mtbf_s"] is None


def test_an_outage_whose_first_failure_was_stored_just_before_a_crash_keeps_that_start(tmp_path: Path) -> None:
    """Interval 1 s, confirm 3. Run 1 probes up at 12:00:00-12:00:09, stores its first failure (1 of 3) at
    12:00:10 and is killed: its last sign of life is that result, so it speaks for no time. Run 2 starts at
    12:00:15 into the same outage: down 12:00:15 (2 of 3), down 12:00:16 (3 of 3: confirmed; the fold dates the
    outage from 12:00:10), up 12:00:17. The incident is 12:00:10-12:00:17 = 7 s (2 s of it down: 5 s no_data
    while no agent ran); it used to start at 12:00:15 and last 2 s."""
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 1s, timeout: 500ms, retry_interval: 1s, confirm: 3}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            """
        )
    )
    t0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    conn = open_db(tmp_path / "pa.db")
    first = records.start_run(conn, "ams-1", 1, "host", "test", None, dt_to_ms(t0))
    records.stop_run(conn, first, dt_to_ms(t0 + timedelta(seconds=10)), clean=False)  # killed after its result
    second = records.start_run(conn, "ams-1", 2, "host", "test", None, dt_to_ms(t0 + timedelta(seconds=15)))
    records.stop_run(conn, second, dt_to_ms(t0 + timedelta(seconds=30)))
    conn.close()
    outcomes = {10: "down", 15: "down", 16: "down"}
    seconds = [*range(11), *range(15, 30)]
    import_rows(path, tmp_path, [row(t0 + timedelta(seconds=s), outcomes.get(s, "up")) for s in seconds])
    code, out = cli("incidents", "--endpoint", "web", "--from", "2026-11-10", "--to", "2026-11-11", "--format",
                    "json", "-c", str(path))  # fmt: skip
    assert code == 0, out
    listed = json.loads(out)
    assert [(i["start"], i["end"], i["duration_s"], i["down_s"]) for i in listed["incidents"]] == [
        ("2026-11-10T12:00:10+00:00", "2026-11-10T12:00:17+00:00", 7.0, 2.0)
    ]
    assert listed["stats"]["mttr_s"] == 7.0


def test_mtbf_of_several_endpoints_is_averaged_per_endpoint_and_never_negative(tmp_path: Path) -> None:
    """Nov 10 2026, results every minute all day: web down 10:00-11:00, db down 10:30-10:45. The overlapping
    incidents made the old gap-based MTBF 10:30 - 11:00 = -1,800 s. Per endpoint: web 86,400 - 3,600 = 82,800 s
    up / 1 incident, db 86,400 - 900 = 85,500 s / 1; the listing averages them: 84,150 s."""
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 60s, timeout: 10s, retry_interval: 60s, confirm: 3}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
              - {{id: db, tcp: "127.0.0.1:9"}}
            """
        )
    )
    day = datetime(2026, 11, 10, tzinfo=UTC)
    down = {"web": (day + timedelta(hours=10), day + timedelta(hours=11)),
            "db": (day + timedelta(hours=10, minutes=30), day + timedelta(hours=10, minutes=45))}  # fmt: skip
    rows = []
    for m in range(24 * 60):
        ts = day + timedelta(minutes=m)
        for endpoint, (a, b) in down.items():
            rows.append(row(ts, "down" if a <= ts < b else "up") | {"endpoint": endpoint})
    import_rows(path, tmp_path, rows)
    code, out = cli("incidents", "--from", "2026-11-10", "--to", "2026-11-11", "--format", "json", "-c", str(path))
    assert code == 0, out
    listed = json.loads(out)
    assert [(i["start"], i["duration_s"]) for i in listed["incidents"]] == [
        ("2026-11-10T10:00:00+00:00", 3_600.0),
        ("2026-11-10T10:30:00+00:00", 900.0),
    ]
    assert listed["stats"] == {"count": 2, "mttr_s": 2_250.0, "mtbf_s": 84_150.0, "longest_s": 3_600.0}


@pytest.mark.parametrize("excluded_in", ["2026-11", "2026-10"])
def test_excluded_time_in_either_cycle_counts_against_the_incident_in_both(tmp_path: Path, excluded_in: str) -> None:
    """Down Oct 31 21:00 to Nov 1 02:00 (5 h), and 2 h of it excluded: in November (00:00-02:00) or in October
    (21:00-23:00). The README: an incident partly inside excluded time counts only its non-excluded time against
    max_incident_duration and per-incident credits: 3 h, not over 4 h, so neither cycle lists it as too long and
    neither pays. The October report once read only October's exclusions and paid 10.00 for the November case."""
    cfg = config(tmp_path)
    down = (datetime(2026, 10, 31, 21, 0, tzinfo=UTC), datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
    minutes = int((END - START) / timedelta(minutes=1))
    stamps = [START + timedelta(minutes=m) for m in range(minutes)]
    import_rows(cfg, tmp_path, [row(ts, "down" if down[0] <= ts < down[1] else "up") for ts in stamps])
    window = (
        ("2026-11-01T00:00Z", "2026-11-01T02:00Z")
        if excluded_in == "2026-11"
        else ("2026-10-31T21:00Z", "2026-10-31T23:00Z")
    )
    code, out = cli("exclusions", "add", "--sla", "gold", "--from", window[0], "--to", window[1], "--kind",
                    "maintenance", "--reason", "planned", "-c", str(cfg))  # fmt: skip
    assert code == 0, out
    for label in ("2026-10", "2026-11"):
        report = doc(cfg, "report", label)
        assert [i["duration_s"] for i in report["incidents"]] == [18_000.0], label  # listed whole in both
        assert report["incidents_too_long"] == [], label
        assert doc(cfg, "credits", label)["credit"]["amount"] == "0.00", label
    # Only the cycle that holds the exclusion lists it.
    assert [len(doc(cfg, "report", label)["exclusions"]) for label in ("2026-10", "2026-11")] == (
        [0, 1] if excluded_in == "2026-11" else [1, 0]
    )


def test_cycle_close_waits_while_an_incident_it_credits_is_going_on(tmp_path: Path) -> None:
    """Down from Oct 31 21:00; at 00:30 on Nov 1 the incident is 3 h 30 min old and still going on. It started in
    October, so October credits it, and whether it passes 4 h is not known yet: closing at 00:30 would store
    0.00 for good. The close waits (until 01:00:00.001 at the latest) and says so; once the outage has recovered
    at 02:00 (5 h), October closes with 10 % = 10.00."""
    from probe_agent.config import load_config
    from probe_agent.reports import closing, scope

    cfg = config(tmp_path)
    down_from, recovered = datetime(2026, 10, 31, 21, 0, tzinfo=UTC), datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    half_past = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    stamps = [START + timedelta(minutes=m) for m in range(int((half_past - START) / timedelta(minutes=1)))]
    import_rows(cfg, tmp_path, [row(ts, "down" if ts >= down_from else "up") for ts in stamps])
    config_ = load_config(cfg).config
    sla = config_.slas[0]
    october = scope.sla_period(config_, sla, dt_to_ms(half_past), cycle="2026-10")
    conn = open_db(tmp_path / "pa.db")
    try:
        with pytest.raises(closing.CycleNotSettled) as waited:
            closing.close_cycle(conn, config_, sla, october, dt_to_ms(half_past))
        assert waited.value.until_ms == dt_to_ms(datetime(2026, 11, 1, 1, 0, tzinfo=UTC)) + 1
        assert "the incident from 2026-10-31T21:00:00" in str(waited.value)
    finally:
        conn.close()
    rest = [half_past + timedelta(minutes=m) for m in range(int((END - half_past) / timedelta(minutes=1)))]
    import_rows(cfg, tmp_path, [row(ts, "down" if ts < recovered else "up") for ts in rest])
    conn = open_db(tmp_path / "pa.db")
    try:
        doc_ = closing.close_cycle(conn, config_, sla, october, dt_to_ms(END))
    finally:
        conn.close()
    assert doc_["credit"]["amount"] == "10.00"


def test_an_explicit_cycle_credits_an_incident_that_began_before_it(tmp_path: Path) -> None:
    """An SLA with one explicit cycle (Nov 1-8) has no earlier cycle to have credited an outage that began on
    Oct 31 21:00 and ran to Nov 1 05:00 (8 h, over 4 h): it is credited in that cycle, 10 % = 10.00 (it was 0.00:
    credited 'where it started', which was no cycle of this SLA)."""
    cfg = config(tmp_path)
    cfg.write_text(
        cfg.read_text().replace("{period: monthly, anchor_day: 1, timezone: UTC}", "{from: 2026-11-01, to: 2026-11-08}")
    )
    down = (datetime(2026, 10, 31, 21, 0, tzinfo=UTC), datetime(2026, 11, 1, 5, 0, tzinfo=UTC))
    stamps = [START + timedelta(minutes=m) for m in range(int((END - START) / timedelta(minutes=1)))]
    import_rows(cfg, tmp_path, [row(ts, "down" if down[0] <= ts < down[1] else "up") for ts in stamps])
    code, out = cli("credits", "--sla", "gold", "--format", "json", "-c", str(cfg))
    assert code == 0, out
    assert json.loads(out)["credit"]["amount"] == "10.00"
