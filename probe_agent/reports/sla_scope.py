"""One SLA turned from the config into the core's values once, at the top of a report, and handed down.

``build_report`` (and ``status``) call ``sla_scope(config, sla)`` once; everything below them takes the
``SlaScope``: its zone, its endpoints, the core's ``SlaSpec``, each endpoint's probe interval, the config inputs
its hash covers. Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Maintenance, Sla
from probe_agent.reports import scope
from probe_agent.reports.inputs_hash import config_inputs
from probe_agent.sla.evaluation import SlaSpec
from probe_agent.sla.exclusions import MaintenanceWindow
from probe_agent.sla.periods import Period
from probe_agent.store.rows import Exclusion


@dataclass(frozen=True)
class SlaScope:
    """An SLA with the config it reads, as plain values.

    ``endpoints``: the endpoints its figures read (its own, or its services' members, first mention first);
    ``probe_interval_ms``: each one's probe interval in ms (measurement bounds); ``config_inputs``: the config
    outside the SLA's own keys that the inputs hash covers; ``agent_id``: whose config history dates maintenance
    announcements.
    """

    sla: Sla
    tz: ZoneInfo
    endpoints: tuple[str, ...]
    spec: SlaSpec
    probe_interval_ms: Mapping[str, int]
    config_inputs: dict[str, Any]
    agent_id: str

    def billing_cycle_at(self, ts_ms: int) -> Period:
        """The billing cycle that holds ``ts_ms`` (``scope.billing_cycle_at``)."""
        return scope.billing_cycle_at(self.sla, self.tz, ts_ms)

    def not_a_cycle_reason(self, period: Period) -> str | None:
        """Why ``period`` gets no credit (it is not a billing cycle); None when it is one."""
        return scope.not_a_cycle_reason(self.sla, self.tz, period)

    def claim_deadline(self, period: Period) -> datetime | None:
        """When a claim for ``period`` is due, in the SLA's zone; None without a claim window."""
        return scope.claim_deadline_for(self.sla, self.tz, period)

    def maintenance_windows(
        self, start_ms: int, end_ms: int, announced_by_config: Callable[[Maintenance], int | None]
    ) -> list[MaintenanceWindow]:
        """The SLA's maintenance windows that touch ``[start_ms, end_ms)`` (``scope.maintenance_windows``)."""
        return scope.maintenance_windows(self.sla, self.tz, start_ms, end_ms, announced_by_config)

    def applicable(self, exclusions: list[Exclusion]) -> list[Exclusion]:
        """Exclusions scoped to this SLA, to a service it covers, or to one of its endpoints."""
        sla = self.sla
        return [
            e
            for e in exclusions
            if (e.scope_kind == "sla" and e.scope_id == sla.id)
            or (e.scope_kind == "service" and e.scope_id in sla.services)
            or (e.scope_kind == "endpoint" and e.scope_id in self.endpoints)
        ]


def sla_scope(config: Config, sla: Sla) -> SlaScope:
    """``sla`` with what it reads of ``config``: the one place a report turns the config into the core's specs."""
    tz = scope.sla_zone(config, sla)
    endpoints = scope.scope_endpoints(config, sla)
    return SlaScope(
        sla=sla,
        tz=tz,
        endpoints=tuple(endpoints),
        spec=scope.sla_spec(config, sla),
        probe_interval_ms={e: config.endpoint(e).interval for e in endpoints},
        config_inputs=config_inputs(config, sla, endpoints, str(tz.key)),
        agent_id=config.agent.id,
    )
