"""Rendering the SLA report document (reports/build.py) as a terminal table, Markdown or CSV.

All renderers read the same JSON document, so every format shows the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from probe_agent.render.csvout import to_csv
from probe_agent.render.markdown import md_table, md_text
from probe_agent.render.table import format_table
from probe_agent.render.verdicts import verdict_sentence
from probe_agent.reports.json_types import IncidentJson, ObjectivesJson, ReportDoc, ScopeJson, SecondsJson
from probe_agent.units import dur, pct


def met_text(met: bool | None) -> str:
    return "n/a (nothing counted)" if met is None else ("met" if met else "MISSED")


# The headline figures the HTML claim report shows as cards: labels of ``summary_rows``, in its order.
SUMMARY_CARDS = ("Target", "Availability", "Coverage", "Credit")


def _verdict_row(doc: ReportDoc) -> tuple[str, str]:
    """The verdict in words (a running cycle is not yet met or missed); a document stored before verdicts existed
    (a closed cycle) has only ``met``."""
    verdict = doc.get("verdict")
    if "verdict" not in doc:  # stored before verdicts: a complete cycle's is its met or missed
        if not doc["cycle"]["complete"]:
            return ("Met", met_text(doc["met"]))
        verdict = None if doc["met"] is None else "met" if doc["met"] else "missed"
    return ("Verdict", verdict_sentence(verdict))


def _low(doc: ReportDoc) -> bool:
    """Whether a coverage warning is in the report (coverage below the SLA's ``coverage_warning``)."""
    return any(w.startswith("coverage ") and "coverage_warning" in w for w in doc.get("warnings", []))


def summary_rows(doc: ReportDoc) -> list[tuple[str, str]]:
    """(label, value) pairs: the headline figures, in one order for every format."""
    c = doc["cycle"]
    rows = [
        ("SLA", f"{doc['sla']}" + (f" ({doc['customer']})" if doc.get("customer") else "")),
        ("Cycle", f"{c['start']} to {c['end']}" + ("" if c["complete"] else f" (so far: until {c['measured_until']})")),
        ("Target", pct(doc["target_percent"], 3)),
        ("Availability", pct(doc["availability_percent"])),
        _verdict_row(doc),
    ]
    if "seconds" not in doc:
        return rows
    s = doc["seconds"]
    rows += [
        ("Counting", _counting(doc)),
        (
            "Coverage",
            pct(doc.get("coverage_percent"), 2) + (" LOW (below the SLA's coverage_warning)" if _low(doc) else ""),
        ),
        ("Down", dur(s["down"])),
        (
            "Unknown / no data / excluded",
            f"{dur(s['unknown'])} / {dur(s['no_data'])} / {dur(s['excluded'])}",
        ),
    ]
    b = doc.get("budget")
    if b:
        rows.append(
            (
                "Error budget",
                f"{dur(b['remaining_s'])} left of {dur(b['allowed_s'])} (used {dur(b['used_s'])})",
            )
        )
        if b.get("projected_availability_percent") is not None and not doc["cycle"]["complete"]:
            burn = "-" if b["burn_rate"] is None else f"{b['burn_rate']:.2f}"
            rows.append(("Projection", f"{pct(b['projected_availability_percent'])} at cycle end (burn rate {burn})"))
    bounds = doc.get("bounds")
    if bounds:
        rows.append(
            (
                "Measurement bounds",
                f"down {dur(bounds['min_down_s'])} to {dur(bounds['max_down_s'])}; availability "
                f"{pct(bounds['min_availability_percent'])} to {pct(bounds['max_availability_percent'])} "
                f"(probe interval {dur(bounds['probe_interval_s'])})",
            )
        )
    stats = doc.get("incident_stats")
    if stats:
        rows.append(
            (
                "Incidents",
                f"{stats['count']} (MTTR {dur(stats['mttr_s'])}, MTBF {dur(stats['mtbf_s'])}, "
                f"longest {dur(stats['longest_s'])})",
            )
        )
    objectives: ObjectivesJson = doc.get("objectives") or {}
    for name in objectives:  # in the document's order (a stored document's keys are sorted)
        lat, er = objectives.get("latency"), objectives.get("error_rate")
        if name == "latency" and lat is not None:
            value = "-" if lat["value_ms"] is None else f"{lat['value_ms']:.3f} ms"
            objective = f"objective below {lat['below_ms']:.0f} ms: {met_text(lat['met'])}"
            rows.append((f"Latency p{lat['percentile']:g}", f"{value} ({objective})"))
        elif er is not None:
            rows.append(
                (
                    "Error rate",
                    f"{pct(er['rate_percent'], 3)} (objective below {er['below_percent']}%: {met_text(er['met'])})",
                )
            )
    credit = doc.get("credit")
    no_credit = doc.get("no_credit_reason")
    if credit:
        text = f"{credit['percent']}% = {credit['amount']} {credit['currency']} ({credit['rule']})"
        if credit.get("provisional"):  # a credit stored by an older version has no "provisional"
            text = f"PROVISIONAL (the cycle is not over): {text}"
        rows.append(("Credit", text))
    elif no_credit:
        rows.append(("Credit", no_credit))
    deadline = doc.get("claim_deadline")
    if deadline:
        rows.append(("Claim deadline", deadline))
    return rows


def _counting(doc: ReportDoc) -> str:
    c = doc["counting"]
    if c["method"] != "slices":
        return "time (exact, from state intervals)"
    sl = doc.get("slices")
    down, up, excluded = (sl["down"], sl["up"], sl["excluded"]) if sl else (0, 0, 0)
    return (
        f"{dur(c.get('unit_s'))} slices, partial {c.get('partial')}, min run {c.get('min_run')}: "
        f"{down} down / {up} up / {excluded} excluded"
    )


def incident_cells(incidents: Iterable[IncidentJson]) -> list[Sequence[object]]:
    """One row per incident, in ``INCIDENT_HEADERS`` order: the report's incident table and ``incidents``' views."""
    return [
        (
            i["start"],
            i["end"] or "ongoing",
            dur(i["duration_s"]),
            dur(i["down_s"]),
            i["cause"] or "-",
            ", ".join(i["endpoints"]),
        )
        for i in incidents
    ]


def incident_rows(doc: ReportDoc) -> list[Sequence[object]]:
    return incident_cells(doc.get("incidents", []))


INCIDENT_HEADERS = ("START", "END", "DURATION", "DOWN", "CAUSE", "ENDPOINTS")


def named_scopes(doc: ReportDoc, key: Literal["services", "endpoints"]) -> list[tuple[str, ScopeJson]]:
    """The document's services or endpoints, each with its name."""
    if key == "services":
        return [(s["service"], s) for s in doc.get("services", [])]
    return [(e["endpoint"], e) for e in doc.get("endpoints", [])]


def scope_rows(doc: ReportDoc, key: Literal["services", "endpoints"]) -> list[Sequence[object]]:
    return [
        (
            name,
            pct(s["availability_percent"]),
            met_text(s["met"]),
            dur(s["seconds"]["down"]),
            pct(s["coverage_percent"], 2),
            len(s["incidents"]),
        )
        for name, s in named_scopes(doc, key)
    ]


def report_table(doc: ReportDoc) -> str:
    width = max(len(k) for k, _ in summary_rows(doc))
    parts = ["\n".join(f"{k.ljust(width)}  {v}" for k, v in summary_rows(doc))]
    if doc.get("services"):
        parts.append(
            format_table(
                ["SERVICE", "AVAILABILITY", "MET", "DOWN", "COVERAGE", "INCIDENTS"], scope_rows(doc, "services")
            )
        )
    if doc.get("incidents"):
        parts.append(format_table(list(INCIDENT_HEADERS), incident_rows(doc)))
    parts += _lists_text(doc)
    return "\n\n".join(parts)


def _lists_text(doc: ReportDoc) -> list[str]:
    out = []
    if doc.get("exclusions"):
        out.append(
            "Exclusions applied:\n"
            + "\n".join(
                f"  #{e['id']} {e['kind']} {e['scope']} {e['start']} to {e['end']}: {e['reason']}"
                for e in doc["exclusions"]
            )
        )
    windows = doc.get("maintenance") or []
    if windows:
        out.append(
            "Maintenance windows:\n"
            + "\n".join(
                f"  {w['start']} to {w['end']} {w['label']}: "
                f"{'excluded' if w['excluded'] else 'NOT excluded'} ({w['reason']})"
                for w in windows
            )
        )
    credit = doc.get("credit")
    if credit:
        out.append("Credit computation:\n" + "\n".join(f"  {step}" for step in credit["steps"]))
    if doc.get("warnings"):
        out.append("Warnings:\n" + "\n".join(f"  - {w}" for w in doc["warnings"]))
    return out


def report_markdown(doc: ReportDoc) -> str:
    parts = [
        md_text(f"# SLA report: {doc['sla']}, cycle {doc['cycle']['label']}"),
        md_table(["", ""], summary_rows(doc)),
    ]
    if doc.get("services"):
        parts += [
            "## Services",
            md_table(
                ["Service", "Availability", "Met", "Down", "Coverage", "Incidents"],
                scope_rows(doc, "services"),
                right=(1, 3, 4, 5),
            ),
        ]
    parts += ["## Incidents", md_table(list(INCIDENT_HEADERS), incident_rows(doc)) if doc.get("incidents") else "None."]
    if doc.get("exclusions"):
        parts += [
            "## Exclusions applied",
            md_table(
                ["Id", "Kind", "Scope", "Start", "End", "Reason", "Author"],
                [
                    (e["id"], e["kind"], e["scope"], e["start"], e["end"], e["reason"], e["author"])
                    for e in doc["exclusions"]
                ],
            ),
        ]
    credit = doc.get("credit")
    if credit:
        parts += ["## Credit computation", "\n".join(f"1. {md_text(step)}" for step in credit["steps"])]
    if doc.get("warnings"):
        parts += ["## Warnings", "\n".join(f"- {md_text(w)}" for w in doc["warnings"])]
    parts += ["## How to verify", f"`{doc['verify']['command']}` (inputs hash `{doc['inputs_hash']}`)"]
    return "\n\n".join(parts) + "\n"


REPORT_CSV_HEADERS = (
    "sla", "cycle_start", "cycle_end", "scope", "name", "target_percent", "availability_percent", "met",
    "up_s", "degraded_s", "down_s", "unknown_s", "no_data_s", "excluded_s", "coverage_percent", "incidents",
)  # fmt: skip


def report_csv_rows(doc: ReportDoc) -> list[Sequence[object]]:
    rows: list[Sequence[object]] = []

    def row(kind: str, name: str, s: ScopeJson | ReportDoc) -> None:
        sec = s.get("seconds")
        rows.append(
            (
                doc["sla"], doc["cycle"]["start"], doc["cycle"]["end"], kind, name, doc["target_percent"],
                s.get("availability_percent"), s.get("met"), *_seconds_cells(sec), s.get("coverage_percent"),
                len(s.get("incidents") or []),
            )
        )  # fmt: skip

    row("sla", doc["sla"], doc)
    for s in doc.get("services", []):
        row("service", s["service"], s)
    for e in doc.get("endpoints", []):
        row("endpoint", e["endpoint"], e)
    return rows


def _seconds_cells(sec: SecondsJson | None) -> tuple[float | None, ...]:
    """up, degraded, down, unknown, no_data, excluded (seconds); empty cells when the scope has no figures."""
    if sec is None:
        return (None,) * 6
    return sec["up"], sec["degraded"], sec["down"], sec["unknown"], sec["no_data"], sec["excluded"]


def reports_csv(docs: Sequence[ReportDoc]) -> str:
    return to_csv(REPORT_CSV_HEADERS, [r for d in docs for r in report_csv_rows(d)])
