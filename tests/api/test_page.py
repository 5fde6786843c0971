"""The status page: its document's figures counted by hand (tests/api/page_fixtures.py), what a public page leaves
out, and the route (guard, headers, cache) through aiohttp's test client over a real SQLite file."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from probe_agent.api.app import build_app
from probe_agent.api.context import ApiContext
from probe_agent.config.document import Config
from probe_agent.model import HOUR_MS
from probe_agent.render.status_page import figure, status_page_html
from probe_agent.reports.build import build_report
from probe_agent.reports.page_days import PageIncident, day_cells, day_colour, page_window
from probe_agent.reports.scope import sla_period
from probe_agent.reports.sla_status import sla_status
from probe_agent.reports.status_page import StatusPageDoc, build_status_page
from probe_agent.sla.availability import Bucket, BucketSpan, Policies
from probe_agent.store.schema import open_db
from tests.api.page_fixtures import NOW_MS, REASON, SECRETS, build_db, config_dict, ms, page_config

T = TypeVar("T")
TOKEN = "page-test-token-0123456789abcdef"
ClientMaker = Callable[..., Any]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "pa.db")


def document(db: Path, *, public: bool = False) -> StatusPageDoc:
    conn = open_db(db, readonly=True)
    try:
        return build_status_page(conn, page_config(db, public=public), NOW_MS, public=public)
    finally:
        conn.close()


def cells(doc: StatusPageDoc, service: str) -> dict[str, tuple[float | None, str]]:
    row = next(r for r in doc.rows if r.name == service)
    return {c.day.isoformat(): (c.availability_percent, c.colour) for c in row.days}


def test_figures_are_the_hand_counted_ones(db: Path) -> None:
    doc = document(db)
    assert [(g.title, [r.name for r in g.rows]) for g in doc.groups] == [
        ("gold", ["shop", "api"]),
        ("Other services", ["batch"]),
        ("Other endpoints", ["lone", "ipcheck"]),
    ]
    assert all(len(r.days) == 90 for r in doc.rows)
    gold = doc.groups[0]
    assert (gold.cycle, gold.availability_percent, gold.met, gold.target_percent) == ("2026-12", 98.076923, False, 99.9)
    shop, api = gold.rows
    # shop: down 2026-12-03 10:00-12:00, so that day is 22 h of 24 and December so far 154 h of 156.
    shop_days = cells(doc, "shop")
    assert shop_days["2026-12-03"] == (91.666667, "bad")
    assert {d for d, (_, colour) in shop_days.items() if colour != "good"} == {"2026-12-03"}
    assert (shop.state, shop.since_ms, shop.cycle_percent, shop.met) == ("up", ms(2026, 12, 3, 12), 98.717949, False)
    assert [(i.start_ms, i.end_ms, i.ongoing) for i in shop.incidents] == [
        (ms(2026, 12, 3, 10), ms(2026, 12, 3, 12), False)
    ]
    # api: monitored from 2026-11-07 12:00, down since 11:00 today (ongoing): today 11 h of 12.
    api_days = cells(doc, "api")
    assert api_days["2026-12-07"] == (91.666667, "bad")
    assert api_days["2026-11-07"] == (100.0, "good")
    assert api_days["2026-11-06"] == (None, "none")
    assert sum(1 for _, colour in api_days.values() if colour == "none") == 59  # 2026-09-09 .. 2026-11-06
    assert (api.state, api.since_ms, api.cycle_percent) == ("down", ms(2026, 12, 7, 11), 99.358974)
    assert [(i.start_ms, i.ongoing, i.duration_ms) for i in api.incidents] == [(ms(2026, 12, 7, 11), True, HOUR_MS)]
    # batch (no SLA): degraded for an hour on 2026-12-05 counts as up; coloured against 99.9 %.
    (batch,) = doc.groups[1].rows
    assert cells(doc, "batch")["2026-12-05"] == (100.0, "good")
    assert (batch.state, batch.cycle_percent, batch.met) == ("up", 100.0, True)
    assert [(r.state, r.since_ms) for r in doc.groups[2].rows] == [("no_data", None), ("no_data", None)]
    (window,) = gold.maintenance
    assert (window.start_ms, window.end_ms, window.ongoing, window.reason) == (
        ms(2026, 12, 10, 1),
        ms(2026, 12, 10, 3),
        False,
        REASON,
    )


@pytest.mark.parametrize("counting", ["time", "slices"])
def test_cycle_figures_are_those_of_status_and_report(db: Path, counting: str) -> None:
    """The same library code: the SLA's figure is ``status``'s, each service's is the report's (also when the SLA
    counts 5-minute slices)."""
    doc_dict = config_dict(db)
    doc_dict["slas"][0]["counting"] = {"method": counting, "unit": "5m"}
    cfg = Config.model_validate(doc_dict)
    conn = open_db(db, readonly=True)
    try:
        doc = build_status_page(conn, cfg, NOW_MS, public=False)
        (status,), _ = sla_status(conn, cfg, NOW_MS)
        sla = cfg.slas[0]
        report = build_report(conn, cfg, sla, sla_period(cfg, sla, NOW_MS), NOW_MS).doc
    finally:
        conn.close()
    gold = doc.groups[0]
    assert gold.availability_percent == status["availability_percent"] == report["availability_percent"]
    assert gold.budget_remaining_ms is not None and gold.budget_remaining_ms / 1000 == status["budget_remaining_s"]
    by_service = {s["service"]: (s["availability_percent"], s["met"]) for s in report["services"]}
    assert {r.name: (r.cycle_percent, r.met) for r in gold.rows} == by_service


def test_public_document_shows_services_and_slas_only(db: Path) -> None:
    doc = document(db, public=True)
    assert [g.title for g in doc.groups] == ["gold", "Other services"]
    assert doc.groups[0].maintenance[0].reason == ""
    html = status_page_html(doc)
    for secret in (*SECRETS, "SECRET", "lone", "ipcheck", "web-a", "web-b", "dns-c", "http_status"):
        assert secret not in html
    assert "Scheduled maintenance: 2026-12-10 01:00 – 03:00 UTC" in html


def test_the_view_escapes_and_runs_no_script(db: Path) -> None:
    html = status_page_html(document(db))
    assert "<title>Example &lt;Status&gt; &amp; Co</title>" in html
    assert "<script" not in html.lower() and not re.search(r"<[^>]+\son[a-z]+=", html)  # no script, no handler
    assert "src=" not in html and "href=" not in html and "@import" not in html and "url(" not in html
    assert html.count('class="d c-') == 5 * 90 + 5  # the bars' cells, and the legend's five swatches


def test_day_colours_are_relative_to_the_target() -> None:
    target = Fraction(999, 1000)
    assert day_colour(Fraction(1), target, 0) == "good"
    assert day_colour(Fraction(999, 1000), target, 0) == "good"
    assert day_colour(Fraction(99, 100), target, 0) == "warn"  # 10 x the allowed 0.1 %
    assert day_colour(Fraction(9899, 10000), target, 0) == "bad"
    assert day_colour(None, target, 0) == "none"
    assert day_colour(None, target, 5) == "maintenance"


def test_a_dst_day_is_25_hours_long() -> None:
    """2026-10-25 in Berlin has 25 hours: 2 h down that day is 23/25 = 92 %; every day is one cell."""
    tz = ZoneInfo("Europe/Berlin")
    now = ms(2026, 10, 26, 11)  # 12:00 local
    window, days = page_window(tz, now)
    assert len(days) == 90 and days[-1][0] == date(2026, 10, 26) and days[-2][0] == date(2026, 10, 25)
    _, start, end, day_ms = days[-2]
    assert end - start == day_ms == 25 * HOUR_MS
    outage = PageIncident(start + HOUR_MS, start + 3 * HOUR_MS, 2 * HOUR_MS, False)
    buckets = (
        BucketSpan(window.start_ms, outage.start_ms, Bucket.UP),
        BucketSpan(outage.start_ms, outage.end_ms, Bucket.DOWN),
        BucketSpan(outage.end_ms, now, Bucket.UP),
    )
    out = day_cells(days, buckets, [outage], Policies(), Fraction(999, 1000))
    assert (out[-2].availability_percent, out[-2].down_ms, out[-2].incidents) == (92.0, 2 * HOUR_MS, (outage,))
    assert out[-1].availability_percent == 100.0 and out[-1].end_ms == now


def test_figures_as_shown() -> None:
    assert [figure(v) for v in (100.0, 91.666667, 99.95, 98.076923, None)] == [
        "100%",
        "91.6667%",
        "99.95%",
        "98.0769%",
        "no data",
    ]


# --- the route ----------------------------------------------------------------------------------------------------


class CountingContext(ApiContext):
    """An ``ApiContext`` that counts its store reads (each page build is one)."""

    reads = 0

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self.reads += 1
        return await super().read(fn)


def context(db: Path, clock: list[int], **kwargs: Any) -> tuple[CountingContext, list[Config]]:
    configs = [page_config(db, **kwargs)]
    ctx = CountingContext(config=lambda: configs[-1], db_path=db, now_ms=lambda: clock[0], agent_id="ams-1")
    return ctx, configs


async def test_public_page_needs_no_token_and_carries_strict_headers(db: Path, aiohttp_client: ClientMaker) -> None:
    ctx, _ = context(db, [NOW_MS], public=True, tokens=(TOKEN,))
    client: TestClient[Any, Any] = await aiohttp_client(build_app(ctx))
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'unsafe-inline'")
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "public, max-age=15"
    assert resp.headers["Content-Encoding"] == "gzip"  # compressed once per build; the client sent gzip
    html = await resp.text()
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and await plain.text() == html
    assert 'Last updated <time datetime="2026-12-07T12:00:00+00:00">2026-12-07 12:00 UTC</time>' in html
    for secret in SECRETS:
        assert secret not in html
    assert 'data-service="shop"' in html and 'data-service="batch"' in html and "lone" not in html
    # Everything else still needs the token.
    assert (await client.get("/healthz")).status == 401
    # Only GET (and HEAD) here.
    assert (await client.post("/", headers={"Authorization": f"Bearer {TOKEN}"})).status == 405
    assert (await client.head("/")).status == 200
    again = await client.get("/", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_private_page_needs_a_token(db: Path, aiohttp_client: ClientMaker) -> None:
    ctx, _ = context(db, [NOW_MS], tokens=(TOKEN,))
    client: TestClient[Any, Any] = await aiohttp_client(build_app(ctx))
    assert (await client.get("/")).status == 401
    assert (await client.get("/", headers={"Authorization": "Bearer wrong-token-0123456789"})).status == 401
    resp = await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "private, no-store"
    html = await resp.text()
    assert 'data-service="lone"' in html and "upgrade of SECRET-db.internal" in html  # the operator's page
    assert "SECRET-host-a.example" not in html and "10.9.8.7" not in html  # never URLs or hosts, even here


async def test_the_page_is_built_once_per_cache_time(db: Path, aiohttp_client: ClientMaker) -> None:
    clock = [NOW_MS]
    ctx, configs = context(db, clock, public=True)
    client: TestClient[Any, Any] = await aiohttp_client(build_app(ctx))
    first = await asyncio.gather(*(client.get("/") for _ in range(5)))
    bodies = {await r.text() for r in first}
    assert len(bodies) == 1 and ctx.reads == 1  # five at once: one build
    clock[0] += 14_999
    assert await (await client.get("/")).text() in bodies and ctx.reads == 1
    clock[0] += 1  # 15 s (api.metrics.cache) after the build: built again, "last updated" moves
    later = await (await client.get("/")).text()
    assert ctx.reads == 2 and "2026-12-07 12:00 UTC" in later and later not in bodies
    assert 'datetime="2026-12-07T12:00:15+00:00"' in later
    configs.append(page_config(db, public=True))  # a reload: a new Config object, built anew
    await client.get("/")
    assert ctx.reads == 3


def test_tooltip_times_cross_midnight_and_dst() -> None:
    """An incident over midnight shows the other day's date; on a 25-hour day times go through the zone."""
    from probe_agent.render.status_page import BarCache, bar_html
    from probe_agent.reports.page_days import DayCell

    utc = ZoneInfo("UTC")
    night = PageIncident(ms(2026, 12, 3, 23) + 30 * 60_000, ms(2026, 12, 4) + 30 * 60_000, HOUR_MS, False)
    days = tuple(
        DayCell(date(2026, 12, d), ms(2026, 12, d), ms(2026, 12, d + 1), 24 * HOUR_MS, 97.916667, "bad", 1, 0, (night,))
        for d in (3, 4)
    )
    html = bar_html(days, utc, BarCache(2))
    assert "incident 23:30 – 12-04 00:30 (1h)" in html and "incident 12-03 23:30 – 00:30 (1h)" in html
    berlin = ZoneInfo("Europe/Berlin")
    start = int(datetime(2026, 10, 25, tzinfo=berlin).timestamp() * 1000)
    late = PageIncident(start + 4 * HOUR_MS, start + 5 * HOUR_MS, HOUR_MS, False)  # 03:00-04:00 CET (after the change)
    dst = DayCell(date(2026, 10, 25), start, start + 25 * HOUR_MS, 25 * HOUR_MS, 96.0, "bad", HOUR_MS, 0, (late,))
    assert "incident 03:00 – 04:00 (1h)" in bar_html((dst,), berlin, BarCache(1))


