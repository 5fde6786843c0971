"""One entry point for the SLA core: state intervals and settings in, every figure of a period out.

``reports`` fetches the values (intervals, exclusions, maintenance, counts, histograms) and calls
``evaluate``; nothing here reads the clock or the store.

How the scopes are built:

1. per endpoint, its agents' intervals combine by the vantage rule of the service it is counted in (each
   ``ServiceSpec.vantage``, else ``SlaSpec.vantage_rule``; default: down only when every agent with data sees it
   down), so one SLA over a ``vantage: all`` service and a ``vantage: any`` service applies each rule to its own
   endpoints. An endpoint's own figures use its services' rule when they agree, else ``SlaSpec.vantage_rule``;
2. per service, its endpoints combine by the service's rule;
3. the SLA as a whole combines its services by ``sla_rule`` (default ``all``: the SLA is down when any service
   is).

Figures are computed over the *measured* range ``[period start, min(now, period end))``; the error budget over
the whole period. Time before ``monitoring_start_ms`` is cut off the period (it is not no_data: a
``no_data: down`` policy would otherwise bill the time before the customer signed up), and ``covered`` tells
credits how much of the cycle is left. Incidents are found on the whole data handed over and dated from the stored
outage start, so an outage that crosses a cycle boundary keeps its true start and end in both cycles, while its
down ms are split between them by the bucket figures. It is credited per-incident only in the cycle it started in
(``credited_incident_ms``).

Callers must hand over every interval that overlaps ``[period start, now)`` for each endpoint, including the
open one up to ``now``: an outage without a later interval is reported as ongoing. An incident's ``down_ms`` (and,
for services with ``any``/``quorum`` rules, its start) counts only the intervals handed over: reports add the
earlier intervals of an outage already going on at the period start (``reports.outage_history``). With slice
counting and ``min_run`` > 1, a run of down slices is judged on its whole length across the period's edges, on the
data handed over (so callers hand over intervals, exclusions and maintenance windows from before the period too);
maintenance windows outside the period are applied but not reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from probe_agent.latency import LatencyHistogram
from probe_agent.model import StateInterval
from probe_agent.sla.availability import (
    Availability,
    BucketSpan,
    BucketTotals,
    Policies,
    availability_of,
    bucketize,
    coverage_warning,
    excluded_warning,
)
from probe_agent.sla.bounds import DowntimeBounds, downtime_bounds, observed_changes, resolution_warnings
from probe_agent.sla.budget import ErrorBudget, error_budget
from probe_agent.sla.exclusions import (
    MaintenanceWindow,
    WindowDecision,
    decide_windows,
    excluded_ranges,
    merge_ranges,
    overlap_ms,
)
from probe_agent.sla.incidents import (
    Incident,
    IncidentStats,
    Outage,
    incident_stats,
    incidents_of,
    outages_of,
)
from probe_agent.sla.objectives import (
    ErrorRateResult,
    LatencyObjective,
    LatencyResult,
    ResultCounts,
    error_rate_result,
    latency_result,
)
from probe_agent.sla.periods import Period, clip_start
from probe_agent.sla.slices import SliceCounting, SliceResult, count_slices
from probe_agent.sla.timeline import ALL, VANTAGE, CombineRule, Span, combine, combine_masked, normalize


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service: its endpoints combine by ``rule``; each endpoint's agents by ``vantage`` (None: the SLA's
    ``vantage_rule``)."""

    name: str
    endpoints: tuple[str, ...]
    rule: CombineRule = ALL
    vantage: CombineRule | None = None


@dataclass(frozen=True, slots=True)
class SlaSpec:
    """What an SLA promises; ``target`` is a fraction in [0, 1] (99.9 % is ``Fraction(999, 1000)``).

    ``counting`` None means time-based availability; a ``SliceCounting`` makes slices the figure that decides
    ``met``. ``vantage_rule`` is the vantage rule of services that state none, and of an endpoint's own figures
    when the services that count it state different ones.
    """

    target: Fraction
    services: tuple[ServiceSpec, ...]
    policies: Policies = field(default_factory=Policies)
    counting: SliceCounting | None = None
    sla_rule: CombineRule = ALL
    vantage_rule: CombineRule = VANTAGE
    max_incident_ms: int | None = None
    latency: LatencyObjective | None = None
    error_rate_below_percent: Fraction | None = None
    coverage_warning: Fraction | None = None  # warn below this coverage of the whole SLA (a fraction of 1)


