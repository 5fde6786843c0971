"""From the validated config to the SLA core's plain values: zones, periods, specs, maintenance, credit terms.

Everything here is pure (no store, no clock): ``now_ms`` comes in as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from probe_agent.config.document import Config
from probe_agent.config.schema import Quorum
from probe_agent.config.sla_schema import ClaimCycles as ClaimCyclesModel
from probe_agent.config.sla_schema import Maintenance, Sla
from probe_agent.model import ms_to_dt, parse_ts
from probe_agent.sla.availability import Policies
from probe_agent.sla.claims import ClaimCycles, ClaimWindow, ClaimWithin
from probe_agent.sla.credits import CreditTerms, PerIncident, PerUnit, Tier, currency_places
from probe_agent.sla.evaluation import ServiceSpec, SlaSpec
from probe_agent.sla.exclusions import MaintenanceWindow, recurring_windows
from probe_agent.sla.objectives import LatencyObjective
from probe_agent.sla.periods import (
    Period,
    cycle_containing,
    cycle_starting_in,
    explicit_period,
    next_cycle,
    parse_bound,
    parse_cycle,
    parse_period,
    previous_cycle,
)
from probe_agent.sla.slices import SliceCounting
from probe_agent.sla.timeline import ALL, ANY, VANTAGE, CombineRule, quorum

_LATEST_MS = 221_845_392_000_000  # 9000-01-01: later dates overflow calendar arithmetic (claim deadlines)


def machine_zone() -> ZoneInfo:
    """The machine's IANA zone: ``$TZ`` if it names one, else /etc/localtime's target, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[-1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def agent_zone(config: Config) -> ZoneInfo:
    return ZoneInfo(config.agent.timezone) if config.agent.timezone else machine_zone()


def sla_zone(config: Config, sla: Sla) -> ZoneInfo:
    """The SLA's zone: its cycle's ``timezone``, else the agent's."""
    return ZoneInfo(sla.cycle.timezone) if sla.cycle.timezone else agent_zone(config)


def sla_period(
    config: Config,
    sla: Sla,
    now_ms: int,
    *,
    cycle: str | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> Period:
    """The period a command asks for: ``--cycle YYYY-MM`` (the cycle that starts in that month), ``--from/--to``,
    or by default the cycle containing ``now_ms`` (an explicit-cycle SLA has just its one cycle).

    Raises ValueError with a message fit for the user.
    """
    tz = sla_zone(config, sla)
    if from_ is not None or to is not None:
        if from_ is None or to is None:
            raise ValueError("give both --from and --to")
        period = parse_period(from_, to, tz)
        if period.start_ms < 0 or period.end_ms >= _LATEST_MS:
            raise ValueError("periods must lie between 1970 and 9000")
        return period
    if sla.cycle.period == "explicit":
        return billing_cycle_at(sla, tz, now_ms)
    if cycle is not None:
        year, month = parse_cycle(cycle)
        if not 1970 <= year < 9000:
            raise ValueError(f"--cycle {cycle}: the year must lie between 1970 and 8999")
        return cycle_starting_in(year, month, sla.cycle.anchor_day, tz)
    return cycle_containing(now_ms, sla.cycle.anchor_day, tz)


def billing_cycle_at(sla: Sla, tz: ZoneInfo, ts_ms: int) -> Period:
    """The SLA's billing cycle that holds ``ts_ms``: its one explicit cycle, or the monthly cycle around it
    (``tz``: the SLA's zone, ``sla_zone``)."""
    if sla.cycle.period == "explicit":
        assert sla.cycle.from_ is not None and sla.cycle.to is not None
        start, end = parse_bound(sla.cycle.from_, tz), parse_bound(sla.cycle.to, tz)
        return explicit_period(start, end, f"{sla.cycle.from_}/{sla.cycle.to}")
    return cycle_containing(ts_ms, sla.cycle.anchor_day, tz)


def not_a_cycle_reason(sla: Sla, tz: ZoneInfo, period: Period) -> str | None:
    """Why ``period`` gets no credit because it is not one of the SLA's billing cycles; None when it is one.

    A period is a billing cycle when it has the bounds of the cycle that holds its start (``--from/--to`` may name
    a cycle exactly). Credits are for billing cycles: the fee, the tiers and the claim window are per cycle.
    """
    cycle = billing_cycle_at(sla, tz, period.start_ms)
    if (cycle.start_ms, cycle.end_ms) == (period.start_ms, period.end_ms):
        return None

    def show(ms: int) -> str:
        return ms_to_dt(ms).astimezone(tz).isoformat()

    how = "report the cycle (without --from/--to)" if sla.cycle.period == "explicit" else f"--cycle {cycle.label}"
    return (
        f"no credit: {show(period.start_ms)} to {show(period.end_ms)} is not a billing cycle of SLA {sla.id} "
        f"(the cycle holding its start runs {show(cycle.start_ms)} to {show(cycle.end_ms)}); credits are computed "
        f"for whole billing cycles only: use {how}"
    )


def combine_rule(rule: object) -> CombineRule:
    if isinstance(rule, Quorum):
        return quorum(rule.quorum)
    return {"all": ALL, "any": ANY, "with_data": VANTAGE}.get(str(rule), ALL)


def scope_endpoints(config: Config, sla: Sla) -> list[str]:
    if sla.endpoints:
        return list(sla.endpoints)
    seen: dict[str, None] = {}
    for svc_id in sla.services:
        for ep in config.service(svc_id).endpoints:
            seen.setdefault(ep)
    return list(seen)


def sla_spec(config: Config, sla: Sla) -> SlaSpec:
    """The SLA as the core's ``SlaSpec``. An endpoint-scoped SLA treats each endpoint as a one-member service.

    Each service carries its own ``vantage`` rule; the SLA-wide ``vantage_rule`` stays the default
    (``with_data``), which only decides an endpoint's own figures when two of its services disagree.
    """
    if sla.services:
        services = tuple(
            ServiceSpec(
                s,
                config.service(s).endpoints,
                combine_rule(config.service(s).rule),
                vantage=combine_rule(config.service(s).vantage),
            )
            for s in sla.services
        )
    else:
        services = tuple(ServiceSpec(e, (e,), ALL) for e in sla.endpoints)
    counting = None
    if sla.counting.method == "slices":
        counting = SliceCounting(sla.counting.unit, sla.counting.partial, sla.counting.min_run)
    objectives = sla.objectives
    return SlaSpec(
        target=Fraction(sla.target) / 100,
        services=services,
        policies=Policies(unknown=sla.unknown, no_data=sla.no_data, degraded_counts_as=sla.degraded_counts_as),
        counting=counting,
        vantage_rule=VANTAGE,
        max_incident_ms=sla.max_incident_duration,
        latency=(
            LatencyObjective(objectives.latency.percentile, objectives.latency.below) if objectives.latency else None
        ),
        error_rate_below_percent=Fraction(objectives.error_rate.below) if objectives.error_rate else None,
        coverage_warning=Fraction(sla.coverage_warning) / 100,
    )


def maintenance_windows(
    sla: Sla,
    tz: ZoneInfo,
    start_ms: int,
    end_ms: int,
    announced_by_config: Callable[[Maintenance], int | None] = lambda m: None,
) -> list[MaintenanceWindow]:
    """The SLA's maintenance windows that touch ``[start_ms, end_ms)``.

    A window's announcement time is its ``announced`` timestamp, else when a config carrying it first took
    effect (``announced_by_config``, from the store's config history), else unknown: with a ``notice``
    requirement, an unknown announcement does not count as notice given. Each window carries its own entry's
    ``notice`` (None: none required), never another entry's. ``tz``: the SLA's zone (dates without an offset).
    """
    out: list[MaintenanceWindow] = []
    for m in sla.maintenance:
        announced = parse_ts(m.announced) if m.announced else announced_by_config(m)
        label = m.reason or (m.cron or "maintenance")
        if m.cron is not None:
            assert m.duration is not None
            out += recurring_windows(
                m.cron, m.duration, start_ms, end_ms, tz, announced_ms=announced, label=label, notice_ms=m.notice
            )
        else:
            assert m.from_ is not None and m.to is not None
            lo, hi = parse_bound(m.from_, tz), parse_bound(m.to, tz)
            if lo < end_ms and hi > start_ms:
                out.append(MaintenanceWindow(lo, hi, announced, label, notice_ms=m.notice))
    return out


def credit_terms(sla: Sla) -> CreditTerms | None:
    """The SLA's credit terms, or None when it states no fee (availability is still reported)."""
    c = sla.credits
    if c is None or c.fee is None:
        return None
    per_unit = None
    if c.per_unit is not None:
        per_unit = PerUnit(
            every_ms=c.per_unit.every,
            credit_percent=c.per_unit.credit,
            multiplier=c.per_unit.multiplier,
            beyond_allowance=c.per_unit.beyond_allowance,
        )
    per_incident = None
    if c.per_incident is not None:
        per_incident = PerIncident(longer_than_ms=c.per_incident.longer_than, credit_percent=c.per_incident.credit)
    return CreditTerms(
        fee=c.fee,
        currency=c.currency,
        tiers=tuple(Tier(t.below, t.credit) for t in c.tiers),
        per_unit=per_unit,
        per_incident=per_incident,
        combine=c.combine,
        cap_percent=c.cap,
        minimum_payout=c.minimum_payout,
        rounding_places=c.rounding_places if c.rounding_places is not None else currency_places(c.currency),
        prorate=c.proration,
    )


def claim_window(sla: Sla) -> ClaimWindow | None:
    if sla.credits is None or sla.credits.claim_window is None:
        return None
    window = sla.credits.claim_window
    if isinstance(window, ClaimCyclesModel):
        return ClaimCycles(window.cycles)
    return ClaimWithin(window)


def claim_deadline_for(sla: Sla, tz: ZoneInfo, period: Period) -> datetime | None:
    """When a claim for ``period`` is due (the first instant that is too late), in the SLA's zone ``tz``."""
    from probe_agent.sla.claims import claim_deadline

    window = claim_window(sla)
    if window is None:
        return None

    def next_end(end: datetime) -> datetime:
        cycle = cycle_containing(int(end.timestamp() * 1000), sla.cycle.anchor_day, tz)
        return ms_to_dt(next_cycle(cycle, sla.cycle.anchor_day, tz).start_ms).astimezone(tz)

    return claim_deadline(ms_to_dt(period.end_ms).astimezone(tz), window, next_end)


def claim_floor_ms(config: Config, sla: Sla, now_ms: int) -> int:
    """The start of the oldest cycle whose evidence must be kept: the cycle before the current one, moved back by
    the claim window (a duration, or that many cycles). Raw results after it are never pruned."""
    tz = sla_zone(config, sla)
    if sla.cycle.period == "explicit":
        assert sla.cycle.from_ is not None
        return parse_bound(sla.cycle.from_, tz)
    period = previous_cycle(cycle_containing(now_ms, sla.cycle.anchor_day, tz), sla.cycle.anchor_day, tz)
    window = claim_window(sla)
    if isinstance(window, ClaimCycles):
        for _ in range(window.cycles):
            period = previous_cycle(period, sla.cycle.anchor_day, tz)
        return period.start_ms
    if isinstance(window, ClaimWithin):
        return period.start_ms - window.duration_ms
    return period.start_ms
