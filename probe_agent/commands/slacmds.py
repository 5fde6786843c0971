"""``report``, ``incidents`` and ``credits``: the SLA views. Each parses, calls the report library, renders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from probe_agent.commands.common import UsageProblem, config_option, emit, format_option, load, output_option
from probe_agent.commands.reporting import open_reader
from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import now_ms
from probe_agent.render.csvout import to_csv
from probe_agent.render.markdown import md_table
from probe_agent.render.report import report_markdown, report_table, reports_csv
from probe_agent.render.table import format_table
from probe_agent.reports import scope
from probe_agent.reports.build import build_report
from probe_agent.reports.closing import apply_closed
from probe_agent.reports.json_types import ReportDoc
from probe_agent.units import dur, pct

F = TypeVar("F", bound=Callable[..., Any])


def period_options(f: F) -> F:
    f = click.option(
        "--to", "to", default=None, help="End (exclusive): ISO 8601 with offset, or a date in the SLA's zone."
    )(f)
    f = click.option("--from", "from_", default=None, help="Start: ISO 8601 with offset, or a date in the SLA's zone.")(
        f
    )
    return click.option(
        "--cycle",
        default=None,
        metavar="YYYY-MM",
        help="The billing cycle that starts in this month (default: the current one).",
    )(f)


def select_slas(config: Config, sla_id: str | None) -> list[Sla]:
    if not config.slas:
        raise UsageProblem("no SLAs configured: add one under `slas:` (see README.md, 'SLAs and credits')")
    if sla_id is None:
        return list(config.slas)
    try:
        return [config.sla(sla_id)]
    except KeyError:
        raise UsageProblem(f"unknown SLA '{sla_id}' (configured: {', '.join(s.id for s in config.slas)})") from None


def build_docs(
    config_path: Path | None, sla_id: str | None, cycle: str | None, from_: str | None, to: str | None
) -> list[ReportDoc]:
    if cycle and (from_ or to):
        raise UsageProblem("give --cycle or --from/--to, not both")
    loaded = load(config_path)
    config = loaded.config
    slas = select_slas(config, sla_id)
    now = now_ms()
    conn = open_reader(config)
    docs = []
    try:
        for sla in slas:
            try:
                period = scope.sla_period(config, sla, now, cycle=cycle, from_=from_, to=to)
            except ValueError as exc:
                raise UsageProblem(str(exc)) from None
            docs.append(apply_closed(conn, build_report(conn, config, sla, period, now)))
    finally:
        conn.close()
    return docs


def dump(docs: list[ReportDoc]) -> str:
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, ensure_ascii=False)


@click.command()
@click.option("--sla", "sla_id", default=None, help="SLA id (default: every SLA).")
@period_options
@config_option
@format_option("table", "json", "csv", "markdown", "html")
@output_option
def report(
    sla_id: str | None,
    cycle: str | None,
    from_: str | None,
    to: str | None,
    config_path: Path | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Availability per SLA for a billing cycle, the way its contract counts it.

    Shows availability (exact; rounded only for display), target and whether it was met, seconds by state,
    coverage, error budget (allowed, used, remaining, burn rate, projection), incidents, per-service figures,
    latency and error-rate objectives, exclusions and maintenance applied, measurement bounds and the credit.
    JSON is one object for one SLA, a list for several. --format html writes a self-contained claim report.
    """
    docs = build_docs(config_path, sla_id, cycle, from_, to)
    if fmt == "json":
        text = dump(docs)
    elif fmt == "csv":
        text = reports_csv(docs)
    elif fmt == "markdown":
        text = "\n".join(report_markdown(d) for d in docs)
    elif fmt == "html":
        from probe_agent.render.html import claim_report_html

        if len(docs) != 1:
            raise UsageProblem("the HTML claim report covers one SLA: give --sla ID")
        text = claim_report_html(docs[0])
    else:
        text = "\n\n".join(report_table(d) for d in docs)
    emit(text, output)


