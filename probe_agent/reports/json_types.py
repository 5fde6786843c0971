"""The documents ``reports/`` hands to views, as TypedDicts: the report, ``status`` and ``incidents`` JSON.

Each is exactly the JSON that ``--format json`` prints (keys documented in README.md, "Report JSON"): the JSON is
``json.dumps`` of these dicts, so a key added here is a key added to the output. ``render/`` reads them, and mypy
checks every ``doc["..."]`` a view takes against them.

Units: ``*_percent`` are percent numbers rounded half-up to 6 decimals (``*_exact`` carries the exact fraction as a
string); ``*_s`` and ``seconds`` are seconds with millisecond precision; times are ISO 8601 strings, in the SLA's
zone for a report (UTC ``Z`` for ``generated_at``, ``created`` and everything in ``status``); money is a string.

A key marked ``NotRequired`` is absent when there is nothing to say: a report with no data has no ``seconds``,
``budget``, ``incidents`` ... (only the headline keys, ``availability_percent`` null), ``slices`` only exists with
slice counting, and ``closed`` is added by ``closing.apply_closed``. Documents of closed cycles are stored as JSON
and read back as written, so a view must also cope with a stored document made by an older version that lacks a
key added since (``days``, ``policies``, ``preset``, ``no_credit_reason``): views read those with ``.get``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class CycleJson(TypedDict):
    label: str
    start: str
    end: str
    timezone: str
    complete: bool
    measured_until: str
    monitoring_start: str | None  # None when monitoring began at or before the cycle's start
    covered_fraction: float | None  # share of the cycle measured since monitoring began (proration)


class CountingJson(TypedDict):
    method: str  # "time" or "slices"
    unit_s: NotRequired[float]  # the three slice keys only with "slices"
    partial: NotRequired[str]
    min_run: NotRequired[int]


class PoliciesJson(TypedDict):
    unknown: str
    no_data: str
    degraded_counts_as: str


class SecondsJson(TypedDict):
    total: float
    up: float
    degraded: float
    down: float
    unknown: float
    no_data: float
    excluded: float
    counted_up: float
    counted_down: float


class IncidentJson(TypedDict):
    start: str
    end: str | None  # None while ongoing
    duration_s: float
    down_s: float
    cause: str | None
    endpoints: list[str]
    ongoing: bool


class SlicesJson(TypedDict):
    unit_s: float
    partial: str
    min_run: int
    up: int
    down: int
    excluded: int
    short_runs_forgiven: int


class ScopeJson(TypedDict):
    """The figures of one scope (the SLA, a service, an endpoint)."""

    availability_percent: float | None
    availability_exact: str | None
    met: bool | None
    time_availability_percent: float | None
    seconds: SecondsJson
    coverage_percent: float | None
    incidents: list[IncidentJson]
    slices: NotRequired[SlicesJson]


class ServiceJson(ScopeJson):
    service: str  # first in the JSON object


class EndpointJson(ScopeJson):
    endpoint: str  # first in the JSON object


class BudgetJson(TypedDict):
    allowed_s: float
    used_s: float
    remaining_s: float  # negative once overspent
    elapsed_percent: float | None
    burn_rate: float | None
    projected_availability_percent: float | None  # None until 10 % of the cycle and 24 h have passed
    exhausted: bool


class BoundsJson(TypedDict):
    probe_interval_s: float
    state_changes: int
    min_down_s: float
    max_down_s: float
    min_availability_percent: float | None
    max_availability_percent: float | None


class IncidentStatsJson(TypedDict):
    count: int
    mttr_s: float | None
    mtbf_s: float | None
    longest_s: float | None


class LatencyJson(TypedDict):
    percentile: float
    below_ms: float
    value_ms: float | None  # rounded up to the microsecond; None without samples
    samples: int
    met: bool | None


class ErrorRateJson(TypedDict):
    below_percent: float
    rate_percent: float | None
    down: int
    definite: int
    met: bool | None


class ObjectivesJson(TypedDict):
    latency: NotRequired[LatencyJson]
    error_rate: NotRequired[ErrorRateJson]


class MaintenanceJson(TypedDict):
    start: str
    end: str
    label: str
    excluded: bool
    reason: str


class SegmentJson(TypedDict):
    start_frac: float  # of the day's span within the cycle, 6 decimals
    end_frac: float
    state: str  # a bucket: up, degraded, down, unknown, no_data, excluded


class DayJson(TypedDict):
    date: str  # the local calendar date, YYYY-MM-DD
    start: str
    end: str
    start_ms: NotRequired[int]  # the same span in epoch ms, for views; absent in documents stored before issue 10
    end_ms: NotRequired[int]
    segments: list[SegmentJson]
    availability_percent: float | None
    down_s: float


class ExclusionJson(TypedDict):
    id: int
    kind: str
    scope: str  # "<kind>:<id>"
    start: str
    end: str
    reason: str
    author: str
    created: str


class CreditComponentJson(TypedDict):
    model: str
    percent: str
    rule: str


class CreditJson(TypedDict):
    """``CreditResult.to_json()`` plus ``provisional``: money and percents as strings."""

    percent: str
    percent_exact: str
    amount: str
    currency: str
    charged_fee: str
    rule: str
    steps: list[str]
    components: list[CreditComponentJson]
    capped: bool
    below_minimum: bool
    provisional: bool


class VerifyJson(TypedDict):
    command: str
    data: str


class ClosedTodayJson(TypedDict):
    availability_percent: float | None
    met: bool | None
    credit_amount: str | None


class ClosedJson(TypedDict):
    closed_at: str
    inputs_hash: str
    current_inputs_hash: str
    differs_today: bool
    today: ClosedTodayJson


class ReportHead(TypedDict):
    """The headline of a report: always present, first in the JSON object."""

    sla: str
    customer: str | None
    provider: str | None
    preset: str | None
    cycle: CycleJson
    target_percent: float
    counting: CountingJson
    policies: PoliciesJson
    availability_percent: float | None  # None (and ``met`` None) when nothing was counted
    availability_exact: str | None
    met: bool | None
    # on_track, at_risk, breached while the cycle runs; met or missed once it ended; None when nothing was counted
    verdict: str | None
    generated_at: str
    inputs_hash: str


class ReportMeasured(TypedDict, total=False):
    """The figures of an evaluation: all present once anything was measured in the period, else none of them
    (``slices`` only with slice counting)."""

    time_availability_percent: float | None
    seconds: SecondsJson
    coverage_percent: float | None
    budget: BudgetJson
    bounds: BoundsJson | None
    incidents: list[IncidentJson]
    incident_stats: IncidentStatsJson
    max_incident_duration_s: float | None
    incidents_too_long: list[IncidentJson]
    services: list[ServiceJson]
    endpoints: list[EndpointJson]
    objectives: ObjectivesJson
    maintenance: list[MaintenanceJson]
    slices: SlicesJson
    days: list[DayJson]


class ReportTail(TypedDict):
    """What was applied and how to check it: always present, last in the JSON object."""

    exclusions: list[ExclusionJson]
    credit: CreditJson | None
    claim_deadline: str | None  # None also for a window that is not a billing cycle
    warnings: list[str]
    verify: VerifyJson
    no_credit_reason: str | None
    closed: NotRequired[ClosedJson | None]  # added by closing.apply_closed: None unless the cycle was closed


class ReportDoc(ReportHead, ReportMeasured, ReportTail):
    """One SLA over one period (``report --format json``): head, measured figures, tail, in that order."""


# ``status``'s plain availability of one endpoint (unknown and no_data left out, degraded as up) over the window
# from ``from`` (the window's start, or when monitoring of the endpoint began if later) to now. The functional form
# because "from" is a keyword.
PlainAvailabilityJson = TypedDict(
    "PlainAvailabilityJson",
    {"from": str, "availability_percent": float | None, "coverage_percent": float | None, "down_s": float},
)


class EndpointStatusJson(TypedDict):
    endpoint: str
    state: str
    last_state: str
    since: str | None
    last_result: dict[str, Any] | None  # ProbeResult.to_json(): the one result schema (README, "Results")
    last_24h: PlainAvailabilityJson
    last_30d: PlainAvailabilityJson


class SlaStatusJson(TypedDict):
    """An SLA's current cycle so far, as ``status`` shows it: the same figures as its report."""

    sla: str
    cycle: str
    availability_percent: float | None
    target_percent: float
    met: bool | None
    verdict: str | None  # as the report's
    budget_remaining_s: float | None
    budget_allowed_s: float | None
    projected_availability_percent: float | None
    coverage_percent: float | None
    warnings: list[str]  # coverage below the SLA's coverage_warning, worded as the report's


