"""The status page's document: per group of services, each service's state now, 90 daily figures, its
current-cycle availability against the target, its open and recent incidents, and announced maintenance.

Groups, in this order:

- one per SLA (config order): its services, or for an SLA over endpoints each endpoint as a one-member service
  (as its report counts them). A service in two SLAs is shown in both, each time under that SLA's rules;
- ``Other services``: services in no SLA, under the plain model (unknown and no_data not counted, degraded as up),
  coloured against ``DEFAULT_TARGET``, in the agent's zone;
- ``Other endpoints``: endpoints in no service and no SLA, each on its own; only on the private page (a public page
  shows what the provider promised its customers: services and SLAs).

Cost: per group, one read of the store over the 90-day window (``read_evidence``: intervals, open spans, outage
history, exclusions, maintenance) and one evaluation by the core (time-based: slices decide no daily figure); an SLA
group adds its current cycle, read and evaluated exactly as ``status`` does (``sla_status``), so the figures agree.

The document holds names (SLA, service and endpoint ids), figures, times and, on the private page only, the
maintenance windows' reasons. Never a URL, host, error detail, cause or other config value: a public page may show
all of it. Times are epoch ms; the view formats them in the group's ``tz``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from fractions import Fraction
from zoneinfo import ZoneInfo

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import DAY_MS
from probe_agent.reports import scope
from probe_agent.reports.alerts import cycle_verdict
from probe_agent.reports.announce import announcement_times
from probe_agent.reports.evidence import evaluate_sla, read_evidence
from probe_agent.reports.json_numbers import percent
from probe_agent.reports.outage_history import with_outage_history
from probe_agent.reports.overlaps import resolve_overlaps
from probe_agent.reports.page_days import (
    DAYS,
    Day,
    DayCell,
    PageIncident,
    day_cells,
    page_incidents,
    page_window,
    state_now,
)
from probe_agent.reports.sla_scope import SlaScope, sla_scope
from probe_agent.reports.timelines import load_intervals, monitoring_start
from probe_agent.sla.availability import Policies, coverage_warning
from probe_agent.sla.evaluation import ScopeResult, ServiceSpec, SlaEvaluation, SlaSpec, evaluate
from probe_agent.sla.exclusions import decide_windows
from probe_agent.sla.periods import Period
from probe_agent.sla.timeline import ALL

DEFAULT_TARGET = Fraction(999, 1000)  # what days of services in no SLA are coloured against
RECENT_MS = 7 * DAY_MS  # incidents that ended this recently are listed under "recent"
MAINTENANCE_AHEAD_MS = 30 * DAY_MS  # announced maintenance starting within this is listed


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One service (or lone endpoint). ``state``: ``up``, ``degraded``, ``down``, ``unknown``, ``no_data``,
    ``maintenance``; ``since_ms`` None: for the whole window or unknown. ``cycle_percent``: the current cycle's
    availability (SLA groups; the figure ``report`` gives for the service), else the window's; ``met`` against the
    group's target (None: nothing counted). ``incidents``: open ones and those that ended within ``RECENT_MS``,
    newest first."""

    name: str
    state: str
    since_ms: int | None
    days: tuple[DayCell, ...]
    cycle_percent: float | None
    met: bool | None
    incidents: tuple[PageIncident, ...]


@dataclass(frozen=True, slots=True)
class MaintenanceNote:
    """An announced maintenance window that is going on or starts within ``MAINTENANCE_AHEAD_MS``; ``reason``: its
    config text, only on the private page ("" on the public one)."""

    start_ms: int
    end_ms: int
    ongoing: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Group:
    """A group of rows. ``kind``: ``sla``, ``services`` or ``endpoints``; ``cycle``: the current cycle's label
    (SLA groups); ``availability_percent``, ``met``, ``budget_remaining_ms``: the SLA's current-cycle figures as
    ``status`` gives them (None without an SLA, or when nothing was counted yet)."""

    title: str
    kind: str
    tz: ZoneInfo
    target_percent: float
    cycle: str | None
    availability_percent: float | None
    met: bool | None
    budget_remaining_ms: int | None
    rows: tuple[ServiceRow, ...]
    maintenance: tuple[MaintenanceNote, ...]
    # SLA groups: the verdict so far (``sla/verdict.py``), the cycle's coverage, and whether it is below the SLA's
    # coverage_warning (the figures then rest on little data: the page says so)
    verdict: str | None = None
    coverage_percent: float | None = None
    coverage_low: bool = False


@dataclass(frozen=True, slots=True)
class StatusPageDoc:
    """The page: ``built_ms`` is "last updated"; ``tz`` the agent's zone (for that time); ``days`` the bar's length."""

    title: str
    public: bool
    built_ms: int
    tz: ZoneInfo
    days: int
    groups: tuple[Group, ...]

    @property
    def rows(self) -> list[ServiceRow]:
        return [r for g in self.groups for r in g.rows]


def build_status_page(conn: sqlite3.Connection, config: Config, now_ms: int, *, public: bool) -> StatusPageDoc:
    """The page's document as of ``now_ms`` (reads the store; never writes). ``public``: leave out what only the
    operator may see (endpoints in no service, maintenance reasons)."""
    groups = [_sla_group(conn, config, sla, now_ms, public) for sla in config.slas]
    in_sla = {s for sla in config.slas for s in sla.services}
    lone = [svc for svc in config.services if svc.id not in in_sla]
    if lone:
        specs = tuple(
            ServiceSpec(svc.id, svc.endpoints, scope.combine_rule(svc.rule), vantage=scope.combine_rule(svc.vantage))
            for svc in lone
        )
        groups.append(_plain_group(conn, config, "Other services", "services", specs, now_ms))
    if not public:
        covered = {e for svc in config.services for e in svc.endpoints} | {e for s in config.slas for e in s.endpoints}
        loose = [ep.id for ep in config.endpoints if ep.id not in covered]
        if loose:
            specs = tuple(ServiceSpec(e, (e,), ALL) for e in loose)
            groups.append(_plain_group(conn, config, "Other endpoints", "endpoints", specs, now_ms))
    title = config.api.title if config.api is not None else "Service status"
    return StatusPageDoc(title, public, now_ms, scope.agent_zone(config), DAYS, tuple(groups))


