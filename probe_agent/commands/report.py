"""``report``, ``incidents`` and ``credits``: the SLA views. Each parses, calls the report library, renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, emit, load, select_slas
from probe_agent.commands.options import config_option, cycle_option, format_option, from_to_options, output_option
from probe_agent.commands.store import READING, open_store
from probe_agent.model import now_ms
from probe_agent.render.credits import credits_csv, credits_markdown, credits_table
from probe_agent.render.incidents import incidents_csv, incidents_markdown, incidents_table
from probe_agent.render.report import report_markdown, report_table, reports_csv
from probe_agent.reports.json_types import ReportDoc
from probe_agent.reports.listings import credit_rows
from probe_agent.reports.sla_reports import ReportRequestError, check_period_request, report_docs


def build_docs(
    config_path: Path | None, sla_id: str | None, cycle: str | None, from_: str | None, to: str | None
) -> list[ReportDoc]:
    """One report document per selected SLA for the period asked for (``reports.sla_reports``, which the HTTP API
    calls too); problems with the request are usage problems, told before the store is opened where they can be."""
    try:
        check_period_request(cycle, from_, to)
    except ReportRequestError as exc:
        raise UsageProblem(str(exc)) from None
    loaded = load(config_path)
    config = loaded.config
    select_slas(config, sla_id)
    now = now_ms()
    conn = open_store(Path(config.agent.database), readonly=True, wording=READING)
    try:
        return report_docs(conn, config, sla_id, now, cycle=cycle, from_=from_, to=to)
    except ReportRequestError as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        conn.close()


EXIT_BREACH = 1

fail_on_breach_option = click.option(
    "--fail-on-breach",
    is_flag=True,
    help="Exit 1 when an SLA shown missed its target (an ended cycle) or can no longer meet it (breached, a cycle "
    "still running); for scripts. The output is the same.",
)


def breached(docs: list[ReportDoc]) -> bool:
    """Whether any document's verdict is missed or breached (a closed cycle stored before verdicts: not met)."""
    for doc in docs:
        verdict = doc.get("verdict")
        if verdict in ("missed", "breached") or ("verdict" not in doc and doc.get("met") is False):
            return True
    return False


def dump(docs: list[ReportDoc]) -> str:
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, ensure_ascii=False)


@click.command()
@click.option("--sla", "sla_id", default=None, help="SLA id (default: every SLA).")
@cycle_option("The billing cycle that starts in this month (default: the current one).")
@from_to_options(
    "Start: ISO 8601 with offset, or a date in the SLA's zone.",
    "End (exclusive): ISO 8601 with offset, or a date in the SLA's zone.",
)
@config_option
@format_option("table", "json", "csv", "markdown", "html")
@output_option()
@fail_on_breach_option
def report(
    sla_id: str | None,
    cycle: str | None,
    from_: str | None,
    to: str | None,
    config_path: Path | None,
    fmt: str,
    output: Path | None,
    fail_on_breach: bool,
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
    if fail_on_breach and breached(docs):
        sys.exit(EXIT_BREACH)


@click.command()
@click.option("--sla", "sla_id", default=None, help="SLA id (default: every SLA).")
@cycle_option("The billing cycle that starts in this month (default: current).")
@config_option
@format_option("table", "json", "csv", "markdown")
@output_option()
@fail_on_breach_option
def credits(
    sla_id: str | None, cycle: str | None, config_path: Path | None, fmt: str, output: Path | None, fail_on_breach: bool
) -> None:
    """The service credit owed per SLA for a cycle, with the rule that fired and every step of the computation.

    Money is exact (Decimal) and rounded half-up to the currency's minor unit; tier boundaries are exact
    ("below 99.9%" means strictly less). A credit for a cycle still running is marked provisional.
    """
    docs = build_docs(config_path, sla_id, cycle, None, None)
    rows = credit_rows(docs)
    if fmt == "json":
        emit(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2, ensure_ascii=False), output)
    elif fmt == "csv":
        emit(credits_csv(rows), output)
    elif fmt == "markdown":
        emit(credits_markdown(rows), output)
    else:
        emit(credits_table(rows), output)
    if fail_on_breach and breached(docs):
        sys.exit(EXIT_BREACH)


@click.command()
@click.option("--sla", "sla_id", default=None, help="Incidents of this SLA (its services combined).")
@click.option("--service", "service_id", default=None, help="Incidents of this service (its endpoints combined).")
@click.option("--endpoint", "endpoint_id", default=None, help="Outages of this endpoint (its agents combined).")
@from_to_options(
    "Start: ISO 8601 with offset, or a date (default: 30 days ago).",
    "End: ISO 8601 with offset, or a date (default: now).",
)
@config_option
@format_option("table", "json", "csv", "markdown")
@output_option()
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
    conn = open_store(Path(loaded.config.agent.database), readonly=True, wording=READING)
    try:
        doc = list_incidents(conn, loaded.config, now_ms(), sla_id=sla_id, service_id=service_id,
                             endpoint_id=endpoint_id, from_=from_, to=to)  # fmt: skip
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        conn.close()
    if fmt == "json":
        emit(json.dumps(doc, indent=2), output)
    elif fmt == "csv":
        emit(incidents_csv(doc), output)
    elif fmt == "markdown":
        emit(incidents_markdown(doc), output)
    else:
        emit(incidents_table(doc), output)
