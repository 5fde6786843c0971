"""The HTML claim report in a real headless browser (Debian's chromium; `.ci/run` installs it).

Chromium runs offline (no network, no sync, no component updates, a throwaway profile) and is killed, with its
whole process group, if it takes longer than a minute.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from probe_agent.render.html import claim_report_html
from tests.render.test_html import EXPECTED_DOWN, month_doc, sample_doc

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
)
TIMEOUT_S = 60


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless chromium offline; its stdout. Kills the process group on timeout."""
    assert CHROMIUM is not None
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", *args,
    ]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True, text=True
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s")
    assert proc.returncode == 0, err[-2000:]
    return out


class DomSummary(HTMLParser):
    """Texts, and per day bar (by its date) the number of down segments, from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, int] = {}
        self.bar_order: list[str] = []
        self.current: str | None = None
        self.texts: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "svg" and "day-bar" in (a.get("class") or "").split():
            self.current = a.get("data-date") or ""
            self.bar_order.append(self.current)
            self.bars[self.current] = 0
        elif tag == "rect" and self.current is not None and "seg-down" in (a.get("class") or "").split():
            self.bars[self.current] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def rendered(tmp_path: Path, doc: dict[str, Any]) -> DomSummary:
    page = tmp_path / "report.html"
    page.write_text(claim_report_html(doc), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    summary = DomSummary()
    summary.feed(dom)
    return summary


@pytest.mark.slow
def test_month_report_survives_rendering(tmp_path: Path) -> None:
    doc = month_doc()
    dom = rendered(tmp_path, doc)
    text = " ".join(" ".join(dom.texts).split())
    assert "99.7891%" in text
    assert "1234.50 EUR" in text
    assert "PROVISIONAL" in text
    assert '<script>alert("pwned")</script> planned DB upgrade' in text  # shown as text, never run
    assert "script" not in dom.tags
    assert dom.bar_order == [d["date"] for d in doc["days"]]
    assert {d: n for d, n in dom.bars.items() if n} == EXPECTED_DOWN


@pytest.mark.slow
def test_sample_report_survives_rendering_and_screenshots(tmp_path: Path) -> None:
    dom = rendered(tmp_path, sample_doc())
    text = " ".join(" ".join(dom.texts).split())
    assert "52.7722%" in text and "294.57 EUR" in text and "TARGET MISSED" in text
    assert dom.bars == {"2026-11-22": 1}

    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", (tmp_path / "report.html").as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 2000)
    assert len(data) > 50_000  # a blank page of this size compresses to a few kilobytes
