"""Building blocks of the HTML claim report: escaping, value formatting, tables and the inline stylesheet.

Escaping is by construction: ``esc`` escapes anything that is not already ``Html``, and the table helpers escape
every cell, so a customer name or an exclusion reason can never become markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime


class Html(str):
    """Markup built by this package from escaped parts: passed through ``esc`` unchanged."""

    __slots__ = ()


def esc(value: object) -> Html:
    """Escaped text (quotes too, so it is safe in attributes); None becomes an en dash."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("–" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


def when(value: object) -> str:
    """A local ISO 8601 time as ``2026-11-22 08:15:05.200 +01:00`` (milliseconds only when present).

    A ``Z`` time stays UTC and says so. Anything that does not parse is shown as given.
    """
    text = str(value)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return text
    if dt.tzinfo is None:
        return text
    clock = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        clock += f".{dt.microsecond // 1000:03d}"
    offset = dt.strftime("%z")
    zone = "UTC" if text.endswith("Z") else f"{offset[:3]}:{offset[3:]}"
    return f"{clock} {zone}"


# The README's taxonomy in words a vendor's billing team can read; the raw kind is shown next to it.
ERROR_KINDS: dict[str, str] = {
    "dns_nxdomain": "DNS: name does not exist",
    "dns_temporary": "DNS: temporary resolver failure",
    "dns_mismatch": "DNS: resolved to unexpected addresses",
    "connect_refused": "connection refused",
    "connect_timeout": "connection timed out",
    "connection_reset": "connection reset",
    "tls_invalid": "TLS certificate or handshake invalid",
    "tls_expired": "TLS certificate expired",
    "read_timeout": "response timed out",
    "http_status": "HTTP status not accepted",
    "body_mismatch": "response body did not match",
    "too_large": "response too large",
    "redirect_refused": "redirect not allowed",
    "agent_error": "agent-side error (not counted as down)",
    "controls_failed": "agent's own network failed (not counted as down)",
}


