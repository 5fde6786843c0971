"""Per-day uptime bars for the HTML claim report: geometry, inline SVG and the legend.

Input is the report document's ``days`` list (reports/days.py): per local calendar day, its span within the cycle
(``start_ms``/``end_ms``; a document stored before those existed has only the ISO ``start``/``end``, read instead)
and segments as fractions ``[start_frac, end_frac)`` of that span. A document without ``days`` at all (stored by an
older version) gets one bar over the cycle from its incidents, from the ISO times it holds (``days_from_incidents``).
Geometry is in SVG user units; a bar is ``BAR_WIDTH`` wide and stands for one whole local day (00:00 to 24:00) when
the cycle is at least a day long, or for the cycle itself when it is shorter than a day (demo cycles). A partial first
or last day then fills only its own part of the bar ("frame"). Time inside a frame that no segment covers (before
monitoring began, or not measured yet) is drawn as ``not_measured``, so the segments of a day always tile its frame
exactly. On a 23 or 25 hour DST day the bar is still one bar wide: hours are a little narrower or wider there.

Every state has a colour *and* a pattern, so the bars still read when printed in black and white.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from probe_agent.reports.json_types import DayJson, ReportDoc, SegmentJson

BAR_WIDTH = 560.0
BAR_HEIGHT = 18.0
# A down span narrower than this (a few seconds in a day) is drawn this wide, so no outage is invisible; the layout
# itself keeps the exact widths.
MIN_DOWN_WIDTH = 1.5
NOT_MEASURED = "not_measured"
OUTSIDE_INCIDENTS = "outside_incidents"


@dataclass(frozen=True)
class StateStyle:
    label: str
    fill: str
    ink: str  # the pattern's stroke colour; "" for a plain fill
    pattern: str  # SVG markup drawn over the fill inside a 6x6 tile


STATE_STYLES: dict[str, StateStyle] = {
    "up": StateStyle("up", "#5cb874", "", ""),
    "degraded": StateStyle(
        "degraded (slow; counted as the SLA says)",
        "#e8b33a",
        "#8a6100",
        '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2"/>',
    ),
    "down": StateStyle(
        "down", "#a61b1b", "#2b0505", '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2 M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2"/>'
    ),
    "unknown": StateStyle(
        "unknown (the agent could not tell)", "#a995d6", "#3d2a73", '<circle cx="3" cy="3" r="1.1"/>'
    ),
    "no_data": StateStyle("no data", "#c9ced6", "#59616d", '<path d="M0,3 h6"/>'),
    "excluded": StateStyle("excluded (maintenance or exclusion)", "#8fb8de", "#1f4e79", '<path d="M3,0 v6"/>'),
    NOT_MEASURED: StateStyle("not measured (before monitoring began, or not yet)", "#ffffff", "", ""),
    OUTSIDE_INCIDENTS: StateStyle(
        "outside incidents (not broken down by state)", "#e4e7eb", "#9aa3ad", '<path d="M0,0 l6,6"/>'
    ),
}
_UNKNOWN_STATE = StateStyle("", "#777777", "", "")


def style_of(state: str) -> StateStyle:
    return STATE_STYLES.get(state, _UNKNOWN_STATE)


@dataclass(frozen=True)
class BarSegment:
    """One drawn span: ``x`` and ``width`` in SVG units, ``start_frac``/``end_frac`` of the day's own span."""

    x: float
    width: float
    state: str
    start_frac: float
    end_frac: float


@dataclass(frozen=True)
class DayBar:
    """One day's bar: the frame it fills (``frame_x``, ``frame_width``) and the segments that tile it."""

    label: str
    frame_x: float
    frame_width: float
    segments: tuple[BarSegment, ...]
    availability_percent: float | None
    down_s: float | None
    start: datetime | None  # the day's span within the cycle, local; None when the document's times do not parse
    end: datetime | None