@click.command()
@click.option("--sla", "sla_id", default=None, help="SLA id (default: every SLA).")
@click.option(
    "--cycle", default=None, metavar="YYYY-MM", help="The billing cycle that starts in this month (default: current)."
)
@config_option
@format_option("table", "json", "csv", "markdown")
@output_option
def credits(sla_id: str | None, cycle: str | None, config_path: Path | None, fmt: str, output: Path | None) -> None:
    """The service credit owed per SLA for a cycle, with the rule that fired and every step of the computation.

    Money is exact (Decimal) and rounded half-up to the currency's minor unit; tier boundaries are exact
    ("below 99.9%" means strictly less). A credit for a cycle still running is marked provisional.
    """
    docs = build_docs(config_path, sla_id, cycle, None, None)
    rows: list[dict[str, Any]] = []
    for d in docs:
        rows.append(
            {
                "sla": d["sla"],
                "customer": d["customer"],
                "cycle": d["cycle"],
                "availability_percent": d["availability_percent"],
                "availability_exact": d["availability_exact"],
                "target_percent": d["target_percent"],
                "met": d["met"],
                "credit": d.get("credit") or None,
                "claim_deadline": d["claim_deadline"],
                "closed": d.get("closed"),
            }
        )
    if fmt == "json":
        emit(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2, ensure_ascii=False), output)
        return
    headers = ["SLA", "CYCLE", "AVAILABILITY", "TARGET", "CREDIT %", "AMOUNT", "RULE", "CLAIM BY"]
    table = [
        (
            r["sla"],
            r["cycle"]["label"],
            pct(r["availability_percent"]),
            pct(r["target_percent"], 3),
            (r["credit"] or {}).get("percent", "-"),
            f"{r['credit']['amount']} {r['credit']['currency']}" if r["credit"] else "no credit terms",
            (r["credit"] or {}).get("rule", "-") + (" (provisional)" if (r["credit"] or {}).get("provisional") else ""),
            r["claim_deadline"] or "-",
        )
        for r in rows
    ]
    if fmt == "csv":
        emit(to_csv(headers, table), output)
    elif fmt == "markdown":
        steps = "\n\n".join(
            f"### {r['sla']}\n\n" + "\n".join(f"1. {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
        )
        emit(md_table(headers, table) + ("\n\n" + steps if steps else "") + "\n", output)
    else:
        steps = "\n\n".join(
            f"{r['sla']}:\n" + "\n".join(f"  {s}" for s in r["credit"]["steps"]) for r in rows if r["credit"]
        )
        emit(format_table(headers, table) + ("\n\n" + steps if steps else ""), output)


@click.command()
@click.option("--sla", "sla_id", default=None, help="Incidents of this SLA (its services combined).")
@click.option("--service", "service_id", default=None, help="Incidents of this service (its endpoints combined).")
@click.option("--endpoint", "endpoint_id", default=None, help="Outages of this endpoint (its agents combined).")
@click.option("--from", "from_", default=None, help="Start: ISO 8601 with offset, or a date (default: 30 days ago).")
@click.option("--to", "to", default=None, help="End: ISO 8601 with offset, or a date (default: now).")
@config_option
@format_option("table", "json", "csv", "markdown")
@output_option
def incidents(
    sla_id: str | None,
    service_id: str | None,
    endpoint_id: str | None,
    from_: str | None,
    to: str | None,
    config_path: Path | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Confirmed outages: start, end, duration, down time, first error kind and endpoints.

    One outage stays one incident from its first failure to its recovery, even when unknown or no-data spans lie
    inside it. Without --sla/--service/--endpoint, every endpoint's outages are listed.
    """
    from probe_agent.reports.incident_list import list_incidents

    if sum(x is not None for x in (sla_id, service_id, endpoint_id)) > 1:
        raise UsageProblem("give at most one of --sla, --service, --endpoint")
    loaded = load(config_path)
    conn = open_reader(loaded.config)
    try:
        doc = list_incidents(conn, loaded.config, now_ms(), sla_id=sla_id, service_id=service_id,
                             endpoint_id=endpoint_id, from_=from_, to=to)  # fmt: skip
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        conn.close()
    headers = ["START", "END", "DURATION", "DOWN", "CAUSE", "ENDPOINTS"]
    rows = [
        (
            i["start"],
            i["end"] or "ongoing",
            dur(i["duration_s"]),
            dur(i["down_s"]),
            i["cause"] or "-",
            ", ".join(i["endpoints"]),
        )
        for i in doc["incidents"]
    ]
    if fmt == "json":
        emit(json.dumps(doc, indent=2), output)
    elif fmt == "csv":
        emit(to_csv(["start", "end", "duration_s", "down_s", "cause", "endpoints"],
                    [(i["start"], i["end"], i["duration_s"], i["down_s"], i["cause"], " ".join(i["endpoints"]))
                     for i in doc["incidents"]]), output)  # fmt: skip
    elif fmt == "markdown":
        emit(md_table(headers, rows) + "\n", output)
    else:
        s = doc["stats"]
        tail = (
            f"\n\n{s['count']} incidents; MTTR {dur(s['mttr_s'])}, MTBF {dur(s['mtbf_s'])}, "
            f"longest {dur(s['longest_s'])}"
        )
        warnings = "".join(f"\n  - {w}" for w in doc["warnings"])
        emit(format_table(headers, rows) + tail + (f"\n\nWarnings:{warnings}" if warnings else ""), output)
