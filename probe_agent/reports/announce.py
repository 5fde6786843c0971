"""When was each maintenance window announced? The store's config history answers it.

A window with an explicit ``announced`` time uses that. Otherwise it counts as announced when a config carrying
the same window (same fields) first took effect for this agent (``config_activations``), which is evidence the
provider cannot back-date. With no such record the announcement time is unknown, and a window that requires
``notice`` does not count as maintenance (the report says why).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pydantic import ValidationError

from probe_agent.config.sla_schema import Maintenance, Sla
from probe_agent.store import queries


def announcement_times(conn: sqlite3.Connection, agent_id: str, sla: Sla) -> Callable[[Maintenance], int | None]:
    """When each of ``sla``'s maintenance entries first took effect in ``agent_id``'s config history (epoch ms;
    None: never seen). The history is only read when an entry requires ``notice``."""
    first_seen: dict[str, int] = {}
    if any(m.notice for m in sla.maintenance):
        for effective_ms, config_hash in sorted(queries.config_activations(conn, agent_id)):
            snap = queries.config_snapshot(conn, config_hash) or {}
            for raw_sla in snap.get("slas") or []:
                if not isinstance(raw_sla, dict) or raw_sla.get("id") != sla.id:
                    continue
                for entry in raw_sla.get("maintenance") or []:
                    try:
                        key = Maintenance.model_validate(entry).model_dump_json()
                    except ValidationError:
                        continue
                    first_seen.setdefault(key, effective_ms)

    def announced(m: Maintenance) -> int | None:
        return first_seen.get(m.model_dump_json())

    return announced