def _rows(
    spec: SlaSpec,
    ev: SlaEvaluation | None,
    window: Period,
    days: list[Day],
    cycle: SlaEvaluation | None,
    now_ms: int,
) -> list[ServiceRow]:
    """A row per service of ``spec``: its bars and state from ``ev`` (the window), its figure from ``cycle``
    (the current cycle) when given, else from the window."""
    rows = []
    for svc in spec.services:
        result: ScopeResult | None = ev.services.get(svc.name) if ev is not None else None
        buckets = result.buckets if result is not None else ()
        incidents = page_incidents(result.incidents) if result is not None else []
        state, since = state_now(buckets, incidents, window.start_ms)
        figure = cycle.services.get(svc.name) if cycle is not None else result
        value = figure.value if figure is not None else None
        recent = [i for i in incidents if i.ongoing or i.end_ms > now_ms - RECENT_MS]
        rows.append(
            ServiceRow(
                name=svc.name,
                state=state,
                since_ms=since,
                days=tuple(day_cells(days, buckets, incidents, spec.policies, spec.target)),
                cycle_percent=percent(value),
                met=None if figure is None else figure.met,  # slice-based where the SLA counts slices
                incidents=tuple(sorted(recent, key=lambda i: i.start_ms, reverse=True)),
            )
        )
    return rows


def _sla_group(conn: sqlite3.Connection, config: Config, sla: Sla, now_ms: int, public: bool) -> Group:
    s = sla_scope(config, sla)
    # The current cycle, read and evaluated as ``status`` reads it (reports/sla_status.py).
    period = scope.sla_period(config, sla, now_ms)
    cycle = evaluate_sla(s, period, read_evidence(conn, config, s, period, now_ms), now_ms)
    # The bars: the same reading over the window, time-based (slices decide no daily figure).
    window, days = page_window(s.tz, now_ms)
    bars = replace(s, spec=replace(s.spec, counting=None))
    evidence = read_evidence(conn, config, bars, window, now_ms)
    # Days before monitoring began have no figure, even under a preset that presumes unseen time available.
    ev = evaluate_sla(bars, window, evidence, now_ms, unmeasured_before_start=True)
    overall = cycle.overall if cycle is not None else None
    budget = overall.budget if overall is not None else None
    verdict = cycle_verdict(conn, config, s, sla, period, cycle, now_ms)
    threshold = s.spec.coverage_warning
    low = (
        overall is not None and threshold is not None and coverage_warning(overall.availability, threshold) is not None
    )
    return Group(
        title=sla.id,
        kind="sla",
        tz=s.tz,
        target_percent=float(sla.target),
        cycle=period.label,
        availability_percent=None if overall is None else percent(overall.value),
        met=None if overall is None else overall.met,
        budget_remaining_ms=None if budget is None else int(budget.remaining_ms),
        rows=tuple(_rows(s.spec, ev, window, days, cycle, now_ms)),
        maintenance=tuple(_maintenance(conn, s, now_ms, public)),
        verdict=None if verdict is None else str(verdict),
        coverage_percent=None if overall is None else percent(overall.availability.coverage),
        coverage_low=low,
    )


def _maintenance(conn: sqlite3.Connection, s: SlaScope, now_ms: int, public: bool) -> list[MaintenanceNote]:
    """The SLA's windows that count as maintenance (announced in time, where notice is required), going on now or
    starting within ``MAINTENANCE_AHEAD_MS``."""
    windows = s.maintenance_windows(now_ms, now_ms + MAINTENANCE_AHEAD_MS, announcement_times(conn, s.agent_id, s.sla))
    return [
        MaintenanceNote(
            d.window.start_ms,
            d.window.end_ms,
            d.window.start_ms <= now_ms,
            "" if public else d.window.label,
        )
        for d in decide_windows(windows)
        if d.excluded and d.window.end_ms > now_ms
    ]


def _plain_group(
    conn: sqlite3.Connection, config: Config, title: str, kind: str, services: tuple[ServiceSpec, ...], now_ms: int
) -> Group:
    """Services (or lone endpoints) in no SLA: the plain model over the window, in the agent's zone."""
    tz = scope.agent_zone(config)
    spec = SlaSpec(DEFAULT_TARGET, services, Policies())
    window, days = page_window(tz, now_ms)
    endpoints = sorted({e for svc in services for e in svc.endpoints})
    intervals, _ = resolve_overlaps(
        with_outage_history(conn, load_intervals(conn, config, endpoints, window.start_ms, now_ms))
    )
    first = monitoring_start(conn, config, endpoints)
    ev = None
    if first is not None and first < now_ms:
        ev = evaluate(spec, window, intervals, now_ms, monitoring_start_ms=first if first > window.start_ms else None)
    return Group(
        title=title,
        kind=kind,
        tz=tz,
        target_percent=float(DEFAULT_TARGET * 100),
        cycle=None,
        availability_percent=None,
        met=None,
        budget_remaining_ms=None,
        rows=tuple(_rows(spec, ev, window, days, None, now_ms)),
        maintenance=(),
    )