class StoreStateJson(TypedDict):
    """The daemon's store health as it noted it (``agent/storehealth.py``); ``ok`` None when nothing readable."""

    ok: bool | None
    problem: str | None
    since: str | None
    results_waiting: int | None
    queue_limit: int | None
    probing_paused: bool | None
    paused_probes: int | None
    noted_at: str | None


class DaemonJson(TypedDict):
    running: bool
    run_id: int | None
    last_heartbeat: str | None
    stopped: str | None
    clean_stop: bool | None
    pid: int | None
    store: StoreStateJson | None


class StatusDoc(TypedDict):
    """``status --format json``."""

    agent: str
    now: str
    warnings: list[str]
    slas: list[SlaStatusJson]
    daemon: DaemonJson
    endpoints: list[EndpointStatusJson]


# ``incidents --format json``; the functional form because "from" is a keyword. ``scope`` names what was listed
# ("sla:gold", "service:shop", "endpoint:web", "every endpoint"); ``from``/``to`` in the agent's (or the SLA's) zone.
IncidentListDoc = TypedDict(
    "IncidentListDoc",
    {
        "scope": str,
        "from": str,
        "to": str,
        "incidents": list[IncidentJson],
        "stats": IncidentStatsJson,
        "warnings": list[str],
    },
)


class CreditRowJson(TypedDict):
    """One SLA in ``credits --format json``: the part of its report that ``credits`` shows; ``credit`` None when the
    SLA has no credit terms."""

    sla: str
    customer: str | None
    cycle: CycleJson
    availability_percent: float | None
    availability_exact: str | None
    target_percent: float
    met: bool | None
    verdict: str | None  # as the report's (None in a closed cycle stored before verdicts existed)
    coverage_percent: float | None
    coverage_warnings: list[str]  # the report's coverage warning: coverage below the SLA's coverage_warning
    credit: CreditJson | None
    claim_deadline: str | None
    closed: ClosedJson | None


class ExclusionRowJson(TypedDict):
    """One exclusion in ``exclusions list --format json``: times in ISO 8601 UTC; ``revoked`` None while active."""

    id: int
    scope: str
    kind: str
    start: str
    end: str
    reason: str
    author: str
    created: str
    revoked: str | None
    revoked_by: str | None
