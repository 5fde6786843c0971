"""The status page as HTML: the document of ``reports/status_page.py`` through the Jinja2 template
``templates/status_page.html`` (autoescaped; every style inline in the page, no script, no external asset).

The uptime bars are the bulk of the page (90 cells per service; 45,000 for 500 services), so their cells are
written here rather than in the template loop: each cell is a focusable ``span`` (``tabindex="0"``) whose tooltip
is a child ``span.tip`` that CSS shows on ``:hover`` and ``:focus`` (a tap focuses it), so it works without
JavaScript. A cell without incidents is the same text in every row of its group, so it is built once per (date,
figure, colour) and reused. The tooltip is placed under the whole bar, across its width, so it never overflows
the page on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from probe_agent.model import DAY_MS
from probe_agent.render.verdicts import verdict_for_customers
from probe_agent.reports.page_days import DayCell, PageIncident
from probe_agent.reports.status_page import Group, ServiceRow, StatusPageDoc
from probe_agent.units import duration_text, pct

STATE_TEXT = {
    "up": "Operational",
    "degraded": "Degraded",
    "down": "Down",
    "unknown": "Unknown",
    "no_data": "No data",
    "maintenance": "Maintenance",
}
COLOUR_TEXT = {
    "good": "at or above target",
    "warn": "below target",
    "bad": "well below target",
    "maintenance": "maintenance",
    "none": "no data",
}


@cache
def _template() -> Template:
    """The page's template, loaded and compiled once per process (from the package: ``templates/``)."""
    env = Environment(
        loader=PackageLoader("probe_agent.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("status_page.html")


def figure(value: float | None) -> str:
    """A percent as the page shows it: up to 4 decimals, trailing zeros dropped (``100%``, ``91.6667%``)."""
    if value is None:
        return "no data"
    text = pct(value, 4)[:-1]
    return text.rstrip("0").rstrip(".") + "%"


def when(ms: int, tz: ZoneInfo) -> str:
    """``2026-12-07 11:00 UTC`` in ``tz``."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M %Z")


def span_text(start_ms: int, end_ms: int, tz: ZoneInfo) -> str:
    """``2026-12-03 10:00 – 12:00 UTC``, or with both dates when it crosses midnight."""
    a = datetime.fromtimestamp(start_ms / 1000, tz)
    b = datetime.fromtimestamp(end_ms / 1000, tz)
    if a.date() == b.date():
        return f"{a:%Y-%m-%d %H:%M} – {b:%H:%M %Z}"
    return f"{a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M %Z}"


def incident_text(i: PageIncident, tz: ZoneInfo) -> str:
    """One incident in words: when, how long, how much of it was down."""
    length = duration_text(i.duration_ms // 1000 * 1000) if i.duration_ms >= 1000 else "under 1s"
    if i.ongoing:
        return f"ongoing since {when(i.start_ms, tz)} ({length} so far)"
    return f"{span_text(i.start_ms, i.end_ms, tz)} ({length})"


# Every time of day to the minute, spelled once: a cell's incident times are looked up here.
_CLOCK = [f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)]


def _clock(ms: int, day: DayCell, tz: ZoneInfo) -> str:
    """``HH:MM`` of ``ms`` when it falls on ``day``, else ``MM-DD HH:MM``. On a day of 24 hours the local offset
    does not change, so the time of day is plain arithmetic from its midnight (this runs for every incident of
    every row); a DST day, or a time on another day, goes through the zone."""
    if day.day_ms == DAY_MS and day.start_ms <= ms < day.start_ms + DAY_MS:
        return _CLOCK[(ms - day.start_ms) // 60_000]
    t = datetime.fromtimestamp(ms // 1000, tz)
    return f"{t:%H:%M}" if t.date() == day.day else f"{t:%m-%d %H:%M}"


class BarCache:
    """What the rows of one group share (they have the same days): per column its date and its cell's opening
    tags per colour, the whole cell of a day at 100 % without incidents (the same in every row), other cells
    without incidents by (date, figure, colour), and the spelled durations of incidents (whole minutes)."""

    def __init__(self, days: int) -> None:
        self.dates: list[str | None] = [None] * days
        self.opening: dict[tuple[int, str], str] = {}
        self.full: list[str | None] = [None] * days
        self.cells: dict[tuple[object, ...], str] = {}
        self.lengths: dict[int, str] = {}

    def open(self, index: int, day: DayCell) -> str:
        """The cell's opening tags, up to its tooltip's text."""
        tag = self.opening.get((index, day.colour))
        if tag is None:
            tag = self.opening[index, day.colour] = (
                f'<span class="d c-{day.colour}" tabindex="0" data-date="{self.date(index, day)}"><span class="tip">'
            )
        return tag

    def date(self, index: int, day: DayCell) -> str:
        text = self.dates[index]
        if text is None:
            text = self.dates[index] = day.day.isoformat()
        return text


def _cell(index: int, day: DayCell, tz: ZoneInfo, cache: BarCache) -> str:
    """A day's cell: its date and figure, a word for a day below target, and each incident (``incident 10:00 –
    12:00 (2h)``; a time on another day with its date). The text is made only of a date, a figure, fixed words
    and times, none of which needs escaping (no configured text reaches a cell), so it is written as is."""
    lines = [f"{cache.date(index, day)}: {figure(day.availability_percent)}"]
    if day.colour in _WORDED:
        lines.append(COLOUR_TEXT[day.colour])
    lengths = cache.lengths
    for i in day.incidents:
        minutes = i.duration_ms // 60_000
        length = lengths.get(minutes)
        if length is None:
            length = lengths[minutes] = duration_text(minutes * 60_000) if minutes else "under 1m"
        end = "ongoing" if i.ongoing else _clock(i.end_ms, day, tz)
        lines.append(f"incident {_clock(i.start_ms, day, tz)} – {end} ({length})")
    return f"{cache.open(index, day)}{'<br>'.join(lines)}</span></span>"


_WORDED = frozenset(("warn", "bad", "maintenance"))  # colours whose meaning the tooltip also says in words


def bar_html(days: tuple[DayCell, ...], tz: ZoneInfo, cache: BarCache) -> Markup:
    """A row's cells (the tight loop of the page: 90 per service). ``cache`` must be shared only by rows of one
    group (the same days)."""
    out = []
    full = cache.full
    for index, day in enumerate(days):
        if day.incidents:
            out.append(_cell(index, day, tz, cache))
        elif day.availability_percent == 100.0:
            text = full[index]
            if text is None:
                text = full[index] = _cell(index, day, tz, cache)
            out.append(text)
        else:
            key = (day.day, day.availability_percent, day.colour)
            text = cache.cells.get(key)
            if text is None:
                text = cache.cells[key] = _cell(index, day, tz, cache)
            out.append(text)
    return Markup("".join(out))


@dataclass(frozen=True)
class RowView:
    """A row as the template writes it: every value already text (``bar`` is the cells' markup)."""

    name: str
    state: str
    state_text: str
    since: str
    figure: str
    met: bool | None
    bar: Markup
    incidents: list[str]


@dataclass(frozen=True)
class GroupView:
    """A group as the template writes it; ``figure_label`` names what the rows' figures cover (``cycle 2026-12``,
    ``90 days``); ``first_day``/``last_day`` are the bars' ends (ISO dates)."""

    title: str
    kind: str
    figure_label: str
    target: str
    cycle: str | None
    availability: str
    met: bool | None
    budget: str | None
    maintenance: list[str]
    verdict: str | None  # in words: on track, at risk, breached, met, missed
    coverage: str | None
    coverage_low: bool
    rows: list[RowView]
    first_day: str
    last_day: str


def _row(row: ServiceRow, group: Group, cache: BarCache) -> RowView:
    tz = group.tz
    if row.since_ms is None:
        since = f"for at least {len(row.days)} days" if row.state != "no_data" else ""
    else:
        since = f"since {when(row.since_ms, tz)}"
    return RowView(
        name=row.name,
        state=row.state,
        state_text=STATE_TEXT.get(row.state, row.state),
        since=since,
        figure=figure(row.cycle_percent),
        met=row.met,
        bar=bar_html(row.days, tz, cache),
        incidents=[incident_text(i, tz) for i in row.incidents],
    )


def _group(group: Group) -> GroupView:
    tz = group.tz
    maintenance = []
    for m in group.maintenance:
        text = ("in progress: " if m.ongoing else "") + span_text(m.start_ms, m.end_ms, tz)
        maintenance.append(text + (f" ({m.reason})" if m.reason else ""))
    budget = None
    if group.budget_remaining_ms is not None:
        left = group.budget_remaining_ms
        budget = f"{duration_text(left // 1000 * 1000)} left" if left >= 0 else "used up"
    days = group.rows[0].days if group.rows else ()
    cache = BarCache(len(days))
    rows = [_row(r, group, cache) for r in group.rows]
    return GroupView(
        title=group.title,
        kind=group.kind,
        figure_label=f"cycle {group.cycle}" if group.cycle else f"{len(days)} days",
        target=figure(group.target_percent),
        cycle=group.cycle,
        availability=figure(group.availability_percent),
        met=group.met,
        budget=budget,
        maintenance=maintenance,
        verdict=verdict_for_customers(group.verdict),  # a cycle in progress is not "met so far"
        coverage=None if group.coverage_percent is None else figure(group.coverage_percent),
        coverage_low=group.coverage_low,
        rows=rows,
        first_day=days[0].day.isoformat() if days else "",
        last_day=days[-1].day.isoformat() if days else "",
    )


def summary(doc: StatusPageDoc) -> tuple[str, str]:
    """The banner: (class, words) from the rows' states, the worst first."""
    states = {r.state for r in doc.rows}
    if "down" in states:
        return "down", "Some services are down"
    if states & {"degraded", "unknown"}:
        return "degraded", "Some services are degraded or cannot be checked"
    if "maintenance" in states:
        return "maintenance", "Maintenance in progress"
    if "up" in states:
        return "up", "All services are operating normally"
    return "no_data", "No data yet"


def status_page_html(doc: StatusPageDoc) -> str:
    """The whole page (a complete HTML document)."""
    state, words = summary(doc)
    built = datetime.fromtimestamp(doc.built_ms / 1000, doc.tz)
    return _template().render(
        title=doc.title,
        summary_state=state,
        summary=words,
        updated=when(doc.built_ms, doc.tz),
        updated_iso=built.isoformat(timespec="seconds"),
        days=doc.days,
        groups=[_group(g) for g in doc.groups],
        state_text=STATE_TEXT,
        colour_text=COLOUR_TEXT,
    )
