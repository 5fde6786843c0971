"""The HTML claim report without a browser: escaping, self-containment, bar geometry, and the edge documents.

The month document's ``days`` come from the real producer (reports/days.py) over hand-placed bucket spans, so the
geometry below is checked against figures computed by hand, including a 25-hour DST day in Europe/Berlin.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe_agent.model import dt_to_ms
from probe_agent.render.html import claim_report_html
from probe_agent.render.uptime_bar import (
    BAR_WIDTH,
    MIN_DOWN_WIDTH,
    NOT_MEASURED,
    days_from_incidents,
    layout_day,
    layout_days,
    tile,
    zone,
)
from probe_agent.reports.days import daily_bars
from probe_agent.reports.json_numbers import local_iso
from probe_agent.sla.availability import Bucket, BucketSpan, Policies
from probe_agent.sla.periods import Period

BERLIN = ZoneInfo("Europe/Berlin")
T0 = "2026-11-22T08:15"
SECONDS = {
    "total": 58.914,
    "up": 0.0,
    "degraded": 11.222,
    "down": 10.043,
    "unknown": 0.0,
    "no_data": 37.649,
    "excluded": 0.0,
    "counted_up": 11.222,
    "counted_down": 10.043,
}
INCIDENT = {
    "start": f"{T0}:05.200+00:00",
    "end": f"{T0}:15.243+00:00",
    "duration_s": 10.043,
    "down_s": 10.043,
    "cause": "http_status",
    "endpoints": ["outage"],
    "ongoing": False,
}
FEE = "fee 1200.00 EUR prorated to the covered 58s914ms of the 1m cycle: 1178.28 EUR (rounded half-up to 2 places)"
RULE = "tier below 95% -> 25% (availability ~52.772160% (exactly 224440/4253 %))"
# The document of a real one-minute demo cycle (`make demo`), trimmed to one service and one endpoint.
# fmt: off
SAMPLE: dict[str, Any] = {
    "sla": "demo", "customer": "ACME", "provider": "", "preset": None,
    "cycle": {"label": f"{T0}:00Z/2026-11-22T08:16:00Z", "start": f"{T0}:00+00:00", "end": "2026-11-22T08:16:00+00:00",
              "timezone": "Etc/UTC", "complete": True, "measured_until": "2026-11-22T08:16:00+00:00",
              "monitoring_start": f"{T0}:01.086+00:00", "covered_fraction": 0.9819},
    "target_percent": 99.9, "counting": {"method": "time"},
    "policies": {"unknown": "exclude", "no_data": "exclude", "degraded_counts_as": "up"},
    "availability_percent": 52.772161, "availability_exact": "11222/21265", "met": False,
    "generated_at": "2026-11-22T08:21:11.549Z",
    "inputs_hash": "4133f8a8b131e6d90ade000c273ffb15b776161c028d24c4af641470cef678a6",
    "time_availability_percent": 52.772161, "seconds": SECONDS, "coverage_percent": 36.094986,
    "budget": {"allowed_s": 0.059, "used_s": 10.043, "remaining_s": -9.984, "elapsed_percent": 100.0,
               "burn_rate": 170.4688, "projected_availability_percent": 82.953118, "exhausted": True},
    "bounds": {"probe_interval_s": 1.0, "state_changes": 2, "min_down_s": 8.043, "max_down_s": 12.043,
               "min_availability_percent": 43.367035, "max_availability_percent": 62.177287},
    "incidents": [INCIDENT],
    "incident_stats": {"count": 1, "mttr_s": 10.043, "mtbf_s": None, "longest_s": 10.043},
    "max_incident_duration_s": None, "incidents_too_long": [],
    "services": [{"service": "web", "availability_percent": 52.772161, "availability_exact": "11222/21265",
                  "met": False, "seconds": SECONDS, "coverage_percent": 36.094986, "incidents": [INCIDENT]}],
    "endpoints": [{"endpoint": "outage", "availability_percent": 53.986072, "availability_exact": "11783/21826",
                   "met": False, "seconds": SECONDS | {"up": 11.783, "degraded": 0.0}, "coverage_percent": 37.047221,
                   "incidents": [INCIDENT]}],
    "objectives": {"latency": {"percentile": 95.0, "below_ms": 800, "value_ms": 620.704, "samples": 72, "met": True},
                   "error_rate": {"below_percent": 1.0, "rate_percent": 8.333333, "down": 6, "definite": 72,
                                  "met": False}},
    "maintenance": [],
    "days": [{"date": "2026-11-22", "start": f"{T0}:00+00:00", "end": "2026-11-22T08:16:00+00:00",
              "segments": [{"start_frac": 0.0181, "end_frac": 0.029333, "state": "no_data"},
                           {"start_frac": 0.029333, "end_frac": 0.086667, "state": "degraded"},
                           {"start_frac": 0.086667, "end_frac": 0.25405, "state": "down"},
                           {"start_frac": 0.25405, "end_frac": 0.38375, "state": "degraded"},
                           {"start_frac": 0.38375, "end_frac": 1.0, "state": "no_data"}],
              "availability_percent": 52.7722, "down_s": 10.043}],
    "exclusions": [],
    "credit": {"percent": "25", "amount": "294.57", "currency": "EUR", "charged_fee": "1178.28", "rule": RULE,
               "steps": [FEE, "availability ~52.772160% (exactly 224440/4253 %)", f"tiers: {RULE}",
                         "combine max of 25% = 25%",
                         "amount = 1178.28 EUR x 25% = 294.57 EUR (rounded half-up to 2 decimal places)",
                         "credit: 294.57 EUR (25% of 1178.28 EUR)"],
               "components": [{"model": "tiers", "percent": "25", "rule": RULE}],
               "capped": False, "below_minimum": False, "provisional": False},
    "claim_deadline": "2026-12-22T08:16:00+00:00", "warnings": [],
    "verify": {"command": f"probe-agent report --sla demo --from {T0}:00+00:00 --to 2026-11-22T08:16:00+00:00 "
                          "--format json",
               "data": "state intervals, exclusions and the SLA's config, hashed as inputs_hash; raw results via "
                       f"probe-agent export --from {T0}:00+00:00 --to 2026-11-22T08:16:00+00:00"},
}
# fmt: on


def sample_doc() -> dict[str, Any]:
    """A fresh deep copy of the demo cycle's document."""
    return copy.deepcopy(SAMPLE)