@dataclass(frozen=True, slots=True)
class ScopeResult:
    """Every figure of one scope (an endpoint, a service, or the whole SLA) for the period."""

    name: str
    endpoints: tuple[str, ...]
    availability: Availability
    slices: SliceResult | None
    budget: ErrorBudget
    incidents: tuple[Incident, ...]
    stats: IncidentStats
    too_long: tuple[Incident, ...]
    bounds: DowntimeBounds | None
    buckets: tuple[BucketSpan, ...] = ()  # the measured range, one bucket per instant (for drawing timelines)
    incident_counted_ms: tuple[int, ...] = ()  # per incident: its duration less excluded time (credits use it)

    @property
    def value(self) -> Fraction | None:
        """The availability that decides: slice-based when counting slices, else time-based."""
        return self.slices.availability if self.slices is not None else self.availability.availability

    @property
    def met(self) -> bool | None:
        return self.slices.met if self.slices is not None else self.availability.met


@dataclass(frozen=True, slots=True)
class SlaEvaluation:
    period: Period  # the period evaluated (cut at monitoring start if that was later)
    full_period: Period
    covered: Fraction  # share of the full cycle that ``period`` covers, for proration
    measured_end_ms: int
    target: Fraction
    overall: ScopeResult
    services: Mapping[str, ScopeResult]
    endpoints: Mapping[str, ScopeResult]
    maintenance: tuple[WindowDecision, ...]
    excluded: tuple[tuple[int, int], ...]
    latency: LatencyResult | None
    error_rate: ErrorRateResult | None
    warnings: tuple[str, ...]

    @property
    def met(self) -> bool | None:
        return self.overall.met

    @property
    def credited_incident_ms(self) -> tuple[int, ...]:
        """What per-incident credits count: the counted ms of each whole-SLA incident that started in this cycle.
        An incident is credited once, in the cycle it started in; one carried over from the previous cycle is still
        listed (with its true start and whole duration) but was credited there."""
        overall = self.overall
        return tuple(
            counted
            for incident, counted in zip(overall.incidents, overall.incident_counted_ms, strict=True)
            if incident.start_ms >= self.full_period.start_ms
        )


