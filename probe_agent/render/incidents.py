"""``incidents``' views of the incident list document (``reports.incident_list.list_incidents``)."""

from __future__ import annotations

from collections.abc import Sequence

from probe_agent.render.csvout import to_csv
from probe_agent.render.markdown import md_table
from probe_agent.render.report import INCIDENT_HEADERS, incident_cells
from probe_agent.render.table import format_table
from probe_agent.reports.json_types import IncidentListDoc
from probe_agent.units import dur

_HEADERS = list(INCIDENT_HEADERS)


def _cells(doc: IncidentListDoc) -> list[Sequence[object]]:
    return incident_cells(doc["incidents"])


def incidents_csv(doc: IncidentListDoc) -> str:
    """Machine-readable: durations in seconds, an ongoing incident's end empty, endpoints space-separated."""
    return to_csv(["start", "end", "duration_s", "down_s", "cause", "endpoints"],
                  [(i["start"], i["end"], i["duration_s"], i["down_s"], i["cause"], " ".join(i["endpoints"]))
                   for i in doc["incidents"]])  # fmt: skip


def incidents_markdown(doc: IncidentListDoc) -> str:
    return md_table(_HEADERS, _cells(doc)) + "\n"


def incidents_table(doc: IncidentListDoc) -> str:
    """The table, then the count, MTTR, MTBF and longest incident, then the warnings if any."""
    s = doc["stats"]
    count = f"{s['count']} incident{'' if s['count'] == 1 else 's'}"
    tail = f"\n\n{count}; MTTR {dur(s['mttr_s'])}, MTBF {dur(s['mtbf_s'])}, longest {dur(s['longest_s'])}"
    warnings = "".join(f"\n  - {w}" for w in doc["warnings"])
    return format_table(_HEADERS, _cells(doc)) + tail + (f"\n\nWarnings:{warnings}" if warnings else "")
