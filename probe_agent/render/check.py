"""``check``'s views: the table (one row per endpoint probed now) and the monitoring-plugin line (``--nagios``)."""

from __future__ import annotations

import math
import re

from probe_agent.model import Outcome, ProbeResult
from probe_agent.render.table import format_table

ELLIPSIS = "…"


def tls_days(days: float | None) -> int | None:
    """Whole days left, as the probe's own warning counts them (a day not fully left is not counted)."""
    return None if days is None else max(math.floor(days), 0)


def results_table(results: list[ProbeResult], width: int | None = None) -> str:
    """Outcome, latency (whole ms), HTTP status, error kind, TLS days left (whole days) and detail per result;
    a value the probe did not get is an empty cell. With ``width`` (a terminal's columns), each detail is cut to
    fit, ending in an ellipsis (the full text is in ``--format json``)."""
    rows = [
        [
            r.endpoint,
            r.outcome.value,
            None if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
            r.status_code,
            r.error_kind.value if r.error_kind else None,
            tls_days(r.tls_days_left),
            r.detail,
        ]
        for r in results
    ]
    headers = ["ENDPOINT", "OUTCOME", "LATENCY", "STATUS", "ERROR", "TLS DAYS", "DETAIL"]
    if width is not None:
        before = format_table(headers[:-1], [row[:-1] for row in rows], right=(2, 3, 5)).splitlines()
        room = max(width - max(len(line) for line in before) - 2, 10)
        for row in rows:
            detail = str(row[-1] or "")
            row[-1] = detail if len(detail) <= room else detail[: room - 1].rstrip() + ELLIPSIS
    return format_table(headers, rows, right=(2, 3, 5))


# The monitoring-plugin convention (Nagios, Icinga, Zabbix, Sensu): exit code and the word in the first line.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
_WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def plugin_unknown(message: str) -> str:
    """The one line for a check that could not run (bad config, an unknown id): exit 3."""
    return f"PROBE-AGENT UNKNOWN - {' '.join(message.split())}"


def plugin_line(results: list[ProbeResult]) -> tuple[int, str]:
    """(exit code, one line): CRITICAL if any endpoint is down, else UNKNOWN if any is unknown (the agent's own
    network failed too), else WARNING if any is degraded (slow, or a certificate within ``cert_expiry_warning``),
    else OK. The text names the endpoints of the worst state with their error; after ``|`` the perfdata: each
    endpoint's latency in seconds and, for TLS, its whole days left."""
    by = {o: [r for r in results if r.outcome is o] for o in Outcome}
    if by[Outcome.DOWN]:
        code, worst = CRITICAL, Outcome.DOWN
    elif by[Outcome.UNKNOWN]:
        code, worst = UNKNOWN, Outcome.UNKNOWN
    elif by[Outcome.DEGRADED]:
        code, worst = WARNING, Outcome.DEGRADED
    else:
        code, worst = OK, Outcome.UP
    counts = ", ".join(f"{len(by[o])} {o.value}" for o in Outcome if by[o])
    text = f"PROBE-AGENT {_WORDS[code]} - {counts}"
    if worst is not Outcome.UP:
        named = "; ".join(f"{r.endpoint}: {_short(r)}" for r in by[worst])
        text += f" ({named})"
    return code, f"{text} | {perfdata(results)}"


def _short(r: ProbeResult) -> str:
    # One line only: the plugin convention reads the first line; a detail may hold newlines or a '|' (perfdata).
    what = r.error_kind.value if r.error_kind else ""
    detail = " ".join(r.detail.split()).replace("|", "/")
    return f"{what} {detail}".strip()[:120] or r.outcome.value


def _label(text: str) -> str:
    return "'" + re.sub(r"['=]", "_", text) + "'"


def perfdata(results: list[ProbeResult]) -> str:
    parts = []
    for r in results:
        if r.latency_ms is not None:
            parts.append(f"{_label(r.endpoint)}={r.latency_ms / 1000:.6f}s;;;0")
        days = tls_days(r.tls_days_left)
        if days is not None:
            parts.append(f"{_label(r.endpoint + ' tls days')}={days};;;0")
    return " ".join(parts)
