"""Secret values out of text: the one rule every place that shows text applies (log lines, config errors, a
receiver's answer stored in the outbox or printed by ``notify test``).

Every secret is replaced by ``***``, longest first, so a secret inside another leaves no part of either; empty
values are skipped (replacing "" would put ``***`` between every character).
"""

from __future__ import annotations

from collections.abc import Iterable


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every value of ``secrets`` replaced by ``***`` (longest first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
