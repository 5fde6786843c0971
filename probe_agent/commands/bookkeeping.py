"""``exclusions`` and ``cycle``: the append-only records that SLA accounting depends on.

Each write is one short transaction, so these commands run safely next to a live daemon.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, config_option, emit, format_option, load, output_option
from probe_agent.commands.slacmds import select_slas
from probe_agent.config.document import Config
from probe_agent.model import iso, now_ms
from probe_agent.render.csvout import to_csv
from probe_agent.render.table import format_table
from probe_agent.reports import scope
from probe_agent.sla.periods import parse_bound
from probe_agent.store import queries, records
from probe_agent.store.records import CycleAlreadyClosed
from probe_agent.store.schema import SchemaTooNew, StoreError, open_db

MAX_EXCLUSION_MS = 366 * 86_400_000
_YEAR_9000_MS = 221_845_392_000_000  # as for report periods: later dates overflow calendar arithmetic


def open_writer(config: Config) -> sqlite3.Connection:
    path = Path(config.agent.database)
    try:
        return open_db(path)
    except SchemaTooNew as exc:
        raise UsageProblem(f"{path}: {exc}") from None
    except StoreError as exc:
        raise UsageProblem(f"{path}: {exc}") from None


def default_author() -> str:
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
@click.option("--from", "from_", required=True, help="Start: ISO 8601 with offset, or a date (SLA/agent zone).")
@click.option("--to", "to", required=True, help="End (exclusive): ISO 8601 with offset, or a date.")
@click.option(
    "--kind", type=click.Choice(["maintenance", "customer", "force_majeure"]), required=True, help="Why it is excluded."
)
@click.option("--reason", required=True, help="Free text shown in every report that applies it.")
@click.option("--author", default=None, help="Who decided it (default: the invoking user).")
@config_option
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
) -> None:
    """Record an exclusion. It applies to every report computed afterwards (closed cycles keep their figures)."""
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
    if start < 0 or end >= _YEAR_9000_MS:
        raise UsageProblem("an exclusion must lie between 1970 and 9000")
    if end - start > MAX_EXCLUSION_MS:
        # Excluded time is time the provider is not measured on: a typo such as 0001-01-01 would silently excuse
        # every outage in every cycle. A real exclusion is an event; a long one is recorded per period.
        raise UsageProblem(
            f"an exclusion may last at most 366 days (this one lasts {(end - start) / 86_400_000:.1f} days); "
            "record longer arrangements one billing period at a time"
        )
    if not reason.strip():
        raise UsageProblem("--reason must say why")
    conn = open_writer(config)
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
    finally:
        conn.close()
    click.echo(f"exclusion #{new_id}: {kind} on {scope_kind} {scope_id}, {iso(start)} to {iso(end)}")


@exclusions_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked exclusions.")
@config_option
@format_option("table", "json", "csv")
@output_option
def exclusions_list(show_all: bool, config_path: Path | None, fmt: str, output: Path | None) -> None:
    """List exclusions (active ones; --all adds the revoked)."""
    from probe_agent.commands.reporting import open_reader

    config = load(config_path).config
    conn = open_reader(config)
    try:
        items = queries.exclusions(conn, include_revoked=show_all)
    finally:
        conn.close()
    rows = [
        {
            "id": e.id,
            "scope": f"{e.scope_kind}:{e.scope_id}",
            "kind": e.kind,
            "start": iso(e.start_ms),
            "end": iso(e.end_ms),
            "reason": e.reason,
            "author": e.author,
            "created": iso(e.created_ms),
            "revoked": None if e.revoked_ms is None else iso(e.revoked_ms),
            "revoked_by": e.revoked_by,
        }
        for e in items
    ]
    headers = list(rows[0]) if rows else ["id", "scope", "kind", "start", "end", "reason", "author", "created"]
    if fmt == "json":
        emit(json.dumps(rows, indent=2), output)
    elif fmt == "csv":
        emit(to_csv(headers, [list(r.values()) for r in rows]), output)
    else:
        emit(
            format_table([h.upper() for h in headers], [list(r.values()) for r in rows]) if rows else "no exclusions",
            output,
        )


@exclusions_group.command("revoke")
@click.argument("exclusion_id", type=int)
@click.option("--author", default=None, help="Who revokes it (default: the invoking user).")
@config_option
def exclusions_revoke(exclusion_id: int, author: str | None, config_path: Path | None) -> None:
    """Revoke an exclusion. The record stays (append-only); reports computed afterwards no longer apply it."""
    config = load(config_path).config
    conn = open_writer(config)
    try:
        ok = records.revoke_exclusion(conn, exclusion_id, now_ms(), author or default_author())
    finally:
        conn.close()
    if not ok:
        raise UsageProblem(f"no active exclusion #{exclusion_id} (unknown, or revoked already)")
    click.echo(f"exclusion #{exclusion_id} revoked")


@click.group("cycle")
def cycle_group() -> None:
    """Close billing cycles: store the final report and credit as an immutable record."""


@cycle_group.command("close")
@click.option("--sla", "sla_id", required=True, help="SLA id.")
@click.option(
    "--cycle", default=None, metavar="YYYY-MM", help="The cycle that starts in this month (default: the last ended)."
)
@config_option
def cycle_close(sla_id: str, cycle: str | None, config_path: Path | None) -> None:
    """Close a cycle that has ended. Later reports show the stored figures and warn if today's data differs."""
    from probe_agent.reports.closing import CycleNotOver, close_cycle
    from probe_agent.sla.periods import previous_cycle

    config = load(config_path).config
    (sla,) = select_slas(config, sla_id)
    now = now_ms()
    try:
        period = scope.sla_period(config, sla, now, cycle=cycle)
        if cycle is None and sla.cycle.period == "monthly":
            period = previous_cycle(period, sla.cycle.anchor_day, scope.sla_zone(config, sla))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    conn = open_writer(config)
    try:
        doc = close_cycle(conn, config, sla, period, now)
    except CycleNotOver as exc:
        raise UsageProblem(str(exc)) from None
    except CycleAlreadyClosed:
        raise UsageProblem(f"cycle {period.label} of {sla.id} is already closed; closed cycles never change") from None
    finally:
        conn.close()
    credit = doc["credit"]
    click.echo(
        f"closed {sla.id} cycle {period.label}: availability {doc['availability_percent']}%, "
        f"credit {credit['amount'] if credit else '-'} {credit['currency'] if credit else ''} "
        f"(inputs {doc['inputs_hash'][:12]})"
    )