def evaluate(
    spec: SlaSpec,
    period: Period,
    intervals_by_endpoint: Mapping[str, Sequence[StateInterval]],
    now_ms: int,
    *,
    exclusions: Sequence[tuple[int, int]] = (),
    maintenance: Sequence[MaintenanceWindow] = (),
    probe_interval_ms: Mapping[str, int] | None = None,
    monitoring_start_ms: int | None = None,
    latency_histogram: LatencyHistogram | None = None,
    result_counts: ResultCounts | None = None,
    endpoint_exclusions: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    service_exclusions: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    slice_origin_ms: int | None = None,
) -> SlaEvaluation:
    """Evaluate ``spec`` over ``period`` at ``now_ms`` (see the module docstring).

    ``intervals_by_endpoint``: every agent's intervals per endpoint (missing endpoints have no data).
    ``probe_interval_ms``: each endpoint's probe interval, for measurement bounds (a scope uses its slowest).
    ``exclusions`` apply to the whole SLA; ``endpoint_exclusions``/``service_exclusions`` only to that member: it
    stops voting in its service (or the SLA) for that time, and the time is excluded only where every member is.
    ``slice_origin_ms``: where the slice grid starts (default the period's start; a report window that is not a
    billing cycle passes the start of the cycle that holds it, so its slices are the cycle's).
    Raises ValueError when monitoring starts after the period ends.
    """
    full = period
    covered = Fraction(1)
    if monitoring_start_ms is not None:
        partial = clip_start(period, monitoring_start_ms)
        if partial is None:
            raise ValueError(f"monitoring started after period {period.label} ended")
        period, covered = partial.period, partial.covered
    measured_end = min(max(now_ms, period.start_ms), period.end_ms)
    decisions = decide_windows(maintenance)
    excluded = excluded_ranges(exclusions, decisions)
    ep_excl = {k: merge_ranges(v) for k, v in (endpoint_exclusions or {}).items()}
    svc_excl = {k: merge_ranges(v) for k, v in (service_exclusions or {}).items()}

    names = sorted({e for s in spec.services for e in s.endpoints})
    all_intervals = [iv for e in names for iv in intervals_by_endpoint.get(e, ())]
    window_start = min([period.start_ms, *(iv.start_ms for iv in all_intervals)])
    window_end = max([measured_end, *(iv.end_ms for iv in all_intervals)])
    ctx = _Context(
        spec,
        period,
        measured_end,
        excluded,
        probe_interval_ms or {},
        window_start,
        window_end,
        origin_ms=full.start_ms if slice_origin_ms is None else slice_origin_ms,
    )

    agent_timelines: dict[str, list[list[Span]]] = {}
    vantage_timelines: dict[tuple[str, CombineRule], list[Span]] = {}

    def endpoint_timeline(name: str, rule: CombineRule) -> list[Span]:
        """The endpoint's agents combined by ``rule`` (computed once per endpoint and rule)."""
        if (name, rule) not in vantage_timelines:
            vantage_timelines[(name, rule)] = combine(agent_timelines[name], rule, window_start, window_end)
        return vantage_timelines[(name, rule)]

    def vantage_of(service: ServiceSpec) -> CombineRule:
        return service.vantage if service.vantage is not None else spec.vantage_rule

    endpoint_outages: dict[str, list[Outage]] = {}
    endpoints: dict[str, ScopeResult] = {}
    for name in names:
        ivs = intervals_by_endpoint.get(name, ())
        by_agent: dict[str, list[StateInterval]] = {}
        for iv in ivs:
            by_agent.setdefault(iv.agent, []).append(iv)
        agent_timelines[name] = [normalize(a) for a in by_agent.values()]
        rules = {vantage_of(s) for s in spec.services if name in s.endpoints}
        own_rule = rules.pop() if len(rules) == 1 else spec.vantage_rule
        endpoint_outages[name] = outages_of(ivs)
        own = merge_ranges([*excluded, *ep_excl.get(name, ())])
        endpoints[name] = ctx.scope(
            name, (name,), endpoint_timeline(name, own_rule), endpoint_outages[name], slices=False, excluded=own
        )

    services: dict[str, ScopeResult] = {}
    service_timelines: list[list[Span]] = []
    service_masks: list[list[tuple[int, int]]] = []
    for service in spec.services:
        timeline, all_masked = combine_masked(
            [endpoint_timeline(e, vantage_of(service)) for e in service.endpoints],
            [ep_excl.get(e, ()) for e in service.endpoints],
            service.rule,
            window_start,
            window_end,
        )
        service_timelines.append(timeline)
        mask = merge_ranges([*svc_excl.get(service.name, ()), *all_masked])
        service_masks.append(mask)
        outages = [o for e in service.endpoints for o in endpoint_outages[e]]
        services[service.name] = ctx.scope(
            service.name, service.endpoints, timeline, outages, slices=True, excluded=merge_ranges([*excluded, *mask])
        )

    if len(spec.services) == 1:
        overall = services[spec.services[0].name]
    else:
        timeline, all_masked = combine_masked(service_timelines, service_masks, spec.sla_rule, window_start, window_end)
        outages = [o for e in names for o in endpoint_outages[e]]
        overall = ctx.scope(
            "sla", tuple(names), timeline, outages, slices=True, excluded=merge_ranges([*excluded, *all_masked])
        )

    warnings: list[str] = []
    slowest = max((ctx.intervals.get(e, 0) for e in names), default=0)
    if slowest:
        warnings += resolution_warnings(slowest, spec.counting.unit_ms if spec.counting else None, spec.max_incident_ms)
    # Windows around the cycle (handed over to judge slice runs across its edges) are applied, not reported.
    decisions = [d for d in decisions if d.window.start_ms < full.end_ms and d.window.end_ms > full.start_ms]
    warnings += [f"maintenance {d.window.label or d.window.start_ms}: {d.reason}" for d in decisions if not d.excluded]
    low = None if spec.coverage_warning is None else coverage_warning(overall.availability, spec.coverage_warning)
    warnings += [low] if low else []
    mostly_excluded = excluded_warning(overall.availability)
    warnings += [mostly_excluded] if mostly_excluded else []
    return SlaEvaluation(
        period=period,
        full_period=full,
        covered=covered,
        measured_end_ms=measured_end,
        target=spec.target,
        overall=overall,
        services=services,
        endpoints=endpoints,
        maintenance=tuple(decisions),
        excluded=tuple(excluded),
        latency=latency_result(spec.latency, latency_histogram or LatencyHistogram()) if spec.latency else None,
        error_rate=(
            error_rate_result(result_counts or ResultCounts(), spec.error_rate_below_percent)
            if spec.error_rate_below_percent is not None
            else None
        ),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True, slots=True)
