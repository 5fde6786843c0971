"""Golden documents: the report, status and incidents JSON and every rendered view, byte for byte, on a fixed store.

The files under ``tests/golden/`` were captured from ``main`` before the report document became typed (issue 10,
part 3): a refactor of ``reports/`` or ``render/`` must leave them unchanged. Regenerate them only for a change
that is meant to change output (``GOLDEN_UPDATE=1 pytest tests/test_report_golden.py``), and read the diff.

The store: two endpoints probed every 5 minutes over September 2026 (imported, agent ``ams-1``), ``web`` down for
an hour on Sep 10 and for 25 minutes on Sep 20, ``db`` unknown for 20 minutes on Sep 15; one exclusion (fixed
creation time) and a maintenance window. ``gold`` (Europe/Berlin, services, credits, objectives, maintenance) and
``slices`` (UTC, endpoint-scoped, slice counting with min_run) are reported for the whole of September as of Oct 5
and for September so far as of Sep 20 15:00 UTC.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.config.document import Config
from probe_agent.model import dt_to_ms
from probe_agent.render.html import claim_report_html
from probe_agent.render.report import SUMMARY_CARDS, report_markdown, report_table, reports_csv, summary_rows
from probe_agent.reports import scope
from probe_agent.reports.build import build_report
from probe_agent.reports.closing import apply_closed
from probe_agent.reports.incident_list import list_incidents
from probe_agent.reports.status import build_status
from probe_agent.store import records
from probe_agent.store.schema import open_db

GOLDEN = Path(__file__).parent / "golden"
START = datetime(2026, 9, 1, tzinfo=UTC)
WEB_DOWN = [
    (datetime(2026, 9, 10, 12, 0, tzinfo=UTC), datetime(2026, 9, 10, 13, 0, tzinfo=UTC)),
    (datetime(2026, 9, 20, 8, 0, tzinfo=UTC), datetime(2026, 9, 20, 8, 25, tzinfo=UTC)),
]
DB_UNKNOWN = (datetime(2026, 9, 15, 3, 0, tzinfo=UTC), datetime(2026, 9, 15, 3, 20, tzinfo=UTC))
NOW_DONE = dt_to_ms(datetime(2026, 10, 5, tzinfo=UTC))
NOW_RUNNING = dt_to_ms(datetime(2026, 9, 20, 15, 0, tzinfo=UTC))


def _outcome(ep: str, ts: datetime) -> str:
    if ep == "web" and any(lo <= ts < hi for lo, hi in WEB_DOWN):
        return "down"
    if ep == "db" and DB_UNKNOWN[0] <= ts < DB_UNKNOWN[1]:
        return "unknown"
    return "up"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp_path = tmp_path_factory.mktemp("golden")
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 5m, timeout: 10s, retry_interval: 20s, confirm: 1}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
              - {{id: db, tcp: "127.0.0.1:9"}}
            services:
              - {{id: shop, endpoints: [web, db], rule: all}}
            slas:
              - id: gold
                customer: ACME <Corp> & Co
                provider: Hoster
                services: [shop]
                target: 99.9%
                cycle: {{period: monthly, anchor_day: 1, timezone: Europe/Berlin}}
                max_incident_duration: 30m
                maintenance:
                  - {{from: "2026-09-03T02:00:00Z", to: "2026-09-03T03:00:00Z", reason: upgrade}}
                objectives:
                  latency: {{percentile: 95, below: 100ms}}
                  error_rate: {{below: 1%}}
                credits:
                  fee: "100.00"
                  currency: EUR
                  tiers: [{{below: 99.9%, credit: 10%}}, {{below: 99%, credit: 25%}}]
                  claim_window: 60d
              - id: slices
                endpoints: [web]
                target: 99.5%
                cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
                counting: {{method: slices, unit: 5m, partial: count, min_run: 2}}
            """
        )
    )
    rows = []
    for m in range(0, 30 * 24 * 60, 5):
        ts = START + timedelta(minutes=m)
        for ep in ("web", "db"):
            outcome = _outcome(ep, ts)
            rows.append(
                {
                    "ts": ts.isoformat(),
                    "agent": "ams-1",
                    "endpoint": ep,
                    "outcome": outcome,
                    "error_kind": {"down": "connect_refused", "unknown": "controls_failed"}.get(outcome),
                    "latency_ms": 3.0 + (m % 7) * 20 if outcome == "up" else None,
                }
            )
    data = tmp_path / "sep.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = CliRunner().invoke(main, ["import", str(data), "-c", str(path)])
    assert out.exit_code == 0, out.output
    loaded = load_config(path).config
    conn = open_db(loaded.agent.database)
    records.add_exclusion(
        conn,
        scope_kind="endpoint",
        scope_id="web",
        start_ms=dt_to_ms(datetime(2026, 9, 20, 8, 10, tzinfo=UTC)),
        end_ms=dt_to_ms(datetime(2026, 9, 20, 8, 15, tzinfo=UTC)),
        kind="customer",
        reason="=customer asked | for <it>",
        author="ops",
        created_ms=dt_to_ms(datetime(2026, 9, 21, tzinfo=UTC)),
    )
    conn.close()
    return loaded