def at(text: str) -> int:
    """Epoch ms of a Berlin wall-clock time, ``YYYY-MM-DD HH:MM`` (never an ambiguous hour here)."""
    return dt_to_ms(datetime.fromisoformat(text).replace(tzinfo=BERLIN))


# Monitoring begins at noon on the first day; the cycle (Oct 15 to Nov 15, DST ends Oct 25) is measured until
# Nov 3, 14:30, so it is provisional. Down: Oct 20 10:00-10:30 and 18:00-18:05, Oct 25 12:00-13:00 (25-hour day).
DOWN_SPANS = [("2026-10-20 10:00", "2026-10-20 10:30"), ("2026-10-20 18:00", "2026-10-20 18:05")]
DOWN_SPANS += [("2026-10-25 12:00", "2026-10-25 13:00")]
EXPECTED_DOWN = {"2026-10-20": 2, "2026-10-25": 1}


def month_buckets() -> tuple[BucketSpan, ...]:
    marks: list[tuple[int, int, Bucket]] = [(at(a), at(b), Bucket.DOWN) for a, b in DOWN_SPANS]
    marks += [(at("2026-10-28 02:00"), at("2026-10-28 04:00"), Bucket.EXCLUDED)]
    marks += [(at("2026-10-30 06:00"), at("2026-10-30 06:20"), Bucket.NO_DATA)]
    marks += [(at("2026-10-31 09:00"), at("2026-10-31 09:10"), Bucket.UNKNOWN)]
    marks += [(at("2026-11-01 15:00"), at("2026-11-01 17:00"), Bucket.DEGRADED)]
    spans = []
    cursor = at("2026-10-15 12:00")
    for lo, hi, bucket in sorted(marks):
        spans.append(BucketSpan(cursor, lo, Bucket.UP))
        spans.append(BucketSpan(lo, hi, bucket))
        cursor = hi
    spans.append(BucketSpan(cursor, at("2026-11-03 14:30"), Bucket.UP))
    return tuple(spans)


