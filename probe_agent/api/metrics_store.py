"""What ``/metrics`` reads from the store, and how long it keeps it.

- Per SLA, its current cycle so far, evaluated by the code ``status`` uses (``reports.sla_status.sla_now``: the same
  readers, the same ``evaluate``), plus the credit the report would show for it (``reports.build.cycle_credit``).
- Under ``probe-agent serve`` (no daemon in this process), each endpoint as ``status`` shows it
  (``reports.status.build_status``).
- Inside the daemon, the notification backlog: its pending outbox deliveries.

All of it is read in one thread (``ApiContext.read``) and reused for ``api.metrics.cache`` ms (15 s by default), so
scrapes from several Prometheus servers cost one evaluation per period.

The two counters of each SLA (``SlaCounters``) are true Prometheus counters: they start at 0 when this process
first reads the SLA, and each read adds how much the cycle's counted (up + down) and counted-down seconds grew
since the read before. Within a cycle that is the growth of the cycle-so-far figures; when the cycle changes, the
new cycle's figures so far are added (the old cycle's last moments between the read before and its end, at most
the cache period plus a scrape interval, are not). A figure that shrinks (time taken out of the count later: an
exclusion added, a reload that changed the SLA) adds nothing, and the next growth is taken from the smaller value:
the counters never go down, and rate() over a window gives counted and down seconds per second in that window.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from fractions import Fraction

from probe_agent.api.context import ApiContext, EndpointLive
from probe_agent.config.document import Config
from probe_agent.reports.build import cycle_credit
from probe_agent.reports.json_types import EndpointStatusJson
from probe_agent.reports.sla_status import SlaNow, sla_now
from probe_agent.reports.status import build_status
from probe_agent.store import outbox

# A phase or status state as one number (``probe_agent_endpoint_state``): no verdict is 0, and the codes grow with
# how bad the state is, unknown (the agent could not tell) last.
STATE_CODES = {"no_data": 0, "new": 0, "up": 1, "degraded": 2, "suspect": 3, "down": 4, "unknown": 5}
_UP = {"up": 1, "degraded": 1, "suspect": 1, "down": 0}


@dataclass(frozen=True)
class SlaFigures:
    """One SLA's current cycle so far. Ratios are in [0, 1]; None where the figure does not exist (see
    ``sla_figures``). ``counted_ms``/``counted_down_ms``: the cycle's counted (up + down) and counted-down ms."""

    sla: str
    cycle: str
    target: float
    availability: float | None
    coverage: float | None
    budget_remaining_s: float | None
    budget_remaining_ratio: float | None
    credit_percent: float | None
    counted_ms: int
    counted_down_ms: int


@dataclass(frozen=True)
class StoreFigures:
    """One read: the SLAs' figures (config order), the endpoints under ``serve`` (None in the daemon, whose own
    view is live) and the notification backlog in the daemon (None under ``serve``)."""

    slas: list[SlaFigures]
    endpoints: list[EndpointLive] | None
    backlog: int | None


