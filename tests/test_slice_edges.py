"""Slices at the edges of a cycle, through the CLI (issue 8, problems 2, 3 and 5): import results, then
``report``/``credits --format json`` and ``cycle close``. Every expectation is counted by hand below.

- Problem 2: the UpCloud preset (1-minute slices, partial minutes count, runs of 6+ minutes: "interruptions over 5
  minutes") and an 8-minute interruption from 23:57 to 00:05 across the July/August edge: 3 down minutes in July
  and 5 in August, each cycle judging the run on its whole length (8). Both cycles are 31 days (44,640 minutes);
  fee 4,464.00, per unit 50 x the charge of a minute: 4,464.00 x 50 x n / 44,640 = 5.00 x n, so 15.00 for July and
  25.00 for August (before the fix: 0.00 in both).
- Problem 3: monitoring begins at 00:00:30 on the cycle's first day; down 10:00:00-10:02:00 the next day; slices
  aligned to the cycle start make minutes 10:00 and 10:01 down (before the fix, aligned to 00:00:30: one).
- Problem 5: an explicit cycle 00:00:00-00:01:30, 1-minute slices, down throughout: slices [0, 60 s) and [60 s,
  90 s), downtime 90 s (not 120 s, which crashed the credit), availability 0, 2 started minutes of downtime.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.model import dt_to_ms
from probe_agent.reports.closing import CycleNotSettled, close_cycle
from probe_agent.reports.scope import sla_period
from probe_agent.store.schema import open_db


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def result(ts: datetime, outcome: str) -> dict[str, Any]:
    down = outcome == "down"
    return {
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "agent": "ams-1",
        "endpoint": "web",
        "outcome": outcome,
        "latency_ms": None if down else 5.0,
        "error_kind": "connect_refused" if down else None,
    }


def setup(tmp_path: Path, interval: str, sla: str, rows: list[dict[str, Any]]) -> Path:
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: {interval}, timeout: 10s, retry_interval: 20s, confirm: 3}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            services:
              - {{id: shop, endpoints: [web]}}
            slas:
            """
        )
        + textwrap.indent(textwrap.dedent(sla), "  ")
    )
    data = tmp_path / "results.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sorted(rows, key=lambda r: str(r["ts"]))))
    code, out = cli("import", str(data), "-c", str(cfg))
    assert code == 0, out
    return cfg


def report(cfg: Path, *args: str) -> dict[str, Any]:
    code, out = cli("report", "--sla", "gold", *args, "--format", "json", "-c", str(cfg))
    assert code == 0, out
    doc: dict[str, Any] = json.loads(out)
    return doc


# --- Problem 2: a run shorter than min_run in each cycle, longer across the edge ---

EDGE = datetime(2026, 8, 1, tzinfo=UTC)
# Explicit policies, so the test holds whatever the preset's defaults are.
UPCLOUD = """
- id: gold
  customer: ACME Corp
  use: upcloud
  services: [shop]
  cycle: {period: monthly, anchor_day: 1, timezone: UTC}
  unknown: exclude
  no_data: exclude
  close_after: 0s
  credits: {fee: "4464.00", currency: EUR}
"""


def edge_rows(first_down: int, first_up: int, last: int) -> list[dict[str, Any]]:
    """One up result at the start of July (monitoring covers the whole cycle), then one a minute from 23:50 on
    July 31 to ``last`` minutes after the edge: down from ``first_down`` minutes after the edge (negative: before),
    up again from ``first_up``."""
    rows = [result(datetime(2026, 7, 1, tzinfo=UTC), "up")]
    for m in range(-10, last + 1):
        rows.append(result(EDGE + timedelta(minutes=m), "down" if first_down <= m < first_up else "up"))
    return rows


