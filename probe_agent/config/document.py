"""The whole configuration document: the sections of schema.py and sla_schema.py together, defaults applied."""

from __future__ import annotations

from pydantic import Field, model_validator

from probe_agent.config.schema import Agent, Defaults, Endpoint, Model, Service
from probe_agent.config.sla_schema import Sla


class Config(Model):
    """The whole configuration, after ``include:`` files were merged in and defaults applied."""

    agent: Agent = Field(default_factory=Agent)
    defaults: Defaults = Field(default_factory=Defaults)
    controls: tuple[Endpoint, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    services: tuple[Service, ...] = ()
    slas: tuple[Sla, ...] = ()
    include: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _apply_defaults(self) -> Config:
        d = self.defaults
        filled = []
        for group in (self.controls, self.endpoints):
            out = []
            for ep in group:
                ep = ep.model_copy(
                    update={
                        "interval": ep.interval if ep.interval is not None else d.interval,
                        "timeout": ep.timeout if ep.timeout is not None else d.timeout,
                        "retry_interval": ep.retry_interval if ep.retry_interval is not None else d.retry_interval,
                        "confirm": ep.confirm if ep.confirm is not None else d.confirm,
                        "degraded_after": ep.degraded_after if ep.degraded_after is not None else d.degraded_after,
                    }
                )
                out.append(ep)
            filled.append(tuple(out))
        object.__setattr__(self, "controls", filled[0])
        object.__setattr__(self, "endpoints", filled[1])
        return self

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
