"""``db backup``, ``db check`` and ``db repair``: looking after the database file and its stored timelines."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, load
from probe_agent.commands.options import config_option, database_option, format_option
from probe_agent.commands.progress import progress
from probe_agent.commands.store import BACKUP, CHECK, RESULTS, database_path, open_store, store_errors
from probe_agent.model import now_ms
from probe_agent.render.db import check_table, plan_text, problems_left_text
from probe_agent.repair import (
    RepairRefused,
    agents_locked,
    apply_repair,
    check_database,
    find_problems,
    plan_repair,
)
from probe_agent.store import maintenance
from probe_agent.store.schema import KNOWN_MIGRATIONS, SCHEMA_VERSION

EXIT_NOT_OK = 1


@click.group("db")
def db_group() -> None:
    """Look after the database file: consistent online backup, integrity and size check, timeline repair."""


@db_group.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@database_option
@format_option("table", "json")
def backup_command(dest: Path, config_path: Path | None, database: Path | None, fmt: str) -> None:
    """Write a consistent copy of the database to DEST while the agent keeps running (VACUUM INTO).

    Never overwrites: DEST must not exist. The copy is compacted and is a working database. --format json prints
    {"source", "destination", "bytes"}.
    """
    path = database or Path(load(config_path).config.agent.database)
    try:
        with store_errors(path, BACKUP):
            _backup_with_progress(path, dest)
    except FileExistsError:
        raise UsageProblem(f"{dest} already exists: backup never overwrites a file") from None
    size = dest.stat().st_size
    if fmt == "json":
        click.echo(json.dumps({"source": str(path), "destination": str(dest), "bytes": size}, indent=2))
    else:
        click.echo(f"backed up {path} to {dest} ({size} bytes)")


@db_group.command("check")
@config_option
@format_option("table", "json")
@database_option
def check_command(config_path: Path | None, fmt: str, database: Path | None) -> None:
    """Check the database read-only: integrity, schema version, sizes, row counts, and the stored timelines.

    A timeline is inconsistent when intervals of one (agent, endpoint) overlap, or its fold state lies behind its
    stored intervals (two daemons of one agent id wrote at once): 'probe-agent db repair' re-folds it.

    Exit status: 0 sound; 1 integrity problems (restore a backup) or inconsistent timelines (db repair); 2 no
    database, or a schema newer than this probe-agent (the file is not changed).
    """
    path = database or Path(load(config_path).config.agent.database)
    with store_errors(path, CHECK):
        doc = check_database(path)
    unknown = [m for m in doc.get("migrations", []) if m not in KNOWN_MIGRATIONS]
    if doc.get("schema_version", 0) > SCHEMA_VERSION or unknown:
        raise UsageProblem(
            f"{path}: the database schema (version {doc['schema_version']}) is newer than this probe-agent knows "
            f"(version {SCHEMA_VERSION}); upgrade probe-agent. The file was not changed."
        )
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else check_table(doc, SCHEMA_VERSION))
    if not doc["ok"]:
        sys.exit(EXIT_NOT_OK)


@db_group.command("repair")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would be re-folded; write nothing.")
@click.option("--agent", "agents", multiple=True, help="Only this agent's timelines (repeatable; default: all).")
@database_option
def repair_command(config_path: Path | None, dry_run: bool, agents: tuple[str, ...], database: Path | None) -> None:
    """Re-fold the timelines 'db check' finds inconsistent (overlapping intervals, a fold state behind its
    intervals: two daemons of one agent id wrote at once) from their raw results.

    Each such (agent, endpoint) is re-folded as 'import' does, with the agent's runs, from its earliest raw
    result still stored; the intervals before that result are kept. Results and runs are not changed. Every pair
    is written in one transaction, while this command holds each agent's daemon lock: it refuses while a daemon
    of that agent runs (here, or with a fresh heartbeat on another host). The endpoints must be in the config
    (their interval, grace and confirm drive the fold).

    Exit status: 0 repaired, or nothing to repair; 1 problems remain after the repair; 2 refused, nothing written.
    """
    config = load(config_path).config
    path = database_path(config, database)
    wanted = list(agents) or None
    conn = open_store(path, readonly=dry_run, wording=RESULTS)
    try:
        plan = plan_repair(conn, config, now_ms=now_ms(), agents=wanted)
        if not plan.problems:
            click.echo(f"{path}: every stored timeline is consistent; nothing to repair")
            return
        involved = sorted({p.agent for p in plan.problems})
        try:
            with agents_locked(path, involved):
                if not dry_run:  # the lock is ours now: plan again, as no daemon can write any more
                    plan = plan_repair(conn, config, now_ms=now_ms(), agents=wanted)
                    apply_repair(conn, config, plan, now_ms=now_ms())
        except RepairRefused as exc:
            refused = [*plan.refusals, *(r for r in exc.reasons if r not in plan.refusals)]
        else:
            refused = list(plan.refusals)  # a dry run writes nothing, but says whether the repair would refuse
        if refused:
            head = "db repair would refuse (--dry-run)" if dry_run else "db repair refused"
            raise UsageProblem(f"{head}, nothing was written:\n" + "\n".join(f"  {r}" for r in refused))
        click.echo(plan_text(plan, dry_run=dry_run))
        if dry_run:
            click.echo("nothing was written (--dry-run)")
            return
        left = [p for p in find_problems(conn) if wanted is None or p.agent in wanted]
    finally:
        conn.close()
    if left:
        click.echo(problems_left_text(left), err=True)
        raise SystemExit(1)
    click.echo(f"repaired {len(plan.pairs)} timeline(s) in one transaction; db check finds them consistent now")


def _backup_with_progress(path: Path, dest: Path) -> None:
    """``maintenance.backup`` in a thread while the copy's size is shown against the database's (on a terminal
    only: ``commands/progress.py``). The copy is compacted, so it may end below 100 %."""
    result: list[BaseException | None] = []

    def copy() -> None:
        try:
            maintenance.backup(path, dest)
            result.append(None)
        except BaseException as exc:  # handed to the caller's thread as it is
            result.append(exc)

    worker = threading.Thread(target=copy, name="db-backup", daemon=True)
    total = path.stat().st_size if path.exists() else None
    with progress(f"db backup to {dest.name}", "bytes", total=total) as advance:
        worker.start()
        seen = 0
        while worker.is_alive():
            worker.join(0.2)
            size = dest.stat().st_size if dest.exists() else 0
            advance(max(size - seen, 0))
            seen = max(seen, size)
    if result and result[0] is not None:
        raise result[0]
