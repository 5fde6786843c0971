"""The ``cycle_closed`` event (pure): one per (SLA, cycle), built from the closed cycle's report document when the
daemon closes it, and the claim report attached to its email deliveries.

``details``: ``availability_percent`` (null when nothing was counted), ``target_percent``, ``met``, ``credit`` (null
without credit terms, else ``amount``, ``currency``, ``percent`` as strings and ``rule``, as the report writes
them), ``no_credit_reason``, ``claim_deadline`` (ISO, null when the SLA has none), ``cycle_start``/``cycle_end``
and ``inputs_hash`` (``probe-agent report --verify`` checks the stored report against it). The episode start (so
the id) is the cycle's start: the same cycle closed again after a crash has the same id.

The claim report: an email delivery's stored body carries it as a top-level ``attachment`` (file name, MIME type,
content), so the outbox row is self-contained (the sender needs nothing but the row); ``dispatch`` takes it out of
the JSON before sending and attaches it. Webhook and Apprise deliveries carry the event alone, with a link to the
report in the JSON API (``report_url``) when ``api.public_url`` says where the server is reached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from probe_agent.config.notify_schema import Channel, EventType
from probe_agent.model import iso
from probe_agent.notify.event import Event
from probe_agent.store.outbox import OutboxRow

ATTACHMENT = "attachment"  # the top-level key of an email delivery's body that holds its attachment


def cycle_closed(
    agent: str,
    *,
    sla: str,
    cycle: str,
    start_ms: int,
    end_ms: int,
    closed_ms: int,
    doc: Mapping[str, Any],
    report_url: str | None = None,
) -> Event:
    """The event of a cycle closed at ``closed_ms``; ``doc`` is its stored report document (JSON values);
    ``report_url``: the HTTP API's address of that report (``api.public_url`` set), else None."""
    credit = doc.get("credit")
    owed = (
        None
        if credit is None
        else {k: credit.get(k) for k in ("amount", "currency", "percent", "rule", "capped", "below_minimum")}
    )
    availability = doc.get("availability_percent")
    money = f"credit owed {credit['amount']} {credit['currency']}" if credit else "no credit terms"
    shown = "nothing counted" if availability is None else f"availability {availability}%"
    return Event(
        EventType.CYCLE_CLOSED,
        agent,
        ("sla", sla),
        start_ms,
        closed_ms,
        f"SLA {sla} cycle {cycle} closed: {shown} (target {doc.get('target_percent')}%), {money}",
        {
            "cycle_start": iso(start_ms),
            "cycle_end": iso(end_ms),
            "availability_percent": availability,
            "target_percent": doc.get("target_percent"),
            "met": doc.get("met"),
            "credit": owed,
            "no_credit_reason": doc.get("no_credit_reason"),
            "claim_deadline": doc.get("claim_deadline"),
            "inputs_hash": doc.get("inputs_hash"),
            "report_url": report_url,
        },
        cycle=cycle,
    )


def claim_report_filename(sla: str, cycle: str) -> str:
    return f"sla-report-{sla}-{cycle}.html"


def with_claim_report(
    rows: Sequence[OutboxRow], channels: Sequence[Channel], *, filename: str, html: str
) -> list[OutboxRow]:
    """``rows`` with the claim report ``html`` added to the body of each one for an email channel."""
    email = {c.id for c in channels if c.kind == "email"}
    out = []
    for row in rows:
        if row.channel in email:
            doc = json.loads(row.body)
            doc[ATTACHMENT] = {"filename": filename, "content_type": "text/html", "content": html}
            row = replace(row, body=json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
        out.append(row)
    return out


def split_attachment(body: str) -> tuple[str, tuple[str, bytes, str] | None]:
    """An email delivery's body as (the event's JSON text, its attachment as ``send_email`` takes it, or None)."""
    doc = json.loads(body)
    attached = doc.pop(ATTACHMENT, None)
    if not isinstance(attached, dict):
        return body, None
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return text, (str(attached["filename"]), str(attached["content"]).encode(), str(attached["content_type"]))