class _Context:
    spec: SlaSpec
    period: Period
    measured_end: int
    excluded: list[tuple[int, int]]
    intervals: Mapping[str, int]
    window_start: int
    window_end: int
    origin_ms: int  # the full cycle's start: slices align to it even when monitoring began later

    def scope(
        self,
        name: str,
        endpoints: tuple[str, ...],
        timeline: list[Span],
        outages: list[Outage],
        *,
        slices: bool,
        excluded: list[tuple[int, int]],
    ) -> ScopeResult:
        spec, start, end = self.spec, self.period.start_ms, self.measured_end
        buckets = bucketize(timeline, start, end, excluded) if end > start else []
        avail = availability_of(BucketTotals.of(buckets), spec.policies, spec.target)
        slice_result = None
        if slices and spec.counting is not None:
            # With min_run, a run is judged on its whole length: the slices see the data around the period too.
            around = spec.counting.min_run > 1 and (self.window_start < start or self.window_end > end)
            slice_result = count_slices(
                bucketize(timeline, self.window_start, self.window_end, excluded) if around else buckets,
                start,
                end,
                spec.policies,
                spec.counting,
                spec.target,
                origin_ms=self.origin_ms,
                context=(self.window_start, self.window_end) if around else None,
            )
        # The budget stays time-based when counting slices: used = counted-down ms, as the design defines it.
        whole_excluded = overlap_ms(excluded, start, self.period.end_ms)
        budget = error_budget(self.period, whole_excluded, spec.target, avail.counted_down_ms, self.measured_end)
        # An incident entirely inside excluded time (maintenance, an exclusion) is not the provider's: it is left
        # out. One partly inside counts only its non-excluded time against max_incident_duration and credits.
        found = [
            i
            for i in incidents_of(timeline, outages)
            if i.start_ms < end and i.end_ms > start and overlap_ms(excluded, i.start_ms, i.end_ms) < i.duration_ms
        ]
        counted = tuple(i.duration_ms - overlap_ms(excluded, i.start_ms, i.end_ms) for i in found)
        interval = max((self.intervals.get(e, 0) for e in endpoints), default=0)
        bounds = None
        if interval:
            changes = observed_changes(found, start, end)
            bounds = downtime_bounds(avail.counted_down_ms, avail.counted_ms, changes, interval)
        return ScopeResult(
            name=name,
            endpoints=endpoints,
            availability=avail,
            slices=slice_result,
            budget=budget,
            incidents=tuple(found),
            stats=incident_stats(found, avail.counted_up_ms, start),
            too_long=(
                tuple(i for i, c in zip(found, counted, strict=True) if c > spec.max_incident_ms)
                if spec.max_incident_ms is not None
                else ()
            ),
            incident_counted_ms=counted,
            bounds=bounds,
            buckets=tuple(buckets),
        )
