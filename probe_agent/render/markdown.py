"""Markdown tables (GitHub flavour), with cell text escaped so a ``|`` in a detail cannot break a row."""

from __future__ import annotations

from collections.abc import Sequence


def md_cell(value: object) -> str:
    if value is None:
        return "–"
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[int] = ()) -> str:
    head = "| " + " | ".join(md_cell(h) for h in headers) + " |"
    rule = "|" + "|".join(" ---: " if i in right else " --- " for i in range(len(headers))) + "|"
    body = ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])