def error_kind(kind: str | None) -> Html:
    if not kind:
        return esc("–")
    words = ERROR_KINDS.get(kind)
    code = f'<code class="kind">{esc(kind)}</code>'
    return Html(f"{esc(words)} {code}" if words else code)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (), cls: str = "") -> Html:
    """A table; cells are escaped unless they are ``Html``. ``numeric`` columns are right-aligned."""
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    klass = f' class="{esc(cls)}"' if cls else ""
    return Html(f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def facts(rows: Iterable[tuple[str, object]]) -> Html:
    """A two-column definition table (label, value)."""
    body = "".join(f"<tr><th scope=row>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return Html(f'<table class="facts"><tbody>{body}</tbody></table>')


def section(title: str, body: object, cls: str = "") -> Html:
    klass = f' class="{esc(cls)}"' if cls else ""
    return Html(f"<section{klass}><h2>{esc(title)}</h2>{esc(body)}</section>")


STYLE = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #eef1f5; color: #1f2933;
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
main { max-width: 980px; margin: 24px auto; background: #fff; padding: 32px 40px 40px;
  border: 1px solid #d5dae1; border-radius: 6px; }
h1 { font-size: 24px; margin: 0 0 2px; letter-spacing: -0.01em; }
h2 { font-size: 16px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #1d4e89;
  color: #1d4e89; break-after: avoid; }
p { margin: 6px 0; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: #5b6673; }
.small { font-size: 12px; }
header.top { display: flex; justify-content: space-between; gap: 24px; align-items: flex-start;
  border-bottom: 1px solid #d5dae1; padding-bottom: 14px; }
.kicker { text-transform: uppercase; letter-spacing: 0.08em; font-size: 11px; color: #5b6673; font-weight: 600; }
.parties { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin-top: 10px; font-size: 13px; }
.parties dt { color: #5b6673; }
.parties dd { margin: 0; font-weight: 600; }
.badge { display: inline-block; padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 700;
  letter-spacing: 0.03em; border: 1.5px solid currentColor; white-space: nowrap; }
.badge.met { color: #1e6b3a; background: #e6f4ea; }
.badge.missed { color: #9b1c1c; background: #fdecea; }
.badge.none { color: #4b5563; background: #f1f3f5; }
.badge.provisional { color: #8a4b00; background: #fff4e0; border-style: dashed; }
.badges { display: flex; flex-direction: column; align-items: flex-end; gap: 6px; }
.notice { margin: 16px 0 0; padding: 10px 14px; border-radius: 4px; border: 1.5px solid; }
.notice.warn { border-color: #b45309; background: #fff7e8; }
.notice.prov { border-color: #8a4b00; border-style: dashed; background: #fffaf0; }
.notice h3 { margin: 0 0 4px; font-size: 14px; }
.notice ul { margin: 4px 0 0; padding-left: 20px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-top: 18px; }
.card { border: 1px solid #d5dae1; border-radius: 6px; padding: 10px 12px; break-inside: avoid; }
.card .label { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; color: #5b6673; }
.card .value { font-size: 22px; font-weight: 700; margin: 2px 0; font-variant-numeric: tabular-nums; }
.card .sub { font-size: 12px; color: #5b6673; }
.card.good { border-left: 5px solid #2f8a4e; }
.card.bad { border-left: 5px solid #b3261e; }
.card.neutral { border-left: 5px solid #8a94a3; }
table { width: 100%; border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e3e7ec; vertical-align: top; }
thead th { background: #f3f5f8; font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; color: #3e4a59;
  border-bottom: 1.5px solid #c5ccd6; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr { break-inside: avoid; }
table.scope { table-layout: fixed; }
section table + table { margin-top: 12px; }
table.facts th { width: 34%; color: #3e4a59; font-weight: 600; background: none; }
.days { display: grid; grid-template-columns: 8.6em minmax(0, 1fr) 6.2em 6.6em; gap: 3px 10px;
  align-items: center; font-size: 12px; font-variant-numeric: tabular-nums; }
.days .hd { font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; color: #3e4a59; font-weight: 600; }
.days .num { text-align: right; }
.days svg { display: block; width: 100%; height: auto; }
.days .date { white-space: nowrap; }
.days .date .wd { color: #5b6673; display: inline-block; width: 2.9em; }
.days .bad { color: #9b1c1c; font-weight: 700; }
.axis { position: relative; height: 1.5em; border-bottom: 1px solid #c5ccd6; }
.axis span { position: absolute; bottom: 2px; font-size: 10.5px; color: #5b6673; white-space: nowrap; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0; margin: 8px 0 12px;
  font-size: 12px; }
.legend li { display: flex; align-items: center; gap: 5px; }
.credit-amount { font-size: 20px; font-weight: 700; }
ol.steps { margin: 6px 0; padding-left: 22px; font-size: 12.5px; }
ol.steps li { margin: 2px 0; }
pre.cmd { background: #f3f5f8; border: 1px solid #d5dae1; border-radius: 4px; padding: 8px 10px; margin: 6px 0;
  white-space: pre-wrap; word-break: break-all; font-size: 12px; }
code.kind { background: #f3f5f8; padding: 0 4px; border-radius: 3px; font-size: 11px; }
.hash { word-break: break-all; }
footer { margin-top: 28px; padding-top: 10px; border-top: 1px solid #d5dae1; font-size: 11px; color: #5b6673; }
@media print {
  body { background: #fff; font-size: 10pt; }
  .card .value { font-size: 14pt; }
  main { max-width: none; margin: 0; padding: 0; border: 0; border-radius: 0; }
  section, .cards, .notice { break-inside: avoid-page; }
  section.long { break-inside: auto; }
  .days > * { break-inside: avoid; }
}
@media screen and (max-width: 720px) {
  main { padding: 16px; }
  .cards { grid-template-columns: repeat(2, 1fr); }
  header.top { flex-direction: column; }
  .badges { align-items: flex-start; }
}
"""
