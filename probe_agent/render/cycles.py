"""``cycle close``'s confirmation: what was stored for the closed cycle."""

from __future__ import annotations

from probe_agent.reports.json_types import ReportDoc


def closed_cycle_line(sla_id: str, label: str, doc: ReportDoc) -> str:
    """The stored availability and credit of a closed cycle, and the first 12 hex digits of its inputs hash (enough
    to tell two closings' inputs apart by eye); ``-`` as the amount when the SLA has no credit terms."""
    credit = doc.get("credit")
    return (
        f"closed {sla_id} cycle {label}: availability {doc['availability_percent']}%, "
        f"credit {credit['amount'] if credit else '-'} {credit['currency'] if credit else ''} "
        f"(inputs {doc['inputs_hash'][:12]})"
    )