def test_an_interruption_across_the_cycle_edge_counts_in_both_cycles_for_its_minutes(tmp_path: Path) -> None:
    cfg = setup(tmp_path, "60s", UPCLOUD, edge_rows(-3, 5, 10))
    july, august = report(cfg, "--cycle", "2026-07"), report(cfg, "--cycle", "2026-08")
    # July: up 00:00 and 00:01 on July 1 (the result speaks for 70 s), 23:50-23:56 (7), down 23:57-23:59 (3).
    assert (july["slices"]["up"], july["slices"]["down"], july["slices"]["short_runs_forgiven"]) == (9, 3, 0)
    assert july["availability_exact"] == "3/4"
    assert Decimal(july["credit"]["amount"]) == Decimal("15.00")
    # August: down 00:00-00:04 (5), up 00:05-00:11 (the 00:10 result speaks until 00:11:10).
    assert (august["slices"]["up"], august["slices"]["down"], august["slices"]["short_runs_forgiven"]) == (7, 5, 0)
    assert august["availability_exact"] == "7/12"
    assert Decimal(august["credit"]["amount"]) == Decimal("25.00")


def test_a_short_interruption_across_the_edge_is_forgiven_in_both_cycles(tmp_path: Path) -> None:
    # 23:58 to 00:03: 5 minutes on its whole length, not over 5: no credit in either cycle.
    cfg = setup(tmp_path, "60s", UPCLOUD, edge_rows(-2, 3, 10))
    july, august = report(cfg, "--cycle", "2026-07"), report(cfg, "--cycle", "2026-08")
    assert (july["slices"]["down"], july["slices"]["short_runs_forgiven"]) == (0, 2)
    assert (august["slices"]["down"], august["slices"]["short_runs_forgiven"]) == (0, 3)
    assert Decimal(july["credit"]["amount"]) == Decimal(august["credit"]["amount"]) == 0


def test_august_looks_behind_its_start_for_the_whole_run(tmp_path: Path) -> None:
    # Down 23:52-23:56 (confirmed), unknown 23:56-23:58 (not counted: the run goes on through it, and the outage
    # too), down again 23:58-00:02: 4 + 2 + 2 = 8 down minutes, counted: 6 in July, 2 in August. August must read
    # the intervals before its start (those of 23:52-23:58 do not overlap it) to see the run's whole length.
    def state(m: int) -> str:
        return "down" if -8 <= m < -4 or -2 <= m < 2 else "unknown" if -4 <= m < -2 else "up"

    rows = [result(datetime(2026, 7, 1, tzinfo=UTC), "up")]
    rows += [result(EDGE + timedelta(minutes=m), state(m)) for m in range(-10, 11)]
    cfg = setup(tmp_path, "60s", UPCLOUD, rows)
    july, august = report(cfg, "--cycle", "2026-07"), report(cfg, "--cycle", "2026-08")
    assert (july["slices"]["down"], july["slices"]["short_runs_forgiven"]) == (6, 0)
    assert Decimal(july["credit"]["amount"]) == Decimal("30.00")
    assert (august["slices"]["down"], august["slices"]["short_runs_forgiven"]) == (2, 0)
    assert Decimal(august["credit"]["amount"]) == Decimal("10.00")


def test_maintenance_after_the_edge_is_excluded_when_july_judges_its_last_run(tmp_path: Path) -> None:
    # Down 23:57 to 00:32; August's first 30 minutes are a maintenance window. The run has 3 + 2 = 5 down minutes
    # (the window's slices neither break nor lengthen it): forgiven in both cycles. July applies the window (it
    # reads the windows around its edges) but does not list it.
    sla = UPCLOUD + '  maintenance: [{from: "2026-08-01T00:00:00Z", to: "2026-08-01T00:30:00Z", reason: upgrade}]\n'
    rows = [result(datetime(2026, 7, 1, tzinfo=UTC), "up")]
    rows += [result(EDGE + timedelta(minutes=m), "down" if -3 <= m < 32 else "up") for m in range(-10, 41)]
    cfg = setup(tmp_path, "60s", sla, rows)
    july, august = report(cfg, "--cycle", "2026-07"), report(cfg, "--cycle", "2026-08")
    assert (july["slices"]["down"], july["slices"]["short_runs_forgiven"], july["maintenance"]) == (0, 3, [])
    assert (august["slices"]["down"], august["slices"]["short_runs_forgiven"]) == (0, 2)
    assert [m["label"] for m in august["maintenance"]] == ["upgrade"]


