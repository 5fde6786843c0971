"""The whole configuration document: the sections of schema.py and sla_schema.py together, defaults applied."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from probe_agent.config.api_schema import Api
from probe_agent.config.compact import shared_fields_sets
from probe_agent.config.notify_schema import Notifications
from probe_agent.config.schema import (
    INHERITED,
    Agent,
    Defaults,
    Endpoint,
    Model,
    Service,
    inherited,
    invalid_defaults,
)
from probe_agent.config.sla_schema import Sla

# Each endpoint and control gives up its copies of what equal ones hold alike as soon as it is validated, so a big
# config never holds them all at once (compact.py).
_Endpoint = Annotated[Endpoint, AfterValidator(shared_fields_sets)]


class Config(Model):
    """The whole configuration, after ``include:`` files were merged in and defaults applied."""

    agent: Agent = Field(default_factory=Agent)
    defaults: Defaults = Field(default_factory=Defaults)
    controls: tuple[_Endpoint, ...] = ()
    endpoints: tuple[_Endpoint, ...] = ()
    services: tuple[Service, ...] = ()
    slas: tuple[Sla, ...] = ()
    include: tuple[str, ...] = ()
    notifications: Notifications = Field(default_factory=Notifications)
    api: Api | None = None  # the HTTP server; off when absent

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Each endpoint and control, as written, with every ``INHERITED`` setting it leaves out (or sets to null)
        taken from ``defaults`` as written, so they are validated (and located) like its own. A ``defaults`` value
        that is invalid is reported at ``defaults.<key>``; the endpoints take the built-in one instead, so the
        mistake is reported once. Anything that is not a mapping is left for validation to refuse. Each endpoint is
        filled as validation reaches it (a generator), so a big config is not held a second time, filled."""
        if not isinstance(data, dict):
            return data
        taken = inherited(data.get("defaults"))
        built_in = inherited(None)
        for key in invalid_defaults(data.get("defaults")):
            if key in built_in:  # an unknown key (``grace``, a typo) is not inherited: its own error says so
                taken[key] = built_in[key]
        out = dict(data)
        for section in ("controls", "endpoints"):
            group = data.get(section)
            if isinstance(group, list | tuple):
                out[section] = (_filled(ep, taken) for ep in group)
        # An SLA without its own coverage_warning takes agent.coverage_warning (validated where it is written).
        agent = data.get("agent")
        shared = agent.get("coverage_warning") if isinstance(agent, dict) else None
        slas = data.get("slas")
        if shared is not None and isinstance(slas, list | tuple):
            out["slas"] = [
                {**sla, "coverage_warning": shared}
                if isinstance(sla, dict) and sla.get("coverage_warning") is None
                else sla
                for sla in slas
            ]
        return out

    def sla(self, sla_id: str) -> Sla:
        for sla in self.slas:
            if sla.id == sla_id:
                return sla
        raise KeyError(sla_id)

    def service(self, service_id: str) -> Service:
        for svc in self.services:
            if svc.id == service_id:
                return svc
        raise KeyError(service_id)

    def endpoint(self, endpoint_id: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.id == endpoint_id:
                return ep
        raise KeyError(endpoint_id)


def _filled(endpoint: Any, taken: dict[str, Any]) -> Any:
    if not isinstance(endpoint, dict):
        return endpoint
    return {**endpoint, **{key: taken[key] for key in INHERITED if endpoint.get(key) is None}}