def sla_figures(now: SlaNow) -> SlaFigures:
    """The figures of one evaluated cycle. Without an evaluation (nothing measured in the cycle yet) only the target
    and the counted 0 ms exist; ``availability`` is None when nothing was counted, ``coverage`` when everything was
    excluded, ``budget_remaining_ratio`` with a 100 % target (no budget to be a share of); ``credit_percent`` (a
    percent of the charged fee) is None without credit terms, and 0 while nothing is counted."""
    sla, ev = now.sla, now.evaluation
    terms_apply = now.scope.not_a_cycle_reason(now.period) is None
    credit = cycle_credit(sla, ev) if terms_apply else None
    if ev is None:
        return SlaFigures(
            sla.id, now.period.label, float(now.scope.spec.target), None, None, None, None,
            None if credit is None else float(credit.percent), 0, 0,
        )  # fmt: skip
    overall = ev.overall
    budget = overall.budget
    return SlaFigures(
        sla=sla.id,
        cycle=now.period.label,
        target=float(ev.target),
        availability=_float(overall.value),
        coverage=_float(overall.availability.coverage),
        budget_remaining_s=float(budget.remaining_ms / 1000),
        budget_remaining_ratio=float(budget.remaining_ms / budget.allowed_ms) if budget.allowed_ms else None,
        credit_percent=None if credit is None else float(credit.percent),
        counted_ms=overall.availability.counted_ms,
        counted_down_ms=overall.availability.counted_down_ms,
    )


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def endpoint_from_status(row: EndpointStatusJson) -> EndpointLive:
    """An endpoint as ``status`` shows it, in the daemon's live shape (no counters: nothing counts under serve)."""
    last = row["last_result"]
    latency_ms = None if last is None else last.get("latency_ms")
    days = None if last is None else last.get("tls_days_left")
    return EndpointLive(
        endpoint=row["endpoint"],
        phase=row["state"],
        up=_UP.get(row["state"]),
        latency_s=None if latency_ms is None else float(latency_ms) / 1000,
        cert_days_left=None if days is None else float(days),
        last_ts_ms=None,
    )


def read_store_figures(
    conn: sqlite3.Connection, config: Config, now_ms: int, *, agent: str, serve: bool
) -> StoreFigures:
    """One read of everything ``/metrics`` takes from the store (see the module docstring)."""
    slas = [sla_figures(sla_now(conn, config, sla, now_ms)) for sla in config.slas]
    if serve:
        rows = build_status(conn, config, now_ms, agent or None)["endpoints"]
        return StoreFigures(slas, [endpoint_from_status(r) for r in rows], None)
    return StoreFigures(slas, None, outbox.backlog(conn, agent or config.agent.id))


@dataclass
class SlaCounters:
    """``probe_agent_sla_counted_seconds_total`` and ``..._counted_down_seconds_total`` per SLA, in ms (see the
    module docstring for what they count)."""

    counted_ms: dict[str, int] = field(default_factory=dict)
    down_ms: dict[str, int] = field(default_factory=dict)
    _last: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # per SLA: (cycle, counted, down) read

    def observe(self, figures: list[SlaFigures]) -> None:
        for f in figures:
            last = self._last.get(f.sla)
            if last is None:
                grew = (0, 0)  # first read: the baseline, the counters start at 0
            elif last[0] != f.cycle:
                grew = (f.counted_ms, f.counted_down_ms)  # a new cycle: everything counted in it so far is new
            else:
                grew = (max(f.counted_ms - last[1], 0), max(f.counted_down_ms - last[2], 0))
            self.counted_ms[f.sla] = self.counted_ms.get(f.sla, 0) + grew[0]
            self.down_ms[f.sla] = self.down_ms.get(f.sla, 0) + grew[1]
            self._last[f.sla] = (f.cycle, f.counted_ms, f.counted_down_ms)


@dataclass
class StoreCache:
    """The last ``StoreFigures`` and when they were read (``ctx.now_ms``); one read at a time, so concurrent
    scrapes share it."""

    counters: SlaCounters = field(default_factory=SlaCounters)
    figures: StoreFigures | None = None
    read_ms: int | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, ctx: ApiContext) -> StoreFigures:
        """The figures, read again when older than ``api.metrics.cache`` ms (or "now" went back)."""
        async with self._lock:
            now = ctx.now_ms()
            fresh = self.read_ms is not None and 0 <= now - self.read_ms < ctx.api.metrics.cache
            if self.figures is None or not fresh:
                config, serve = ctx.config(), ctx.live is None
                self.figures = await ctx.read(
                    lambda conn: read_store_figures(conn, config, now, agent=ctx.agent_id, serve=serve)
                )
                self.read_ms = now
                self.counters.observe(self.figures.slas)
            return self.figures
