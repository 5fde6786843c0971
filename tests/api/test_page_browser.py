"""The status page in a real headless browser (Debian's chromium, offline; driven over the DevTools protocol on a
pipe, tests/api/page_browser.py), served by a real ``ApiServer`` on a loopback port 0 over the hand-built database
of page_fixtures.py, with its real headers (the CSP allows inline style only) and the page's scripts disabled.

At a phone's viewport (390x844) and a desktop's (1280x800): the DOM has a row per service, 90 day cells each, the
hand-counted figures and an incident's tooltip text; the content is no wider than the viewport, also with a tooltip
open (by focus, as a tap opens it, and by hover); the cells have the width the inline CSS gives them (so the style
was applied under the CSP); a screenshot is the viewport's size and not blank.
"""

from __future__ import annotations

import asyncio
import struct
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from probe_agent.api.context import ApiContext
from probe_agent.api.server import ApiServer
from tests.api.page_browser import CHROMIUM, Browser
from tests.api.page_fixtures import NOW_MS, SECRETS, build_db, page_config

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
    ),
    pytest.mark.slow,
]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
COLUMNS = {"phone": 30, "desktop": 90}  # the bar's grid: three rows of 30 days on a phone
INCIDENT_DAY = 'li[data-service="shop"] span.d[data-date="2026-12-03"]'
LAST_DAY = 'li[data-service="api"] span.d[data-date="2026-12-07"]'


class PageDom(HTMLParser):
    """Per service row (``li.svc``): its state, and its day cells' dates with their tooltip texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.states: dict[str, str] = {}
        self.row: str | None = None
        self.day: str | None = None
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "li" and "svc" in classes:
            self.row = a.get("data-service") or ""
            self.rows[self.row] = {}
            self.states[self.row] = a.get("data-state") or ""
        elif tag == "span" and "d" in classes and self.row is not None:
            self.day = a.get("data-date") or ""
            self.rows[self.row][self.day] = ""

    def handle_data(self, data: str) -> None:
        if self.row is not None and self.day is not None:
            self.rows[self.row][self.day] += data + " "

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.row, self.day = None, None
        elif tag == "div":  # the end of the bar: its last day's tooltip is over
            self.day = None


def words(text: str) -> str:
    return " ".join(text.split())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def inside(box: tuple[float, float, float, float] | None, width: int) -> bool:
    return box is not None and box[0] >= 0 and box[2] <= width


@pytest.mark.parametrize("size", sorted(SIZES))
async def test_the_page_in_chromium(tmp_path: Path, size: str) -> None:
    width, height = SIZES[size]
    db = build_db(tmp_path / "pa.db")
    cfg = page_config(db, public=True, tokens=("browser-test-token-0123456789",))
    server = ApiServer(ApiContext(config=lambda: cfg, db_path=db, now_ms=lambda: NOW_MS), listen=("127.0.0.1", 0))
    await server.start()
    shot, tapped, hovered = tmp_path / f"{size}.png", tmp_path / f"{size}-tap.png", tmp_path / f"{size}-hover.png"

    def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with Browser(tmp_path) as browser:
            browser.open(server.url + "/", width, height, mobile=size == "phone")
            seen["html"] = browser.html()
            seen["widths"] = browser.widths()
            seen["cell"] = browser.box(INCIDENT_DAY)
            seen["bar"] = browser.box('li[data-service="shop"] .bar')
            seen["closed tip"] = browser.box(INCIDENT_DAY + " .tip")
            browser.screenshot(shot)
            browser.focus(INCIDENT_DAY)  # what a tap does
            seen["tapped tip"] = browser.box(INCIDENT_DAY + " .tip")
            seen["tapped widths"] = browser.widths()
            browser.screenshot(tapped, full_page=False)
            browser.blur()
            seen["blurred tip"] = browser.box(INCIDENT_DAY + " .tip")
            browser.hover(LAST_DAY)
            seen["hovered tip"] = browser.box(LAST_DAY + " .tip")
            seen["hovered widths"] = browser.widths()
            browser.screenshot(hovered)
        return seen

    try:
        async with aiohttp.ClientSession() as client, client.get(server.url + "/") as resp:
            served = await resp.text()
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'unsafe-inline'")
        seen = await asyncio.to_thread(session)
    finally:
        await server.stop()

    dom = PageDom()
    dom.feed(str(seen["html"]))
    assert "script" not in dom.tags
    assert dom.states == {"shop": "up", "api": "down", "batch": "up"}  # public: services only
    assert all(len(days) == 90 for days in dom.rows.values())
    shop, api = dom.rows["shop"], dom.rows["api"]
    assert next(iter(shop)) == "2026-09-09" and list(shop)[-1] == "2026-12-07"
    # 2 h down on 2026-12-03 (22/24), with the incident in that day's tooltip; 1 h down of 12 today (11/12).
    assert words(shop["2026-12-03"]) == "2026-12-03: 91.6667% well below target incident 10:00 – 12:00 (2h)"
    assert words(shop["2026-12-02"]) == "2026-12-02: 100%"
    assert words(api["2026-12-07"]) == "2026-12-07: 91.6667% well below target incident 11:00 – ongoing (1h)"
    assert words(api["2026-11-06"]) == "2026-11-06: no data"
    assert "no data" not in words(" ".join(dom.rows["batch"].values()))
    for secret in SECRETS:
        assert secret not in served and secret not in str(seen["html"])

    content, viewport = seen["widths"]
    assert viewport == width and content <= viewport, f"{content} px of content in a {viewport} px viewport"
    # The inline style applied under the CSP: a day is a grid cell, 1/30 or 1/90 of the bar (less the gaps).
    cell, bar = seen["cell"], seen["bar"]
    assert cell is not None and bar is not None
    cell_w, bar_w = cell[2] - cell[0], bar[2] - bar[0]
    assert bar_w / COLUMNS[size] - 3 < cell_w <= bar_w / COLUMNS[size]
    assert seen["closed tip"] is None and seen["blurred tip"] is None  # tooltips hidden until asked for
    for how in ("tapped", "hovered"):
        assert inside(seen[f"{how} tip"], width), f"{how}: tooltip at {seen[f'{how} tip']}"
        content, viewport = seen[f"{how} widths"]
        assert content <= viewport == width

    for path in (shot, tapped, hovered):
        assert png_size(path) == (width, height)
    assert shot.stat().st_size > 20_000  # a blank page of this size compresses to a few kilobytes
