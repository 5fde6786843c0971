"""The verdict (``sla/verdict.py``: ``on_track``, ``at_risk``, ``breached``, ``met``, ``missed``) in words, in one
place for every view. Three registers of the same words: a table cell, loud where it calls for action (``status``);
a sentence that says why (the report's summary); and the public status page, for a customer rather than an
operator ("target missed this cycle" rather than "breached")."""

from __future__ import annotations

_CELL = {"on_track": "on track", "at_risk": "AT RISK", "breached": "BREACHED", "met": "met", "missed": "MISSED"}
_SENTENCE = {
    "on_track": "on track (the cycle is not over)",
    "at_risk": "AT RISK (burning its error budget fast)",
    "breached": "BREACHED (the target can no longer be met this cycle)",
    "met": "met",
    "missed": "MISSED",
}
_PAGE = {"on_track": "on track", "at_risk": "at risk", "breached": "target missed this cycle", "met": "met",
         "missed": "missed"}  # fmt: skip


def verdict_cell(verdict: str | None) -> str:
    """For a table; ``-`` when nothing was counted (no verdict)."""
    return "-" if verdict is None else _CELL.get(verdict, verdict)


def verdict_sentence(verdict: str | None) -> str:
    """For the report's summary; says why a running cycle's verdict is what it is."""
    return "n/a (nothing counted)" if verdict is None else _SENTENCE.get(verdict, verdict)


def verdict_for_customers(verdict: str | None) -> str | None:
    """For the status page; None when nothing was counted (the page shows no verdict then)."""
    return None if verdict is None else _PAGE.get(verdict, verdict)