def tile(segments: list[SegmentJson]) -> list[tuple[float, float, str]]:
    """Segments as ``(start_frac, end_frac, state)`` covering [0, 1] exactly, in order.

    Gaps become ``not_measured``; overlaps (from rounding to 6 decimals) are cut at the earlier segment's end;
    fractions are clamped to [0, 1]; adjacent spans of one state are merged.
    """
    out: list[tuple[float, float, str]] = []
    cursor = 0.0

    def add(lo: float, hi: float, state: str) -> None:
        if out and out[-1][2] == state and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, state)
        else:
            out.append((lo, hi, state))

    for seg in sorted(segments, key=lambda s: float(s["start_frac"])):
        lo = min(max(float(seg["start_frac"]), cursor, 0.0), 1.0)
        hi = min(max(float(seg["end_frac"]), 0.0), 1.0)
        if hi <= lo:
            continue
        if lo > cursor:
            add(cursor, lo, NOT_MEASURED)
        add(lo, hi, str(seg["state"]))
        cursor = hi
    if cursor < 1.0:
        add(cursor, 1.0, NOT_MEASURED)
    return out


def zone(doc: ReportDoc) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(doc["cycle"]["timezone"]))
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        return None


def parse_local(value: Any, tz: ZoneInfo | None) -> datetime | None:
    """An aware datetime for an ISO 8601 string with an offset, in ``tz`` when given; None when it does not parse."""
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt.astimezone(tz) if tz is not None else dt


def day_span(day: DayJson, tz: ZoneInfo | None) -> tuple[datetime | None, datetime | None]:
    """The day's span within the cycle as aware datetimes (in ``tz`` when given): from the epoch-ms numbers the
    document holds (``start_ms``, ``end_ms``), or, in a document stored before it held them, parsed from
    ``start``/``end``. None where a time is missing or does not parse."""
    start_ms, end_ms = day.get("start_ms"), day.get("end_ms")
    if tz is not None and start_ms is not None and end_ms is not None:
        return _from_ms(start_ms, tz), _from_ms(end_ms, tz)
    return parse_local(day.get("start"), tz), parse_local(day.get("end"), tz)


def _from_ms(ms: int, tz: ZoneInfo) -> datetime:
    """Epoch ms as an aware datetime in ``tz``, exact to the millisecond (no float division)."""
    return datetime.fromtimestamp(ms // 1000, tz) + timedelta(milliseconds=ms % 1000)


def _day_fraction(day: DayJson, tz: ZoneInfo | None) -> tuple[float, float] | None:
    """Where the day's span sits within its local calendar day (00:00 to the next 00:00), as fractions."""
    start, end = day_span(day, tz)
    if tz is None or start is None or end is None:
        return None
    try:
        d = date.fromisoformat(str(day["date"]))
    except (KeyError, ValueError):
        return None
    midnight = datetime(d.year, d.month, d.day, tzinfo=tz)
    # Wall-clock arithmetic in one ZoneInfo gives the next local midnight; timestamps then give the real length
    # (23 or 25 hours on a DST day). Subtracting two datetimes of one ZoneInfo would ignore the DST change.
    length = (midnight + timedelta(days=1)).timestamp() - midnight.timestamp()
    lo = (start.timestamp() - midnight.timestamp()) / length
    hi = (end.timestamp() - midnight.timestamp()) / length
    return min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)


def layout_days(days: list[DayJson], tz: ZoneInfo | None) -> tuple[list[DayBar], bool]:
    """The bars, and whether they are on a 24-hour scale (True) or each spans its own day's part (False)."""
    placed = [_day_fraction(d, tz) for d in days]
    full_day = len(days) > 1 or (
        len(days) == 1 and placed[0] is not None and placed[0][0] < 1e-9 and placed[0][1] > 1 - 1e-9
    )
    calendar = full_day and all(p is not None for p in placed)
    bars = []
    for day, p in zip(days, placed, strict=True):
        lo, hi = p if calendar and p is not None else (0.0, 1.0)
        bars.append(layout_day(day, lo * BAR_WIDTH, (hi - lo) * BAR_WIDTH, tz))
    return bars, calendar