@pytest.fixture
def conn(config: Config) -> Iterator[sqlite3.Connection]:
    c = open_db(config.agent.database)
    yield c
    c.close()


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(text.encode())
    assert text == path.read_bytes().decode(), f"{name} differs from the golden file"  # bytes: CSV ends in CRLF


@pytest.mark.parametrize("now", [NOW_DONE, NOW_RUNNING], ids=["done", "running"])
@pytest.mark.parametrize("sla_id", ["gold", "slices"])
def test_report_document_and_views_are_unchanged(
    conn: sqlite3.Connection, config: Config, sla_id: str, now: int
) -> None:
    sla = config.sla(sla_id)
    period = scope.sla_period(config, sla, now, cycle="2026-09")
    doc = apply_closed(conn, build_report(conn, config, sla, period, now))
    name = f"{sla_id}-{'done' if now == NOW_DONE else 'running'}"
    check(f"{name}.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    check(f"{name}.txt", report_table(doc) + "\n")
    check(f"{name}.md", report_markdown(doc))
    check(f"{name}.csv", reports_csv([doc]))
    check(f"{name}.html", claim_report_html(doc))


def test_status_document_is_unchanged(conn: sqlite3.Connection, config: Config) -> None:
    doc = build_status(conn, config, NOW_RUNNING)
    check("status.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("kind", ["sla", "service", "endpoint", "all"])
def test_incidents_document_is_unchanged(conn: sqlite3.Connection, config: Config, kind: str) -> None:
    scope_args = {"sla": {"sla_id": "gold"}, "service": {"service_id": "shop"}, "endpoint": {"endpoint_id": "web"}}
    doc = list_incidents(conn, config, NOW_DONE, from_="2026-09-01", to="2026-10-01", **scope_args.get(kind, {}))
    check(f"incidents-{kind}.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("name", ["gold-done", "gold-running", "slices-done", "slices-running"])
def test_a_stored_document_renders_as_before(name: str) -> None:
    """A closed cycle's document stored by an older version (``golden/stored/``: no ``days[].start_ms``/``end_ms``,
    no ``verdict``, a credit rule with the exact fraction in it) goes through every view; its renderings are pinned
    in ``golden/stored/`` (they matched today's documents' until the document itself changed: verdict, rule text)."""
    doc = json.loads((GOLDEN / "stored" / f"{name}.json").read_text())
    check(f"stored/{name}.txt", report_table(doc) + "\n")
    check(f"stored/{name}.md", report_markdown(doc))
    check(f"stored/{name}.csv", reports_csv([doc]))
    check(f"stored/{name}.html", claim_report_html(doc))
    if doc["cycle"]["complete"]:  # a closed cycle's verdict is its met or missed, derived by the views
        verdict = "met" if doc["met"] else "MISSED"
        assert re.search(rf"^Verdict +{verdict}$", report_table(doc), re.M)


@pytest.mark.parametrize("now", [NOW_RUNNING, NOW_DONE, dt_to_ms(datetime(2026, 9, 1, 0, 2, tzinfo=UTC))])
def test_status_shows_the_full_reports_figures(conn: sqlite3.Connection, config: Config, now: int) -> None:
    """``status`` evaluates each SLA without building its report: the same figures as the report for that SLA
    and ``now`` (mid-cycle with an outage; a cycle with no data yet; two minutes into the data)."""
    rows = {row["sla"]: row for row in build_status(conn, config, now)["slas"]}
    for sla in config.slas:
        doc = build_report(conn, config, sla, scope.sla_period(config, sla, now), now).doc
        budget = doc.get("budget")
        assert rows[sla.id] == {
            "sla": sla.id,
            "cycle": doc["cycle"]["label"],
            "availability_percent": doc["availability_percent"],
            "target_percent": doc["target_percent"],
            "met": doc["met"],
            "verdict": doc["verdict"],
            "budget_remaining_s": None if budget is None else budget["remaining_s"],
            "budget_allowed_s": None if budget is None else budget["allowed_s"],
            "projected_availability_percent": None if budget is None else budget["projected_availability_percent"],
            "coverage_percent": doc.get("coverage_percent"),
            "warnings": [w for w in doc["warnings"] if w.startswith("coverage ")],
        }


@pytest.mark.parametrize("name", ["gold-done", "gold-running", "slices-done", "slices-running"])
def test_the_html_summary_follows_the_one_summary_order(name: str) -> None:
    """The HTML cards are summary rows (same labels, same values, same order); the measurement facts that share a
    label with a summary row come in the summary's order."""
    doc = json.loads((GOLDEN / f"{name}.json").read_text())
    html = claim_report_html(doc)
    summary = summary_rows(doc)
    labels = [label for label, _ in summary]
    cards = re.findall(r'<div class="label">([^<]*)</div><div class="value">([^<]*)</div>', html)
    assert [label for label, _ in cards] == [label for label in labels if label in SUMMARY_CARDS]
    values = dict(summary)
    for label, value in cards:
        if label != "Credit":  # the card shows the amount, the row the percent and rule too
            assert value == values[label]
    facts = re.findall(r"<th scope=row>([^<]*)</th>", html)
    shared = [label for label in facts if label in values]
    assert shared == [label for label in labels if label in shared]