def month_doc() -> dict[str, Any]:
    """A provisional monthly cycle with hostile user input in every free-text field."""
    doc = sample_doc()
    period = Period(at("2026-10-15 00:00"), at("2026-11-15 00:00"), "2026-10")
    doc["cycle"] = {
        "label": "2026-10",
        "start": local_iso(period.start_ms, BERLIN),
        "end": local_iso(period.end_ms, BERLIN),
        "timezone": "Europe/Berlin",
        "complete": False,
        "measured_until": local_iso(at("2026-11-03 14:30"), BERLIN),
        "monitoring_start": local_iso(at("2026-10-15 12:00"), BERLIN),
        "covered_fraction": 0.6,
    }
    doc["customer"] = 'Müller & <b>Söhne</b> "GmbH"'
    doc["provider"] = "Cloud<Co>"
    doc["availability_percent"] = 99.789123
    doc["days"] = daily_bars(period, BERLIN, month_buckets(), Policies())
    doc["incidents"] = [
        {
            "start": local_iso(at(a), BERLIN),
            "end": local_iso(at(b), BERLIN),
            "duration_s": (at(b) - at(a)) / 1000,
            "down_s": (at(b) - at(a)) / 1000,
            "cause": cause,
            "endpoints": ['api"><svg onload=alert(1)>'],
            "ongoing": False,
        }
        for (a, b), cause in zip(DOWN_SPANS, ["connect_timeout", "http_status", "tls_expired"], strict=True)
    ]
    doc["exclusions"] = [
        {
            "id": 7,
            "kind": "maintenance",
            "scope": "sla:demo",
            "start": local_iso(at("2026-10-28 02:00"), BERLIN),
            "end": local_iso(at("2026-10-28 04:00"), BERLIN),
            "reason": '<script>alert("pwned")</script> planned DB upgrade',
            "author": "ops<team>",
            "created": "2026-10-27T10:00:00.000Z",
        }
    ]
    doc["maintenance"] = [
        {
            "start": local_iso(at("2026-11-01 01:00"), BERLIN),
            "end": local_iso(at("2026-11-01 02:00"), BERLIN),
            "label": "<i>weekly</i>",
            "excluded": False,
            "reason": "announced too late (<24h)",
        }
    ]
    doc["warnings"] = ["endpoint <img src=x onerror=alert(2)> has no data since 2026-11-02"]
    doc["credit"] = copy.deepcopy(doc["credit"]) | {"amount": "1234.50", "currency": "EUR", "provisional": True}
    return doc


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "section", "div", "span", "h1", "h2",
    "h3", "p", "strong", "code", "pre", "dl", "dt", "dd", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
    "td", "svg", "defs", "pattern", "rect", "path", "circle", "g", "line", "text",
}  # fmt: skip


@pytest.mark.fault(
    "<script> and onerror= in names, reasons and labels, HTML claim report",
    expected="escaped; only allowed tags, no on* attributes",
)
def test_user_input_is_escaped_everywhere() -> None:
    out = claim_report_html(month_doc())
    assert "<script" not in out
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; planned DB upgrade" in out
    assert "Müller &amp; &lt;b&gt;Söhne&lt;/b&gt; &quot;GmbH&quot;" in out
    assert "Cloud&lt;Co&gt;" in out and "ops&lt;team&gt;" in out and "&lt;i&gt;weekly&lt;/i&gt;" in out
    assert "endpoint &lt;img src=x onerror=alert(2)&gt; has no data" in out
    assert "api&quot;&gt;&lt;svg onload=alert(1)&gt;" in out
    parsed = TagCollector()
    parsed.feed(out)
    assert parsed.tags <= ALLOWED_TAGS, parsed.tags - ALLOWED_TAGS
    assert not {a for a in parsed.attrs if a.startswith("on")}


