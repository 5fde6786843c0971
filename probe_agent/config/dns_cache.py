"""The ``dns_cache`` option of endpoints and controls, checked against the rest of the document.

``dns_cache: none`` (the default) resolves the name on every probe. ``dns_cache: ttl`` reuses an answer of the
configured ``agent.resolvers`` until its TTL runs out, never longer (the probes' ``DnsCache``). It is refused:
- without ``agent.resolvers``: the system resolver (``getaddrinfo``) does not say how long an answer may be kept,
  and a guessed lifetime could outlive the record;
- on a ``dns`` endpoint, whose probe is the lookup itself.
"""

from __future__ import annotations

from typing import Any

from probe_agent.config.yamlsource import Positions, Problem, dotted


def check_dns_cache(doc: dict[str, Any], positions: Positions) -> list[Problem]:
    """Problems of ``dns_cache: ttl`` where it cannot hold (see the module doc), located at the key."""
    agent = doc.get("agent")
    resolvers = agent.get("resolvers") if isinstance(agent, dict) else None
    problems: list[Problem] = []
    for section in ("controls", "endpoints"):
        items = doc.get(section)
        for i, ep in enumerate(items if isinstance(items, list) else []):
            if not isinstance(ep, dict) or ep.get("dns_cache") != "ttl":
                continue
            path = (section, i, "dns_cache")
            if ep.get("dns") is not None:
                problems.append(
                    Problem(
                        positions.find(path),
                        dotted(path),
                        "dns_cache does not apply to a dns endpoint: its probe is the lookup itself",
                        "remove dns_cache here; it is for http, tcp and tls endpoints",
                    )
                )
            elif not resolvers:
                problems.append(
                    Problem(
                        positions.find(path),
                        dotted(path),
                        "dns_cache: ttl needs agent.resolvers: the system resolver does not report how long an "
                        "answer may be kept",
                        "list nameservers in agent.resolvers (their answers carry TTLs), or remove dns_cache "
                        "to resolve on every probe",
                    )
                )
    return problems