def test_maintenance_going_on_now(db: Path) -> None:
    """A window over now (11:30-12:30, no notice required): every service of the SLA is in maintenance since 11:30;
    api's day so far is 11.5 h counted (the excluded half hour is not), 0.5 h of it down -> 11/11.5 = 95.652174 %."""
    doc_dict = config_dict(db)
    doc_dict["slas"][0]["maintenance"] = [{"from": "2026-12-07T11:30:00Z", "to": "2026-12-07T12:30:00Z"}]
    conn = open_db(db, readonly=True)
    try:
        doc = build_status_page(conn, Config.model_validate(doc_dict), NOW_MS, public=True)
    finally:
        conn.close()
    gold = doc.groups[0]
    assert [(r.name, r.state, r.since_ms) for r in gold.rows] == [
        ("shop", "maintenance", ms(2026, 12, 7, 11) + 30 * 60_000),
        ("api", "maintenance", ms(2026, 12, 7, 11) + 30 * 60_000),
    ]
    assert cells(doc, "api")["2026-12-07"] == (95.652174, "bad")
    assert cells(doc, "shop")["2026-12-07"] == (100.0, "good")
    (window,) = gold.maintenance
    assert (window.ongoing, window.reason) == (True, "")
    html = status_page_html(doc)
    assert "Scheduled maintenance: in progress: 2026-12-07 11:30 – 12:30 UTC" in html
    assert 'class="banner s-maintenance" id="summary">Maintenance in progress<' in html  # before "all up" (batch)


