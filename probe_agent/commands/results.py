"""``import``, ``export`` and ``db backup`` / ``db check``: moving results in and out, and looking after the file."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from probe_agent.commands.common import F, UsageProblem, config_option, format_option, load
from probe_agent.config import ConfigError
from probe_agent.config.document import Config
from probe_agent.config.loader import find_config
from probe_agent.config.values import format_duration_ms
from probe_agent.importing import ImportRefused, ImportSummary, parse_import, store_import
from probe_agent.model import iso, now_ms
from probe_agent.render.table import format_table
from probe_agent.resultfiles import FORMATS, format_for
from probe_agent.resultfiles import write_results as write_result_file
from probe_agent.store import maintenance, queries
from probe_agent.store.schema import (
    BUSY_TIMEOUT_MS,
    KNOWN_MIGRATIONS,
    SCHEMA_VERSION,
    DatabaseMissing,
    SchemaOutdated,
    SchemaTooNew,
    StoreError,
    open_db,
)

EXIT_NOT_OK = 1


def database_option(f: F) -> F:
    return click.option(
        "--database",
        "database",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Database file instead of the config's agent.database.",
    )(f)


def _optional_config(config_path: Path | None, database: Path | None) -> Config | None:
    """The config, or None when ``--database`` makes it unnecessary and none is given or found."""
    if database is not None and config_path is None:
        try:
            find_config(None)
        except ConfigError:
            return None
    return load(config_path).config


def _database_path(config: Config | None, database: Path | None) -> Path:
    if database is not None:
        return database
    assert config is not None
    return Path(config.agent.database)


def _open(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """The store, or exit 2 saying what to do (a too-new schema is refused before the file is touched)."""
    try:
        return open_db(path, readonly=readonly)
    except DatabaseMissing:
        raise UsageProblem(f"no database at {path}: start the agent (probe-agent run) or import results") from None
    except SchemaTooNew as exc:
        raise UsageProblem(str(exc)) from None
    except SchemaOutdated:
        raise UsageProblem(f"{path} needs a schema upgrade: start the agent once (probe-agent run)") from None
    except StoreError:
        raise  # store trouble (locked, unreadable): the command group reports it, exit 1
    except sqlite3.DatabaseError as exc:
        raise UsageProblem(f"{path}: {exc}") from None


# -- import ----------------------------------------------------------------------------------------------------


def import_summary_text(summary: ImportSummary, path: Path) -> str:
    lines = [
        f"imported {summary.imported} of {summary.read} results into {path} "
        f"({summary.skipped} identical duplicates or already stored, skipped)"
    ]
    rows = [
        (
            f"{p.agent}/{p.endpoint}",
            f"{iso(p.first_ms)} .. {iso(p.last_ms)}",
            p.imported,
            p.skipped,
            len(p.outages),
        )
        for p in summary.pairs
    ]
    lines += ["", format_table(["PAIR", "RANGE", "NEW", "SKIPPED", "OUTAGES"], rows, right=(2, 3, 4))]
    for p in summary.pairs:
        for o in p.outages:
            end = "ongoing at the end of the data" if o.ongoing else f"until {iso(o.end_ms)}"
            lines.append(
                f"  outage {p.agent}/{p.endpoint}: {iso(o.start_ms)} {end} "
                f"({format_duration_ms(o.end_ms - o.start_ms)}{', ' + o.cause if o.cause else ''})"
            )
    if summary.rollup_hours:
        lines.append(f"rollups rebuilt for {summary.rollup_hours} hour(s)")
    return "\n".join(lines)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@config_option
@click.option("--agent", default=None, help="Vantage point for every result (sets or overrides each line's agent).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: from the file's extension.")
@database_option
def import_command(
    file: Path, config_path: Path | None, agent: str | None, fmt: str | None, database: Path | None
) -> None:
    """Import probe results from FILE (JSON Lines or CSV in the result schema; '-' reads standard input).

    ts is ISO 8601 with an offset, or epoch seconds. Results go through the same fold as live ones, using each
    endpoint's interval, grace and confirm from the config (every endpoint must be configured). Each (agent,
    endpoint) is re-folded from all its results, stored and new: identical duplicates are skipped; a different
    result at the same ts is an error.

    Nothing is imported if any line is bad (all are listed with their line numbers), a result conflicts, a
    running probe-agent with the same agent id probes one of the pairs (use --agent to import as another
    vantage point), or a pair's raw results were pruned. Exit status 2 then.
    """
    config = load(config_path).config
    fmt = fmt or format_for(str(file))
    if fmt is None:
        raise UsageProblem(f"cannot tell the format of {file} from its extension: give --format jsonl or csv")
    now = now_ms()
    try:
        if str(file) == "-":
            stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            try:
                parsed = parse_import(stream, fmt, config, now_ms=now, agent=agent)
            finally:
                stream.detach()  # leave standard input itself open
        else:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                parsed = parse_import(handle, fmt, config, now_ms=now, agent=agent)
    except OSError as exc:
        raise UsageProblem(f"cannot read {file}: {exc.strerror or exc}") from None
    except ImportRefused as exc:
        raise UsageProblem(exc.report()) from None
    path = _database_path(config, database)
    conn = _open(path, readonly=False)
    try:
        summary = store_import(conn, config, parsed, now_ms=now)
    except ImportRefused as exc:
        raise UsageProblem(exc.report()) from None
    finally:
        conn.close()
    click.echo(import_summary_text(summary, path))


# -- export ----------------------------------------------------------------------------------------------------


@click.command("export")
@config_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True, help="File format.")
@click.option("--from", "from_", default=None, help="First ts to include: ISO 8601 with an offset, or a date.")
@click.option("--to", "to", default=None, help="End (excluded): ISO 8601 with an offset, or a date.")
@click.option("--endpoint", "endpoints", multiple=True, help="Only this endpoint (repeatable).")
@click.option("--agent", default=None, help="Only this vantage point (default: every agent in the database).")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to this file."
)
@database_option
def export_command(
    config_path: Path | None,
    fmt: str,
    from_: str | None,
    to: str | None,
    endpoints: tuple[str, ...],
    agent: str | None,
    output: Path | None,
    database: Path | None,
) -> None:
    """Export stored raw results in the result schema, in ts order, as JSON Lines or CSV.

    A date in --from/--to means local midnight in the agent's time zone (agent.timezone, else the machine's).
    CSV cells that a spreadsheet would run as a formula get a leading apostrophe; 'import' reads them back
    exactly. Results are streamed, so any number of them fits in memory. Imported into an empty database, the
    export gives the same timelines, except where the end of a daemon run cut a result's coverage (runs are not
    part of the result schema).
    """
    from probe_agent.reports.scope import agent_zone, machine_zone
    from probe_agent.sla.periods import parse_bound

    config = _optional_config(config_path, database)
    zone = agent_zone(config) if config is not None else machine_zone()
    try:
        start = None if from_ is None else parse_bound(from_, zone)
        end = None if to is None else parse_bound(to, zone)
    except ValueError as exc:
        raise UsageProblem(f"--from/--to: {exc}") from None
    if start is not None and end is not None and end <= start:
        raise UsageProblem(f"--to ({to}) must be after --from ({from_})")
    conn = _open(_database_path(config, database), readonly=True)
    configured = {e.id for e in (*config.endpoints, *config.controls)} if config is not None else set()
    unknown = [e for e in endpoints if e not in configured and not queries.last_results(conn, [e])]
    if unknown:
        conn.close()
        raise UsageProblem(f"unknown endpoint(s) {', '.join(unknown)}: not in the config and no results stored")
    results = queries.iter_results(
        conn,
        start_ms=start,
        end_ms=end,
        endpoints=list(endpoints) or None,
        agents=None if agent is None else [agent],
    )
    try:
        if output is None:
            try:
                write_result_file(results, fmt, sys.stdout)
            except BrokenPipeError:  # `export | head`: the reader has all it wanted
                # Point stdout at /dev/null so the interpreter's final flush does not raise again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        # Written beside the target and renamed at the end: a half-written export never looks like a whole one.
        tmp = output.with_name(output.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8", newline="") as out:
                n = write_result_file(results, fmt, out)
            tmp.replace(output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        click.echo(f"wrote {n} results to {output}", err=True)
    finally:
        # An export cut short leaves the result cursor open: close it before its connection.
        close = getattr(results, "close", None)
        if close is not None:
            close()
        conn.close()


# -- db backup / db check --------------------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """Look after the database file: consistent online backup, integrity and size check, timeline repair."""


@db_group.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@database_option
def backup_command(dest: Path, config_path: Path | None, database: Path | None) -> None:
    """Write a consistent copy of the database to DEST while the agent keeps running (VACUUM INTO).

    Never overwrites: DEST must not exist. The copy is compacted and is a working database.
    """
    path = database or Path(load(config_path).config.agent.database)
    try:
        maintenance.backup(path, dest)
    except FileExistsError:
        raise UsageProblem(f"{dest} already exists: backup never overwrites a file") from None
    except DatabaseMissing:
        raise UsageProblem(f"no database at {path}") from None
    except SchemaTooNew as exc:
        raise UsageProblem(str(exc)) from None
    except SchemaOutdated:
        raise UsageProblem(f"{path} needs a schema upgrade first: start the agent once (probe-agent run)") from None
    except (StoreError, sqlite3.DatabaseError) as exc:
        raise UsageProblem(f"cannot back up {path}: {exc}") from None
    click.echo(f"backed up {path} to {dest} ({dest.stat().st_size} bytes)")


def check_report(path: Path) -> dict[str, Any]:
    """``maintenance.check``, with a file SQLite cannot even read reported as not ok instead of raised; for a
    sound file with a timeline, also ``timeline`` (the problems ``repair.find_problems`` finds; not ok if any)."""
    try:
        doc = maintenance.check(path)
    except DatabaseMissing:
        raise UsageProblem(f"no database at {path}") from None
    except sqlite3.DatabaseError as exc:
        return {"path": str(path), "ok": False, "integrity": [f"not a readable SQLite database: {exc}"]}
    if doc["ok"] and {"intervals", "fold_state"} <= set(doc["rows"]):
        from probe_agent.repair import find_problems

        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            doc["timeline"] = [p.to_json() for p in find_problems(conn)]
        finally:
            conn.close()
        doc["ok"] = not doc["timeline"]
    return doc


def check_table(doc: dict[str, Any]) -> str:
    lines = [f"database {doc['path']}: {'ok' if doc['ok'] else 'NOT OK'}"]
    lines += [f"  integrity: {msg}" for msg in doc["integrity"][:20]]
    if len(doc["integrity"]) > 20:
        lines.append(f"  ... and {len(doc['integrity']) - 20} more integrity messages")
    if "schema_version" in doc:
        lines += [
            f"schema version {doc['schema_version']} (this probe-agent: {SCHEMA_VERSION})",
            f"file {doc['file_bytes']} bytes, WAL {doc['wal_bytes']} bytes, {doc['page_count']} pages of "
            f"{doc['page_size']} bytes, {doc['freelist_count']} free",
            "",
            format_table(["TABLE", "ROWS"], sorted(doc["rows"].items()), right=(1,)),
        ]
    if doc.get("timeline"):
        lines += ["", f"timeline: {len(doc['timeline'])} problem(s); `probe-agent db repair` re-folds them:"]
        lines += [
            f"  {p['agent']}/{p['endpoint']}: {p['kind']}"
            + (f" from {p['from']} to {p['to']}" if p["from"] else "")
            + f" ({p['detail']})"
            for p in doc["timeline"]
        ]
    return "\n".join(lines)


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
    doc = check_report(path)
    unknown = [m for m in doc.get("migrations", []) if m not in KNOWN_MIGRATIONS]
    if doc.get("schema_version", 0) > SCHEMA_VERSION or unknown:
        raise UsageProblem(
            f"{path}: the database schema (version {doc['schema_version']}) is newer than this probe-agent knows "
            f"(version {SCHEMA_VERSION}); upgrade probe-agent. The file was not changed."
        )
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else check_table(doc))
    if not doc["ok"]:
        sys.exit(EXIT_NOT_OK)