def close(cfg: Path, now: datetime) -> dict[str, Any]:
    config = load_config(cfg).config
    (sla,) = config.slas
    conn = open_db(tmp_db(cfg))
    try:
        period = sla_period(config, sla, dt_to_ms(EDGE) - 1)
        return close_cycle(conn, config, sla, period, dt_to_ms(now))
    finally:
        conn.close()


def tmp_db(cfg: Path) -> Path:
    return cfg.parent / "pa.db"


def test_closing_waits_while_a_short_run_at_the_cycle_end_is_open(tmp_path: Path) -> None:
    # Down from 23:57; the last result is at 00:00:00 (down). At 00:01:00 the run has 4 slices (23:57-23:59 and
    # 00:00, down on its counted part): 2 more whole minutes decide it, by 00:03:00. Closing waits until then.
    cfg = setup(tmp_path, "60s", UPCLOUD, edge_rows(-3, 99, 0))
    try:
        close(cfg, EDGE + timedelta(minutes=1))
    except CycleNotSettled as exc:
        assert exc.until_ms == dt_to_ms(EDGE + timedelta(minutes=3))
        assert "decided by 2026-08-01T00:03:00" in str(exc)
    else:
        raise AssertionError("the cycle closed while a run at its end was open")
    # More data: down up to 00:03:00, up at 00:03:00 would make it 6 minutes; with down results to 00:05, the run
    # has 8 minutes by 00:05:30 and July closes with its 3.
    data = tmp_path / "more.jsonl"
    data.write_text("".join(json.dumps(result(EDGE + timedelta(minutes=m), "down")) + "\n" for m in range(1, 6)))
    assert cli("import", str(data), "-c", str(cfg))[0] == 0
    doc = close(cfg, EDGE + timedelta(minutes=5, seconds=30))
    assert doc["slices"]["down"] == 3 and Decimal(doc["credit"]["amount"]) == Decimal("15.00")


def test_closing_does_not_wait_past_the_moment_the_run_is_decided(tmp_path: Path) -> None:
    # No data after the 00:00:00 result: it speaks until 00:01:10, so the run has 5 slices (23:57 to 00:01) and one
    # more minute decides it, by 00:03:00. At 00:03:00 nothing came: the cycle closes with the run forgiven.
    cfg = setup(tmp_path, "60s", UPCLOUD, edge_rows(-3, 99, 0))
    doc = close(cfg, EDGE + timedelta(minutes=3))
    assert (doc["slices"]["down"], doc["slices"]["short_runs_forgiven"]) == (0, 3)


def test_cycle_close_command_says_until_when_it_waits(tmp_path: Path) -> None:
    # An explicit cycle that ended two minutes ago (whole minutes), down for its last 3 minutes and since: with
    # min_run 60 the run is decided about an hour after the cycle's end, far beyond this test's run time.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(minutes=2)
    sla = f"""
    - id: gold
      customer: ACME Corp
      services: [shop]
      target: 99.9%
      cycle: {{from: "{(end - timedelta(hours=1)).isoformat()}", to: "{end.isoformat()}", timezone: UTC}}
      counting: {{method: slices, unit: 1m, partial: count, min_run: 60}}
      unknown: exclude
      no_data: exclude
    """
    rows = [result(end + timedelta(minutes=m), "down" if m >= -3 else "up") for m in range(-60, 2)]
    cfg = setup(tmp_path, "60s", sla, rows)
    code, out = cli("cycle", "close", "--sla", "gold", "-c", str(cfg))
    assert code == 2, out
    assert "cannot close yet" in out and "touches the cycle's end" in out and "decided by" in out
    assert report(cfg)["closed"] is None


# --- Problem 3: slices align to the cycle start in a partial first cycle ---

SEP = datetime(2026, 9, 1, tzinfo=UTC)
HAND_WRITTEN = """
- id: gold
  customer: ACME Corp
  services: [shop]
  target: 99.9%
  cycle: {period: monthly, anchor_day: 1, timezone: UTC}
  counting: {method: slices, unit: 1m, partial: ignore, min_run: 1}
  unknown: exclude
  no_data: exclude
"""


