"""Routing: which channels get an event, decided once, when the event is enqueued. Pure: config and event in,
channel ids out.

A route matches an event when its ``events`` list is empty or names the event's type, and its subject filters
(``endpoints``, ``services``, ``slas``, ``tags``) are all empty or one of them selects the event's subject:
- an endpoint event is selected by its endpoint id, a service containing it, an SLA covering it (directly or through
  one of its services) or one of its tags;
- a service event by its service id or an SLA covering the service; an SLA event by its SLA id;
- an event about the agent itself (``agent_impaired``) concerns every subject, so every filter selects it.
An event goes to the union of the matching routes' channels, each once, in the order the config first names them.

Maintenance muting (``in_window``: the ids of the SLAs whose maintenance window covers now): ``endpoint_down`` and
``endpoint_recovered`` are muted for a route filtered to an SLA covering the endpoint (by ``slas``, or by
``services`` naming one of that SLA's services that holds the endpoint) while every such SLA of the route is in a
window; for any other route only while every SLA covering the endpoint is in one (an endpoint no SLA covers is
never muted). A channel is muted when every matching route that names it is. Other events are never muted.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from probe_agent.config.document import Config
from probe_agent.config.notify_schema import EventType, Route
from probe_agent.notify.event import Event, Subject
from probe_agent.store.outbox import OutboxRow


class Router:
    """Built from one config (rebuilt on reload); ``channels_for(event)`` -> channel ids."""

    def __init__(self, config: Config) -> None:
        self.routes: tuple[Route, ...] = config.notifications.routes
        self._services_of: dict[str, set[str]] = {}
        for svc in config.services:
            for ep_id in svc.endpoints:
                self._services_of.setdefault(ep_id, set()).add(svc.id)
        # Each SLA's services and endpoints as sets, made once.
        self._sla_services = {s.id: frozenset(s.services) for s in config.slas}
        self._sla_endpoints = {s.id: frozenset(s.endpoints) for s in config.slas}
        self._tags = {ep.id: ep.tags for ep in config.endpoints}
        # Per subject, the (filter key, value) pairs a route filter can select it by. An endpoint's are made when
        # an event first asks (``_endpoint_selectors``): a router is built at start, on every reload and by the
        # sender, and making all of them up front took seconds of a 50,000-endpoint daemon's start-up.
        self._selectors: dict[Subject, frozenset[tuple[str, str]]] = {}
        for sla in config.slas:
            self._selectors[("sla", sla.id)] = frozenset({("slas", sla.id)})
        for svc in config.services:
            slas = {s for s, covered in self._sla_services.items() if svc.id in covered}
            self._selectors[("service", svc.id)] = frozenset({("services", svc.id), *(("slas", s) for s in slas)})
        # For muting: per endpoint, the SLAs covering it, and through which of the endpoint's services each does
        # (made when first asked, as the selectors are).
        self._covering: dict[str, dict[str, frozenset[str]]] = {}

    def _endpoint_selectors(self, ep_id: str) -> frozenset[tuple[str, str]]:
        services = self._services_of.get(ep_id, set())
        return frozenset(
            {
                ("endpoints", ep_id),
                *(("services", s) for s in services),
                *(("slas", s) for s in self._covering_slas(ep_id)),
                *(("tags", t) for t in self._tags[ep_id]),
            }
        )

    def _covering_slas(self, ep_id: str) -> dict[str, frozenset[str]]:
        """The SLAs covering endpoint ``ep_id`` (directly or through its services), each with those services."""
        if ep_id not in self._covering:
            services = self._services_of.get(ep_id, set())
            self._covering[ep_id] = {
                s: frozenset(services & covered)
                for s, covered in self._sla_services.items()
                if ep_id in self._sla_endpoints[s] or not services.isdisjoint(covered)
            }
        return self._covering[ep_id]

    def channels_for(
        self, event_type: EventType, subject: Subject, in_window: Set[str] = frozenset()
    ) -> tuple[str, ...]:
        """The channels that get the event; with ``in_window``, those of muted routes left out (module doc)."""
        out: list[str] = []
        for route in self.routes:
            if route.events and event_type not in route.events:
                continue
            if not self._selects(route, subject):
                continue
            if in_window and self.muted(route, event_type, subject, in_window):
                continue
            out += [c for c in route.channels if c not in out]
        return tuple(out)

    def muted(self, route: Route, event_type: EventType, subject: Subject, in_window: Set[str]) -> bool:
        """Whether maintenance mutes ``route`` for this event (the module doc's rule)."""
        if event_type not in _MUTABLE or subject[0] != "endpoint":
            return False
        covering = self._covering_slas(subject[1]) if subject[1] in self._tags else {}
        own = {sla for sla, via in covering.items() if sla in route.slas or via & set(route.services)}
        relevant = own or set(covering)
        return bool(relevant) and relevant <= in_window

    def _selects(self, route: Route, subject: Subject) -> bool:
        wanted = {("endpoints", x) for x in route.endpoints}
        wanted |= {("services", x) for x in route.services}
        wanted |= {("slas", x) for x in route.slas}
        wanted |= {("tags", x) for x in route.tags}
        if not wanted or subject[0] == "agent":
            return True
        selectors = self._selectors.get(subject)
        if selectors is None:
            selectors = frozenset()
            if subject[0] == "endpoint" and subject[1] in self._tags:
                selectors = self._selectors[subject] = self._endpoint_selectors(subject[1])
        return bool(wanted & selectors)

    def outbox_rows(
        self, event: Event, *, exclude: Sequence[str] = (), only: Sequence[str] | None = None
    ) -> list[OutboxRow]:
        """The deliveries of ``event``: one row per routed channel (but those in ``exclude``; with ``only``, just
        those routed channels that are in it). Muting is the caller's: pass ``exclude`` (agent/maintenance.py)."""
        body = event.body()
        return [
            OutboxRow(event.agent, event.id, channel, str(event.type), event.summary, body, event.time_ms)
            for channel in self.channels_for(event.type, event.subject)
            if channel not in exclude and (only is None or channel in only)
        ]


_MUTABLE = frozenset({EventType.ENDPOINT_DOWN, EventType.ENDPOINT_RECOVERED})
