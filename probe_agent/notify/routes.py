"""Routing: which channels get an event, decided once, when the event is enqueued. Pure: config and event in,
channel ids out.

A route matches an event when its ``events`` list is empty or names the event's type, and its subject filters
(``endpoints``, ``services``, ``slas``, ``tags``) are all empty or one of them selects the event's subject:
- an endpoint event is selected by its endpoint id, a service containing it, an SLA covering it (directly or through
  one of its services) or one of its tags;
- a service event by its service id or an SLA covering the service; an SLA event by its SLA id;
- an event about the agent itself (``agent_impaired``) concerns every subject, so every filter selects it.
An event goes to the union of the matching routes' channels, each once, in the order the config first names them.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe_agent.config.document import Config
from probe_agent.config.notify_schema import EventType, Route
from probe_agent.notify.event import Event, Subject
from probe_agent.store.outbox import OutboxRow


class Router:
    """Built from one config (rebuilt on reload); ``channels_for(event)`` -> channel ids."""

    def __init__(self, config: Config) -> None:
        self.routes: tuple[Route, ...] = config.notifications.routes
        services_of: dict[str, set[str]] = {}
        for svc in config.services:
            for ep_id in svc.endpoints:
                services_of.setdefault(ep_id, set()).add(svc.id)
        # Per subject, the (filter key, value) pairs a route filter can select it by.
        selectors: dict[Subject, frozenset[tuple[str, str]]] = {}
        for sla in config.slas:
            selectors[("sla", sla.id)] = frozenset({("slas", sla.id)})
        for svc in config.services:
            slas = {s.id for s in config.slas if svc.id in s.services}
            selectors[("service", svc.id)] = frozenset({("services", svc.id), *(("slas", s) for s in slas)})
        for ep in config.endpoints:
            services = services_of.get(ep.id, set())
            slas = {s.id for s in config.slas if ep.id in s.endpoints or services & set(s.services)}
            selectors[("endpoint", ep.id)] = frozenset(
                {
                    ("endpoints", ep.id),
                    *(("services", s) for s in services),
                    *(("slas", s) for s in slas),
                    *(("tags", t) for t in ep.tags),
                }
            )
        self._selectors = selectors

    def channels_for(self, event_type: EventType, subject: Subject) -> tuple[str, ...]:
        out: list[str] = []
        for route in self.routes:
            if route.events and event_type not in route.events:
                continue
            if not self._selects(route, subject):
                continue
            out += [c for c in route.channels if c not in out]
        return tuple(out)

    def _selects(self, route: Route, subject: Subject) -> bool:
        wanted = {("endpoints", x) for x in route.endpoints}
        wanted |= {("services", x) for x in route.services}
        wanted |= {("slas", x) for x in route.slas}
        wanted |= {("tags", x) for x in route.tags}
        if not wanted or subject[0] == "agent":
            return True
        return bool(wanted & self._selectors.get(subject, frozenset()))

    def outbox_rows(self, event: Event, *, exclude: Sequence[str] = ()) -> list[OutboxRow]:
        """The deliveries of ``event``: one row per routed channel (but those in ``exclude``)."""
        body = event.body()
        return [
            OutboxRow(event.agent, event.id, channel, str(event.type), event.summary, body, event.time_ms)
            for channel in self.channels_for(event.type, event.subject)
            if channel not in exclude
        ]
