"""``check``'s table: one row per endpoint probed now, with its verdict."""

from __future__ import annotations

from probe_agent.model import ProbeResult
from probe_agent.render.table import format_table


def results_table(results: list[ProbeResult]) -> str:
    """Outcome, latency (whole ms), HTTP status, error kind, TLS days left (whole days) and detail per result;
    a value the probe did not get is an empty cell."""
    rows = [
        (
            r.endpoint,
            r.outcome.value,
            None if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
            r.status_code,
            r.error_kind.value if r.error_kind else None,
            None if r.tls_days_left is None else f"{r.tls_days_left:.0f}",
            r.detail,
        )
        for r in results
    ]
    return format_table(
        ["ENDPOINT", "OUTCOME", "LATENCY", "STATUS", "ERROR", "TLS DAYS", "DETAIL"], rows, right=(2, 3, 5)
    )
