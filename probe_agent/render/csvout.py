"""CSV output that is safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return could be run as a formula by Excel or
LibreOffice (CSV injection): such text cells get a leading apostrophe. Numbers (including negative ones) are
written as numbers, so figures stay summable.

Records end in CRLF (RFC 4180). Python's writer quotes a field only if it holds a character of the line
terminator, so with a bare ``\n`` terminator a ``\r`` inside a detail went out unquoted, and a spreadsheet (or a
reader splitting on CR) started a new, unescaped row at it: with CRLF every field holding CR or LF is quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LINE_END = "\r\n"


def escape_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=LINE_END)
    writer.writerow([escape_cell(h) for h in headers])
    for row in rows:
        writer.writerow([escape_cell(c) for c in row])
    return buf.getvalue()