def test_the_title_without_an_api_section(db: Path) -> None:
    doc_dict = config_dict(db)
    del doc_dict["api"]
    conn = open_db(db, readonly=True)
    try:
        doc = build_status_page(conn, Config.model_validate(doc_dict), NOW_MS, public=False)
    finally:
        conn.close()
    assert doc.title == "Service status" and "<title>Service status</title>" in status_page_html(doc)


def test_the_sla_says_its_verdict_and_its_coverage(db: Path) -> None:
    """A cycle in progress is not a verdict: the group says the report's verdict in words, and its coverage."""
    doc = document(db)
    gold = doc.groups[0]
    conn = open_db(db, readonly=True)
    try:
        config = page_config(db)
        sla = config.sla("gold")
        report = build_report(conn, config, sla, sla_period(config, sla, NOW_MS), NOW_MS).doc
    finally:
        conn.close()
    assert gold.verdict == report["verdict"] is not None
    assert gold.coverage_percent == report["coverage_percent"] and gold.coverage_low is False
    html = status_page_html(doc)
    assert "met so far" not in html and "below target" not in html.split("sla-figure")[1].split("</span>")[0]
    assert "Low coverage" not in html


def test_low_coverage_is_said_on_the_page(tmp_path: Path) -> None:
    """Two hours of data at the start of a cycle a week old, then none (the agent stopped): 100 % so far, but the
    page says the figures rest on little time."""
    from probe_agent.model import State
    from probe_agent.store import records
    from tests.api.page_fixtures import iv

    path = tmp_path / "low.db"
    conn = open_db(path)
    try:
        start = ms(2026, 12, 1)
        intervals = [iv(e, start, start + 2 * HOUR_MS, State.UP) for e in ("web-a", "web-b", "dns-c")]
        records.import_batch(conn, intervals=intervals, now_ms=NOW_MS)
    finally:
        conn.close()
    doc = document(path)
    gold = doc.groups[0]
    assert gold.coverage_low is True and gold.coverage_percent is not None and gold.coverage_percent < 10
    assert gold.verdict == "on_track"
    html = status_page_html(doc)
    assert "Low coverage: these figures rest on little measured time." in html
