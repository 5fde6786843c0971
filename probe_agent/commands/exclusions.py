"""``exclusions add``, ``list`` and ``revoke``: time taken out of SLA accounting, as append-only records.

Each write is one short transaction, so these commands run safely next to a live daemon.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, emit, load
from probe_agent.commands.options import config_option, format_option, from_to_options, output_option
from probe_agent.commands.store import READING, RECORDS, open_store
from probe_agent.model import iso, now_ms
from probe_agent.render.exclusions import exclusions_csv, exclusions_table
from probe_agent.reports import scope
from probe_agent.reports.listings import exclusion_rows
from probe_agent.sla.exclusions import check_exclusion_span
from probe_agent.sla.periods import parse_bound
from probe_agent.store import queries, records


def default_author() -> str:
    """Who runs this command: the user behind sudo first, then the login user; ``unknown`` when none is known."""
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


@click.group("exclusions")
def exclusions_group() -> None:
    """Take time out of SLA accounting after the fact (append-only, with author and time)."""


@exclusions_group.command("add")
@click.option("--sla", "sla_id", default=None, help="Exclude from this SLA.")
@click.option("--service", "service_id", default=None, help="Exclude from every SLA covering this service.")
@click.option("--endpoint", "endpoint_id", default=None, help="Exclude from every SLA covering this endpoint.")
@from_to_options(
    "Start: ISO 8601 with offset, or a date (SLA/agent zone).",
    "End (exclusive): ISO 8601 with offset, or a date.",
    required=True,
)
@click.option(
    "--kind", type=click.Choice(["maintenance", "customer", "force_majeure"]), required=True, help="Why it is excluded."
)
@click.option("--reason", required=True, help="Free text shown in every report that applies it.")
@click.option("--author", default=None, help="Who decided it (default: the invoking user).")
@config_option
@format_option("table", "json")
def exclusions_add(
    sla_id: str | None,
    service_id: str | None,
    endpoint_id: str | None,
    from_: str,
    to: str,
    kind: str,
    reason: str,
    author: str | None,
    config_path: Path | None,
    fmt: str,
) -> None:
    """Record an exclusion. It applies to every report computed afterwards (closed cycles keep their figures).

    --format json prints the exclusion as `exclusions list --format json` shows it."""
    config = load(config_path).config
    given = [(k, v) for k, v in (("sla", sla_id), ("service", service_id), ("endpoint", endpoint_id)) if v]
    if len(given) != 1:
        raise UsageProblem("give exactly one of --sla, --service, --endpoint")
    scope_kind, scope_id = given[0]
    tz = scope.agent_zone(config)
    try:
        if scope_kind == "sla":
            tz = scope.sla_zone(config, config.sla(scope_id))
        elif scope_kind == "service":
            config.service(scope_id)
        else:
            config.endpoint(scope_id)
    except KeyError:
        raise UsageProblem(f"unknown {scope_kind} '{scope_id}'") from None
    try:
        start, end = parse_bound(from_, tz), parse_bound(to, tz)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if end <= start:
        raise UsageProblem("--to must be after --from")
    try:
        check_exclusion_span(start, end)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if not reason.strip():
        raise UsageProblem("--reason must say why")
    conn = open_store(Path(config.agent.database), readonly=False, wording=RECORDS)
    try:
        new_id = records.add_exclusion(
            conn,
            scope_kind=scope_kind,
            scope_id=scope_id,
            start_ms=start,
            end_ms=end,
            kind=kind,
            reason=reason.strip(),
            author=author or default_author(),
            created_ms=now_ms(),
        )
        (stored,) = [x for x in queries.exclusions(conn) if x.id == new_id]
    finally:
        conn.close()
    if fmt == "json":
        click.echo(json.dumps(exclusion_rows([stored])[0], indent=2))
    else:
        click.echo(f"exclusion #{new_id}: {kind} on {scope_kind} {scope_id}, {iso(start)} to {iso(end)}")


@exclusions_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked exclusions.")
@config_option
@format_option("table", "json", "csv")
@output_option()
def exclusions_list(show_all: bool, config_path: Path | None, fmt: str, output: Path | None) -> None:
    """List exclusions (active ones; --all adds the revoked)."""
    config = load(config_path).config
    conn = open_store(Path(config.agent.database), readonly=True, wording=READING)
    try:
        items = queries.exclusions(conn, include_revoked=show_all)
    finally:
        conn.close()
    rows = exclusion_rows(items)
    if fmt == "json":
        emit(json.dumps(rows, indent=2), output)
    elif fmt == "csv":
        emit(exclusions_csv(rows), output)
    else:
        emit(exclusions_table(rows), output)


@exclusions_group.command("revoke")
@click.argument("exclusion_id", type=int)
@click.option("--author", default=None, help="Who revokes it (default: the invoking user).")
@config_option
@format_option("table", "json")
def exclusions_revoke(exclusion_id: int, author: str | None, config_path: Path | None, fmt: str) -> None:
    """Revoke an exclusion. The record stays (append-only); reports computed afterwards no longer apply it.

    --format json prints the revoked exclusion as `exclusions list --all --format json` shows it."""
    config = load(config_path).config
    conn = open_store(Path(config.agent.database), readonly=False, wording=RECORDS)
    try:
        ok = records.revoke_exclusion(conn, exclusion_id, now_ms(), author or default_author())
        revoked = [x for x in queries.exclusions(conn, include_revoked=True) if x.id == exclusion_id]
    finally:
        conn.close()
    if not ok:
        raise UsageProblem(f"no active exclusion #{exclusion_id} (unknown, or revoked already)")
    if fmt == "json":
        click.echo(json.dumps(exclusion_rows(revoked)[0], indent=2))
    else:
        click.echo(f"exclusion #{exclusion_id} revoked")