def layout_day(day: DayJson, frame_x: float, frame_width: float, tz: ZoneInfo | None) -> DayBar:
    """Lay a day's segments over its frame; edges are rounded once so the widths add up to the frame's."""
    edges: list[BarSegment] = []
    for lo, hi, state in tile(list(day.get("segments") or [])):
        x0 = round(frame_x + lo * frame_width, 3)
        x1 = round(frame_x + hi * frame_width, 3)
        edges.append(BarSegment(x0, round(x1 - x0, 3), state, lo, hi))
    start, end = day_span(day, tz)
    return DayBar(
        label=str(day.get("date", "")),
        frame_x=frame_x,
        frame_width=frame_width,
        segments=tuple(edges),
        availability_percent=day.get("availability_percent"),
        down_s=day.get("down_s"),
        start=start,
        end=end,
    )


def _span_s(bar: DayBar) -> float:
    """The real length of the day's span in seconds (timestamps: correct across a DST change)."""
    if bar.start is None or bar.end is None:
        return 86_400.0
    return bar.end.timestamp() - bar.start.timestamp()


def _at(bar: DayBar, frac: float) -> datetime | None:
    if bar.start is None:
        return None
    return datetime.fromtimestamp(bar.start.timestamp() + _span_s(bar) * frac, tz=bar.start.tzinfo)


def _clock(dt: datetime | None, seconds: bool) -> str:
    if dt is None:
        return "?"
    return dt.strftime("%H:%M:%S" if seconds else "%H:%M")


def _patterns(prefix: str, states: set[str]) -> str:
    defs = []
    for state in sorted(states):
        s = style_of(state)
        if s.pattern:
            defs.append(
                f'<pattern id="{prefix}-{state}" width="6" height="6" patternUnits="userSpaceOnUse">'
                f'<rect width="6" height="6" fill="{s.fill}"/>'
                f'<g stroke="{s.ink}" fill="{s.ink}" stroke-width="0.9">{s.pattern}</g></pattern>'
            )
    return f"<defs>{''.join(defs)}</defs>" if defs else ""


def _paint(prefix: str, state: str) -> str:
    s = style_of(state)
    return f"url(#{prefix}-{state})" if s.pattern else s.fill


