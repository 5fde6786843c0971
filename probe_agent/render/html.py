"""The self-contained HTML claim report (issue: service credits). Placeholder until the renderer lands."""

from __future__ import annotations

import html
import json
from typing import Any


def claim_report_html(doc: dict[str, Any]) -> str:
    body = html.escape(json.dumps(doc, indent=2))
    title = html.escape(doc["sla"])
    head = f"<head><meta charset='utf-8'><title>{title}</title></head>"
    return f"<!doctype html><html>{head}<body><pre>{body}</pre></body></html>"
