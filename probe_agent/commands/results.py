"""``import`` and ``export``: probe results in and out of the store, in the result schema (JSON Lines or CSV)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import click

from probe_agent.commands.common import EXIT_BAD_CONFIG, UsageProblem, load
from probe_agent.commands.options import config_option, database_option, format_option, from_to_options, output_option
from probe_agent.commands.progress import Advance, progress
from probe_agent.commands.store import RESULTS, database_path, open_store, optional_config
from probe_agent.config.document import Config
from probe_agent.importing import ImportRefused, ImportSummary, parse_import, store_import, workers_for
from probe_agent.model import now_ms
from probe_agent.render.imports import import_refused_json, import_summary_json, import_summary_text
from probe_agent.resultfiles import FORMATS, format_for
from probe_agent.resultfiles import write_results as write_result_file
from probe_agent.store import queries


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@config_option
@click.option(
    "--agent",
    default=None,
    help="Vantage point for every result (overrides each line's agent). A line without one gets agent.id.",
)
@click.option(
    "--input-format", type=click.Choice(FORMATS), default=None, help="The file's format. Default: from its extension."
)
@format_option(
    "table", "json", *FORMATS, help_text="The summary's format. (jsonl or csv here are the file's, as --input-format.)"
)
@database_option
def import_command(
    file: Path,
    config_path: Path | None,
    agent: str | None,
    input_format: str | None,
    fmt: str,
    database: Path | None,
) -> None:
    """Import probe results from FILE (JSON Lines or CSV in the result schema; '-' reads standard input).

    ts is ISO 8601 with an offset, or epoch seconds. Results go through the same fold as live ones, using each
    endpoint's interval, grace and confirm from the config (every endpoint must be configured). Each (agent,
    endpoint) is re-folded from all its results, stored and new: identical duplicates are skipped; a different
    result at the same ts is an error.

    Nothing is imported if any line is bad (all are listed with their line numbers), a result conflicts, a
    running probe-agent with the same agent id probes one of the pairs (use --agent to import as another
    vantage point), or a pair's raw results were pruned. Exit status 2 then. --format json prints the summary
    (read, imported, skipped, pairs with their outages), or the refusal with every error and its line.
    """
    config = load(config_path).config
    if fmt in FORMATS:  # the file's format, as this option meant before --input-format
        input_format, fmt = input_format or fmt, "table"
    file_format = input_format or format_for(str(file))
    if file_format is None:
        raise UsageProblem(f"cannot tell the format of {file} from its extension: give --input-format jsonl or csv")
    try:
        summary, path = _import(file, file_format, config, agent, database)
    except ImportRefused as exc:
        if fmt == "json":
            problems = [(p.line, p.message) for p in exc.problems]
            click.echo(json.dumps(import_refused_json(exc.headline, problems), indent=2))
            sys.exit(EXIT_BAD_CONFIG)
        raise UsageProblem(exc.report()) from None
    if fmt == "json":
        click.echo(json.dumps(import_summary_json(summary, path), indent=2))
    else:
        click.echo(import_summary_text(summary, path))


def _import(
    file: Path, fmt: str, config: Config, agent: str | None, database: Path | None
) -> tuple[ImportSummary, Path]:
    """Parse ``file`` and store it; raises ``ImportRefused`` (nothing stored) or ``UsageProblem``.

    The checked results are staged in a temporary file beside the database (removed at the end), so the file's
    size never becomes memory; on a terminal each pass shows its progress (reading: bytes, then checking and
    storing: results), with rate and ETA."""
    now = now_ms()
    path = database_path(config, database)
    name = "stdin" if str(file) == "-" else file.name
    # Beside the database: the disk meant for this data (a tmpfs /tmp would turn the staging file into memory).
    stage_dir = path.parent if os.access(path.parent, os.W_OK) else None
    try:
        if str(file) == "-":
            stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            try:
                with progress(f"import {name}: reading", "lines") as advance:
                    parsed = parse_import(
                        _counted(stream, lambda n: advance(1)),
                        fmt,
                        config,
                        now_ms=now,
                        agent=agent,
                        stage_dir=stage_dir,
                    )
            finally:
                stream.detach()  # leave standard input itself open
        else:
            with (
                file.open(encoding="utf-8-sig", newline="") as handle,
                progress(f"import {name}: reading", "bytes", total=file.stat().st_size) as advance,
            ):
                parsed = parse_import(
                    _counted(handle, advance),
                    fmt,
                    config,
                    now_ms=now,
                    agent=agent,
                    stage_dir=stage_dir,
                    workers=workers_for(file.stat().st_size),
                )
    except OSError as exc:
        raise UsageProblem(f"cannot read {file}: {exc.strerror or exc}") from None

    def stage(what: str, total: int) -> AbstractContextManager[Advance]:
        return progress(f"import {name}: {what}", "results", total=total)

    with parsed:
        conn = open_store(path, readonly=False, wording=RESULTS)
        try:
            return store_import(conn, config, parsed, now_ms=now, stage=stage), path
        finally:
            conn.close()


@click.command("export")
@config_option
@format_option(*FORMATS, default="jsonl", help_text="File format.")
@from_to_options(
    "First ts to include: ISO 8601 with an offset, or a date.", "End (excluded): ISO 8601 with an offset, or a date."
)
@click.option("--endpoint", "endpoints", multiple=True, help="Only this endpoint (repeatable).")
@click.option("--agent", default=None, help="Only this vantage point (default: every agent in the database).")
@output_option("Write to this file.")
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

    config = optional_config(config_path, database)
    zone = agent_zone(config) if config is not None else machine_zone()
    try:
        start = None if from_ is None else parse_bound(from_, zone)
        end = None if to is None else parse_bound(to, zone)
    except ValueError as exc:
        raise UsageProblem(f"--from/--to: {exc}") from None
    if start is not None and end is not None and end <= start:
        raise UsageProblem(f"--to ({to}) must be after --from ({from_})")
    conn = open_store(database_path(config, database), readonly=True, wording=RESULTS)
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
                write_result_file(results, fmt, sys.stdout)  # to a pipe or a terminal: no progress over it
            except BrokenPipeError:  # `export | head`: the reader has all it wanted
                # Point stdout at /dev/null so the interpreter's final flush does not raise again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        # Written beside the target and renamed at the end: a half-written export never looks like a whole one.
        tmp = output.with_name(output.name + ".tmp")
        try:
            with (
                tmp.open("w", encoding="utf-8", newline="") as out,
                progress(f"export to {output.name}", "results") as advance,
            ):
                n = write_result_file(_counted(results, advance), fmt, out)
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


T = TypeVar("T")


def _counted(items: Iterable[T], advance: Advance) -> Iterator[T]:
    """``items`` passed through, each counted: a line by its length (about its bytes), anything else as one."""
    for item in items:
        advance(len(item) if isinstance(item, str) else 1)
        yield item