def test_document_is_self_contained() -> None:
    out = claim_report_html(month_doc())
    assert not re.search(r"https?://|@import|@font-face", out)
    parsed = TagCollector()
    parsed.feed(out)
    assert not parsed.attrs & {"src", "href", "xlink:href", "srcset", "action"}
    # Patterns are referenced within the document only.
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", out))
    assert "@media print" in out and "size: A4" in out


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([], [(0.0, 1.0, NOT_MEASURED)]),
        (
            [(0.1, 0.4, "down"), (0.4, 0.5, "down"), (0.5, 0.9, "up")],
            [(0.0, 0.1, NOT_MEASURED), (0.1, 0.5, "down"), (0.5, 0.9, "up"), (0.9, 1.0, NOT_MEASURED)],
        ),
        ([(0.5, 1.0, "up"), (0.0, 0.5, "down")], [(0.0, 0.5, "down"), (0.5, 1.0, "up")]),
        ([(0.0, 0.5, "up"), (0.499999, 0.7, "down")], [(0.0, 0.5, "up"), (0.5, 0.7, "down"), (0.7, 1.0, NOT_MEASURED)]),
        ([(-0.1, 1.2, "excluded")], [(0.0, 1.0, "excluded")]),
        ([(0.3, 0.3, "down"), (0.0, 1.0, "up")], [(0.0, 1.0, "up")]),
    ],
)
def test_tile_fills_gaps_cuts_overlaps_and_merges(
    segments: list[tuple[float, float, str]], expected: list[tuple[float, float, str]]
) -> None:
    given_segments = [{"start_frac": a, "end_frac": b, "state": s} for a, b, s in segments]
    assert tile(given_segments) == expected


fracs = st.floats(min_value=-0.2, max_value=1.2, allow_nan=False)
states = st.sampled_from(["up", "degraded", "down", "unknown", "no_data", "excluded"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(fracs, fracs, states), max_size=12),
    st.floats(min_value=0, max_value=BAR_WIDTH / 2),
    st.floats(min_value=1, max_value=BAR_WIDTH / 2),
)
def test_segment_widths_sum_to_the_days_width(
    raw: list[tuple[float, float, str]], frame_x: float, frame_width: float
) -> None:
    day = {"date": "2026-11-22", "segments": [{"start_frac": a, "end_frac": b, "state": s} for a, b, s in raw]}
    bar = layout_day(day, frame_x, frame_width, None)
    assert sum(s.width for s in bar.segments) == pytest.approx(frame_width, abs=2e-3)
    assert bar.segments[0].x == pytest.approx(frame_x, abs=1e-3)
    for left, right in zip(bar.segments, bar.segments[1:], strict=False):
        assert right.x == pytest.approx(left.x + left.width, abs=1e-9)  # contiguous, no overlap
        assert left.state != right.state  # merged
    assert all(s.width >= 0 for s in bar.segments)


