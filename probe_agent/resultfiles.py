"""The result file formats: JSON Lines and CSV in the one result schema (``import`` reads them, ``export`` writes).

CSV has one column per key (``phases`` as JSON text); text cells that a spreadsheet could run as formulas are
escaped with a leading apostrophe (``render.csvout``), and a text value that itself starts with an apostrophe gets
a second one, so a file reads back exactly as it was written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from probe_agent.model import RESULT_KEYS, ProbeResult
from probe_agent.render.csvout import LINE_END, escape_cell

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = RESULT_KEYS


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) the input cannot be imported; ``line`` is 1-based, None when no single line is at fault."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


def format_for(name: str) -> str | None:
    """The format a file name implies (``.jsonl``/``.ndjson``/``.json``, ``.csv``), else None; ``-`` is jsonl."""
    lower = name.lower()
    if lower == "-" or lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    return None


def _protect_apostrophe(value: object) -> object:
    # escape_cell marks a formula with a leading apostrophe; doubling a leading apostrophe of the text itself makes
    # "strip one leading apostrophe" an exact inverse on import.
    if isinstance(value, str) and value.startswith("'"):
        return "'" + value
    return value


def csv_cells(result: ProbeResult) -> list[str]:
    """One CSV record of ``result`` in ``CSV_COLUMNS`` order, formula-escaped; ``phases`` as compact JSON."""
    data = result.to_json()
    data["phases"] = json.dumps(data["phases"], separators=(",", ":"), ensure_ascii=False)
    return [escape_cell(_protect_apostrophe(data[column])) for column in CSV_COLUMNS]


def write_results(results: Iterable[ProbeResult], fmt: str, out: TextIO) -> int:
    """Write results one at a time (nothing is collected) as ``jsonl`` or ``csv``; returns how many."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator=LINE_END)
        writer.writerow(CSV_COLUMNS)
        for result in results:
            writer.writerow(csv_cells(result))
            n += 1
        return n
    for result in results:
        out.write(result.to_json_line())
        out.write("\n")
        n += 1
    return n


def _csv_value(column: str, cell: str) -> Any:
    if cell.startswith("'"):
        cell = cell[1:]
    if column in ("latency_ms", "tls_days_left"):
        if not cell:
            return None
        try:
            return float(cell)
        except ValueError:
            raise ValueError(f"{column}: {cell!r} is not a number") from None
    if column == "status_code":
        if not cell:
            return None
        try:
            return int(cell)
        except ValueError:
            raise ValueError(f"status_code: {cell!r} is not an integer") from None
    if column == "phases":
        if not cell:
            return {}
        try:
            return json.loads(cell)
        except ValueError:
            raise ValueError(f"phases: {cell!r} is not a JSON object") from None
    if column == "recheck":
        flags = {"": False, "false": False, "0": False, "true": True, "1": True}
        if cell.strip().lower() not in flags:
            raise ValueError(f"recheck: {cell!r} is not true or false")
        return flags[cell.strip().lower()]
    return cell or None


def _jsonl_records(lines: Iterable[str], start: int = 1) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(lines, start):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            yield number, ValueError(f"not JSON: {exc}")


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    # strict: a quote that is opened and never closed is an error at its record, not a cell that swallows every
    # line after it (the lenient reader turned the rest of a file into one cell: "imported 1 of 1").
    reader = csv.reader(lines, strict=True)
    try:
        yield from _csv_rows(reader)
    except csv.Error as exc:
        yield (
            reader.line_num,
            ValueError(
                f"malformed CSV ({exc}) in the record that ends here; a cell that holds a quote must be quoted "
                'whole, with the quote doubled ("say ""hi""")'
            ),
        )


def _csv_rows(reader: Any) -> Iterator[tuple[int, Any]]:
    header = next(reader, None)
    if header is None:
        return
    columns = [name.strip().lstrip("\ufeff") for name in header]
    unknown = sorted(set(columns) - set(CSV_COLUMNS))
    missing = [c for c in ("ts", "endpoint", "outcome") if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns):
        yield (
            1,
            ValueError(
                f"header: columns must be some of {', '.join(CSV_COLUMNS)}, each once, with ts, endpoint and outcome"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            ),
        )
        return
    while True:
        start = reader.line_num + 1  # a quoted cell may span lines: report where the record starts
        row = next(reader, None)
        if row is None:
            return
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            yield start, ValueError(f"{len(row)} cells, the header has {len(columns)}")
            continue
        try:
            yield start, {c: _csv_value(c, cell) for c, cell in zip(columns, row, strict=True)}
        except ValueError as exc:
            yield start, exc


def stream_results(
    lines: Iterable[str],
    fmt: str,
    *,
    agent: str | None = None,
    default_agent: str | None = None,
    first_line: int = 1,
) -> Iterator[tuple[int, ProbeResult] | Problem]:
    """Parse records one at a time (nothing is collected): ``(line, result)`` for each good one, a ``Problem``
    for each bad one (all of them), in file order. A file that is not UTF-8 ends with a ``Problem`` without line.

    ``agent`` overrides each result's vantage point; ``default_agent`` supplies it where a record has none.
    Blank lines are skipped. ``first_line`` numbers the first of ``lines`` (jsonl: a later part of a file).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    records_ = _csv_records(lines) if fmt == "csv" else _jsonl_records(lines, first_line)
    try:
        for number, record in records_:
            if isinstance(record, ValueError):
                yield Problem(number, str(record))
                continue
            try:
                yield number, ProbeResult.from_json(record, agent=agent, default_agent=default_agent)
            except ValueError as exc:
                yield Problem(number, str(exc))
    except UnicodeDecodeError as exc:
        yield undecodable(exc)


def undecodable(exc: UnicodeDecodeError) -> Problem:
    """The problem of a file that is not UTF-8 (no line: the decoder reads blocks)."""
    return Problem(None, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start} of a block)")