def test_slices_align_to_the_cycle_start_in_a_partial_first_cycle(tmp_path: Path) -> None:
    # Results every 30 s: 00:00:30-00:02:00 on Sep 1 (up), then 09:55:00-10:05:00 on Sep 2, down 10:00:00-10:01:30
    # (confirmed at the third; the outage starts at the first), up again at 10:02:00. Nothing else: no_data.
    rows = [result(SEP + timedelta(seconds=s), "up") for s in range(30, 121, 30)]
    outage = SEP + timedelta(days=1, hours=10)
    for s in range(-300, 301, 30):
        rows.append(result(outage + timedelta(seconds=s), "down" if 0 <= s < 120 else "up"))
    doc = report(setup(tmp_path, "30s", HAND_WRITTEN, rows), "--cycle", "2026-09")
    assert doc["cycle"]["monitoring_start"] == "2026-09-01T00:00:30+00:00"
    # Down: minutes 10:00 and 10:01. Up: [00:00:30, 00:01) (30 s), 00:01, 00:02 (the 00:02:00 result speaks for
    # 40 s); 09:55-09:59 and 10:02-10:05 (the 10:05:00 result speaks for 40 s): 3 + 9 = 12.
    assert (doc["slices"]["up"], doc["slices"]["down"]) == (12, 2)
    # Each slice weighs its length within the cycle: up 30 s + 11 min = 690 s, down 120 s: 690/810 = 23/27.
    assert doc["availability_exact"] == "23/27"


# --- Problem 5: an explicit cycle that is not a whole number of slices ---


def test_a_cycle_that_is_not_a_whole_number_of_slices(tmp_path: Path) -> None:
    sla = """
    - id: gold
      customer: ACME Corp
      services: [shop]
      target: 99.9%
      cycle: {from: "2026-09-01T00:00:00Z", to: "2026-09-01T00:01:30Z", timezone: UTC}
      counting: {method: slices, unit: 1m, partial: ignore}
      unknown: exclude
      no_data: exclude
      credits:
        fee: "100.00"
        currency: EUR
        per_unit: {every: 1m, credit: 10%, beyond_allowance: false}
    """
    rows = [result(SEP + timedelta(seconds=s), "down") for s in range(0, 91, 30)]
    cfg = setup(tmp_path, "30s", sla, rows)
    doc = report(cfg)
    assert (doc["slices"]["up"], doc["slices"]["down"]) == (0, 2)
    assert doc["availability_exact"] == "0" and doc["met"] is False
    # Downtime 90 s (60 s + the 30 s slice): 2 started minutes x 10 % = 20 % of 100.00.
    assert Decimal(doc["credit"]["percent"]) == 20 and doc["credit"]["amount"] == "20.00"
    code, out = cli("credits", "--sla", "gold", "--format", "json", "-c", str(cfg))
    assert code == 0, out
    assert json.loads(out)["credit"]["amount"] == "20.00"
    assert json.loads(out)["credit"]["rule"].startswith("downtime 1m30s: 2 started unit(s) of 1m")


def test_a_report_window_keeps_the_cycles_slice_grid(tmp_path: Path) -> None:
    """A window starting off the minute (--from 00:00:30) over an outage Nov 10 00:00-07:12: its slices are the
    cycle's minutes, the first cut at 00:00:30 (README: slices align to the cycle start). Down: the cut 30 s slice
    plus 431 whole minutes = 25,890 s; up: 86,370 - 25,890 = 60,480 s; availability 60,480 / 86,370 = 2016/2879.
    The window's own grid (minutes from 00:00:30) gave 431 down slices and 2017/2879."""
    day = datetime(2026, 11, 10, tzinfo=UTC)
    rows = [result(day + timedelta(minutes=m), "down" if m < 432 else "up") for m in range(-5, 24 * 60 + 5)]
    sla = """
    - id: gold
      services: [shop]
      target: 99.9%
      cycle: {period: monthly, anchor_day: 1, timezone: UTC}
      counting: {method: slices, unit: 1m, partial: ignore, min_run: 1}
    """
    cfg = setup(tmp_path, "60s", sla, rows)
    window = report(cfg, "--from", "2026-11-10T00:00:30Z", "--to", "2026-11-11T00:00:00Z")
    assert window["availability_exact"] == "2016/2879"
    assert window["slices"]["down"] == 432