def test_month_bars_on_a_24_hour_scale_with_a_dst_day() -> None:
    doc = month_doc()
    bars, calendar = layout_days(doc["days"], zone(doc))
    assert calendar
    assert [b.label for b in bars][:2] == ["2026-10-15", "2026-10-16"] and bars[-1].label == "2026-11-14"
    assert len(bars) == 31
    first = bars[0]  # the whole first day is in the cycle, but monitoring began at noon: left half not measured
    assert (first.frame_x, first.frame_width) == (0.0, BAR_WIDTH)
    assert [(s.x, s.width, s.state) for s in first.segments] == [(0.0, 280.0, NOT_MEASURED), (280.0, 280.0, "up")]
    dst = next(b for b in bars if b.label == "2026-10-25")
    # 25 real hours: local 12:00 CET is 13 real hours after local midnight (CEST).
    down = [s for s in dst.segments if s.state == "down"]
    assert len(down) == 1
    assert down[0].x == pytest.approx(13 / 25 * 560) and down[0].width == pytest.approx(560 / 25)
    measured_until = next(b for b in bars if b.label == "2026-11-03")
    assert [(s.x, s.state) for s in measured_until.segments] == [
        (0.0, "up"),
        (pytest.approx(14.5 / 24 * 560, abs=1e-3), NOT_MEASURED),
    ]
    assert all(b.segments == (b.segments[0],) and b.segments[0].state == NOT_MEASURED for b in bars[-11:])
    assert sum(b.down_s or 0 for b in bars) == pytest.approx(30 * 60 + 5 * 60 + 3600)


def test_dst_day_tooltips_show_local_wall_clock() -> None:
    out = claim_report_html(month_doc())
    svg = re.search(r'<svg class="day-bar" data-date="2026-10-25".*?</svg>', out)
    assert svg is not None
    assert "<title>down: 12:00 to 13:00</title>" in svg.group(0)


def test_one_bar_per_day_with_its_down_segments() -> None:
    doc = month_doc()
    out = claim_report_html(doc)
    svgs = re.findall(r'<svg class="day-bar" data-date="([^"]+)".*?</svg>', out)
    assert svgs == [d["date"] for d in doc["days"]]
    for m in re.finditer(r'<svg class="day-bar" data-date="([^"]+)".*?</svg>', out):
        assert m.group(0).count('class="seg seg-down"') == EXPECTED_DOWN.get(m.group(1), 0), m.group(1)
    # The legend names every state drawn, in words.
    for words in ("down", "degraded (slow", "excluded (maintenance", "no data", "unknown (the agent", "not measured"):
        assert words in out


def test_a_short_outage_stays_visible_but_the_layout_stays_exact() -> None:
    day = {"date": "2026-11-22", "segments": [{"start_frac": 0.5, "end_frac": 0.5 + 1 / 86_400, "state": "down"}]}
    bar = layout_day(day, 0.0, BAR_WIDTH, None)
    down = next(s for s in bar.segments if s.state == "down")
    assert down.width == pytest.approx(0.006, abs=1e-3)
    out = claim_report_html(sample_doc() | {"days": [day]})
    assert f'class="seg seg-down" x="280" y="0" width="{MIN_DOWN_WIDTH:g}"' in out


def test_provisional_marker_only_while_the_cycle_runs() -> None:
    running = claim_report_html(month_doc())
    assert "PROVISIONAL" in running and "Provisional: the cycle is not over" in running
    assert "Measured until 2026-11-03 14:30:00 +01:00" in running
    assert "provisional: the cycle is not over" in running  # on the credit too
    done = claim_report_html(sample_doc()).split("</style>")[1]
    assert "PROVISIONAL" not in done and "rovisional" not in done


def test_figures_money_and_times_as_given() -> None:
    out = claim_report_html(month_doc())
    assert "99.7891%" in out
    assert "1234.50 EUR" in out  # money is the document's string, never re-rounded
    assert "2026-10-20 10:00:00 +02:00" in out and "2026-10-25 12:00:00 +01:00" in out  # local, with offsets
    assert 'connection timed out <code class="kind">connect_timeout</code>' in out
    assert "TLS certificate expired" in out
    assert "TARGET MISSED" in out
    sample = claim_report_html(sample_doc())
    assert "52.7722%" in sample and "294.57 EUR" in sample and "11222/21265" in sample
    assert "43.3670% to 62.1773%" in sample  # the measurement bounds
    assert "probe-agent report --sla demo --from 2026-11-22T08:15:00+00:00" in sample
    assert sample_doc()["inputs_hash"] in sample


