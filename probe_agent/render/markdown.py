"""Markdown (GitHub flavour): tables and text lines, escaped so stored text cannot change the document.

Every value shown comes from config or stored data (a customer name, an exclusion's reason, a probe's detail), so
it is text, never markup: ``<``, ``>`` and ``&`` become entities (Markdown passes raw HTML through, and a renderer
would run ``<script>`` or draw ``<img onerror=...>``), and in a table ``|`` and line breaks cannot break a row.
"""

from __future__ import annotations

from collections.abc import Sequence


def md_text(value: object) -> str:
    """``value`` as Markdown text: HTML-significant characters as entities (``&`` first, so none is doubled)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_cell(value: object) -> str:
    """A table cell: ``md_text`` plus escaped backslashes and pipes, line breaks folded; None shows as a dash."""
    if value is None:
        return "–"
    return md_text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[int] = ()) -> str:
    head = "| " + " | ".join(md_cell(h) for h in headers) + " |"
    rule = "|" + "|".join(" ---: " if i in right else " --- " for i in range(len(headers))) + "|"
    body = ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])
