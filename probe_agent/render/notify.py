"""``notify list``'s views: one row per delivery (event, channel), times in ISO 8601 UTC."""

from __future__ import annotations

import json
from typing import Any

from probe_agent.model import iso
from probe_agent.render.table import format_table
from probe_agent.store.outbox import OutboxEntry

_TABLE = ("created", "status", "channel", "type", "attempts", "next/sent", "summary", "last error")


def delivery_rows(entries: list[OutboxEntry]) -> list[dict[str, Any]]:
    """The JSON document of ``notify list``: one object per delivery with its event as sent (``event``)."""
    return [
        {
            "event_id": e.event_id,
            "channel": e.channel,
            "agent": e.agent,
            "type": e.event_type,
            "status": e.status,
            "attempts": e.attempts,
            "created": iso(e.created_ms),
            "next_attempt": iso(e.next_attempt_ms) if e.status == "pending" else None,
            "sent": None if e.sent_ms is None else iso(e.sent_ms),
            "last_error": e.last_error,
            "summary": e.summary,
            "event": json.loads(e.body),
        }
        for e in entries
    ]


def deliveries_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no deliveries"
    lines = [
        [
            r["created"],
            r["status"],
            r["channel"],
            r["type"],
            r["attempts"],
            r["sent"] or r["next_attempt"] or "-",
            _short(r["summary"], 60),
            _short(r["last_error"] or "", 60),
        ]
        for r in rows
    ]
    return format_table([h.upper() for h in _TABLE], lines)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