def test_short_cycle_bar_spans_the_cycle() -> None:
    doc = sample_doc()
    bars, calendar = layout_days(doc["days"], zone(doc))
    assert not calendar and len(bars) == 1
    assert [s.state for s in bars[0].segments] == [NOT_MEASURED, "no_data", "degraded", "down", "degraded", "no_data"]
    out = claim_report_html(doc)
    for label in ("08:15:00", "08:15:15", "08:15:30", "08:15:45", "08:16:00"):
        assert f">{label}</span>" in out


def no_data_doc() -> dict[str, Any]:
    """What build.py makes when nothing was probed yet: no evaluation, so no seconds, days or incidents."""
    keep = ("sla", "customer", "provider", "preset", "cycle", "target_percent", "counting", "policies")
    doc = {k: v for k, v in sample_doc().items() if k in keep}
    doc["cycle"] |= {"complete": False, "monitoring_start": None, "covered_fraction": None}
    return doc | {
        "availability_percent": None,
        "availability_exact": None,
        "met": None,
        "generated_at": "2026-11-22T08:15:30.000Z",
        "inputs_hash": "ab" * 32,
        "exclusions": [],
        "credit": None,
        "claim_deadline": None,
        "warnings": ["no data for this period: nothing was probed or imported for its endpoints yet"],
        "verify": {"command": "probe-agent report --sla demo --format json", "data": "state intervals"},
    }


def test_no_data_document() -> None:
    out = claim_report_html(no_data_doc())
    assert "NO DATA COUNTED" in out and "TARGET M" not in out
    assert "n/a (nothing counted)" in out
    assert "nothing was probed or imported" in out
    assert "No data: nothing was measured in this cycle." in out
    assert 'class="day-bar"' not in out
    assert "No incidents in this cycle." in out
    assert "This SLA has no credit terms" in out


def test_no_credit_terms() -> None:
    out = claim_report_html(sample_doc() | {"credit": None, "claim_deadline": None})
    assert "This SLA has no credit terms: no credit is computed." in out
    assert "the SLA has no credit terms" in out  # the summary card
    assert "Claim deadline" not in out


def test_without_days_one_bar_from_the_incidents() -> None:
    doc = sample_doc()
    del doc["days"]
    out = claim_report_html(doc)
    assert out.count('<svg class="day-bar"') == 1 and out.count('class="seg seg-down"') == 1
    assert "no per-day breakdown" in out
    bars, _ = layout_days(days_from_incidents(doc), zone(doc))
    down = [s for s in bars[0].segments if s.state == "down"]
    # 08:15:05.200 to 08:15:15.243 in the minute from 08:15:00: 5.2/60 and 10.043/60 of the bar.
    assert len(down) == 1
    assert down[0].x == pytest.approx(5.2 / 60 * 560, abs=1e-3)
    assert down[0].width == pytest.approx(93.735, abs=1e-3)


def test_ongoing_incident_without_days_runs_to_measured_until() -> None:
    doc = sample_doc()
    del doc["days"]
    doc["cycle"] |= {"complete": False, "measured_until": "2026-11-22T08:15:30+00:00"}
    doc["incidents"][0] |= {"end": None, "ongoing": True}
    out = claim_report_html(doc)
    assert "<strong>ongoing</strong>" in out
    (day,) = days_from_incidents(doc)
    assert tile(day["segments"])[-2:] == [(pytest.approx(5.2 / 60), 0.5, "down"), (0.5, 1.0, NOT_MEASURED)]


def test_slice_counting_is_described() -> None:
    doc = sample_doc() | {
        "counting": {"method": "slices", "unit_s": 60.0, "partial": "down", "min_run": 1},
        "slices": {"unit_s": 60.0, "partial": "down", "min_run": 1, "up": 1430, "down": 10, "excluded": 0},
    }
    out = claim_report_html(doc)
    assert "slices: 1m0s slices, partial down, min run 1; 10 down / 1430 up / 0 excluded slices" in out