def day_bar_svg(bar: DayBar, index: int) -> str:
    """An inline SVG for one day; each segment a ``rect`` with class ``seg seg-<state>`` and a tooltip."""
    prefix = f"b{index}"
    show_seconds = _span_s(bar) < 4 * 3600
    rects = []
    for seg in bar.segments:
        width = max(seg.width, MIN_DOWN_WIDTH) if seg.state == "down" else seg.width
        x = min(seg.x, BAR_WIDTH - width)
        state_text = style_of(seg.state).label or seg.state
        tip = (
            f"{state_text}: {_clock(_at(bar, seg.start_frac), show_seconds)} to "
            f"{_clock(_at(bar, seg.end_frac), show_seconds)}"
        )
        rects.append(
            f'<rect class="seg seg-{html.escape(seg.state)}" x="{x:g}" y="0" width="{width:g}" '
            f'height="{BAR_HEIGHT:g}" fill="{html.escape(_paint(prefix, seg.state))}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
    frame = (
        f'<rect class="frame" x="{bar.frame_x:g}" y="0.25" width="{bar.frame_width:g}" height="{BAR_HEIGHT - 0.5:g}" '
        'fill="none" stroke="#4b5563" stroke-width="0.5"/>'
    )
    outside = (
        f'<rect x="0" y="0.25" width="{BAR_WIDTH:g}" height="{BAR_HEIGHT - 0.5:g}" fill="none" stroke="#c4c9d0" '
        'stroke-width="0.5" stroke-dasharray="2 2"/>'
    )
    safe_states = {s.state for s in bar.segments if s.state in STATE_STYLES}
    return (
        f'<svg class="day-bar" data-date="{html.escape(bar.label)}" viewBox="0 0 {BAR_WIDTH:g} {BAR_HEIGHT:g}" '
        f'width="{BAR_WIDTH:g}" height="{BAR_HEIGHT:g}" role="img" shape-rendering="crispEdges" '
        f'aria-label="uptime bar {html.escape(bar.label)}">'
        f"{_patterns(prefix, safe_states)}{outside}{''.join(rects)}{frame}</svg>"
    )


def axis_html(bars: list[DayBar], calendar: bool) -> str:
    """Time labels above the bars: 00:00 to 24:00 on a 24-hour scale, else the single bar's own clock times.

    HTML rather than SVG text, so the labels keep a readable size however far the bars are scaled down.
    """
    fracs = (0.0, 0.25, 0.5, 0.75, 1.0)
    if calendar:
        labels = ["00:00", "06:00", "12:00", "18:00", "24:00"]
    else:
        labels = [_clock(_at(bars[0], f), _span_s(bars[0]) < 4 * 3600) for f in fracs]
    spans = []
    for frac, label in zip(fracs, labels, strict=True):
        shift = "0" if frac == 0 else ("-100%" if frac == 1 else "-50%")
        spans.append(f'<span style="left:{frac * 100:g}%;transform:translateX({shift})">{html.escape(label)}</span>')
    return f'<div class="axis" aria-hidden="true">{"".join(spans)}</div>'


def legend_html(states: list[str]) -> str:
    """A legend entry (swatch with the same pattern, and words) for each state, in a fixed order."""
    order = list(STATE_STYLES)
    entries = []
    for state in sorted(set(states), key=lambda s: order.index(s) if s in order else len(order)):
        prefix = "lg"
        s = style_of(state)
        known = state in STATE_STYLES
        swatch = (
            f'<svg class="swatch" viewBox="0 0 18 12" width="18" height="12" aria-hidden="true">'
            f"{_patterns(f'{prefix}-{state}', {state}) if known else ''}"
            f'<rect x="0.25" y="0.25" width="17.5" height="11.5" '
            f'fill="{html.escape(_paint(f"{prefix}-{state}", state)) if known else s.fill}" '
            'stroke="#4b5563" stroke-width="0.5"/></svg>'
        )
        entries.append(f'<li class="legend-{html.escape(state)}">{swatch}{html.escape(s.label or state)}</li>')
    return f'<ul class="legend">{"".join(entries)}</ul>'


def days_from_incidents(doc: ReportDoc) -> list[DayJson]:
    """A single bar over the whole cycle when the document has no ``days``: incidents as down, the rest unsplit.

    Time after ``measured_until`` is left blank (not measured). Returns [] when the cycle's times do not parse.
    """
    cycle = doc["cycle"]
    start, end = parse_local(cycle.get("start"), None), parse_local(cycle.get("end"), None)
    if start is None or end is None or end <= start:
        return []
    until = parse_local(cycle.get("measured_until"), None) or end
    length = end.timestamp() - start.timestamp()

    def frac(dt: datetime) -> float:
        return min(max((dt.timestamp() - start.timestamp()) / length, 0.0), 1.0)

    measured = frac(until)
    segments: list[SegmentJson] = [{"start_frac": 0.0, "end_frac": measured, "state": OUTSIDE_INCIDENTS}]
    for inc in doc.get("incidents") or []:
        lo = parse_local(inc.get("start"), None)
        hi = parse_local(inc.get("end"), None) or until
        if lo is not None and hi > lo:
            segments.append({"start_frac": frac(lo), "end_frac": min(frac(hi), measured), "state": "down"})
    # Incidents override the background: cut the background around them before tiling.
    segments = _overlay(segments)
    seconds = doc.get("seconds")
    return [
        {
            "date": "whole cycle",
            "start": cycle["start"],
            "end": cycle["end"],
            "segments": segments,
            "availability_percent": doc.get("availability_percent"),
            "down_s": seconds["down"] if seconds else 0.0,  # drawn as "–" either way
        }
    ]


def _overlay(segments: list[SegmentJson]) -> list[SegmentJson]:
    """The first segment is a background; later ones are painted over it (and over each other, in order)."""
    base, *tops = segments
    pieces = [(float(base["start_frac"]), float(base["end_frac"]), str(base["state"]))]
    for top in tops:
        lo, hi = float(top["start_frac"]), float(top["end_frac"])
        if hi <= lo:
            continue
        cut = []
        for a, b, s in pieces:
            if a < lo:
                cut.append((a, min(b, lo), s))
            if b > hi:
                cut.append((max(a, hi), b, s))
        pieces = sorted([*cut, (lo, hi, str(top["state"]))])
    return [{"start_frac": a, "end_frac": b, "state": s} for a, b, s in pieces if b > a]
