"""The query parameters of ``/api/v1/``: each route names the keys it takes, and every value is checked here,
before any read, so what a client sends wrong is a 400 that says which parameter and why.

- A key the route does not take is refused (``?cycel=2026-09`` would otherwise quietly report the current cycle:
  the wrong month's money). So is a key given twice unless the route repeats it (``endpoint`` of ``results``), and
  an empty value.
- ``cycle``: ``YYYY-MM``, the month the billing cycle starts in, year 1970-8999.
- ``from``/``to``: ISO 8601 with a UTC offset (``2026-09-01T00:00:00Z``, ``...+02:00``) or a plain date
  (``2026-09-01``: local midnight in the zone the route says: the SLA's, else the agent's); ``to`` is excluded and
  must be after ``from``; both between 1970 and 9000.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web

from probe_agent.api.answers import BadRequest
from probe_agent.sla.periods import parse_bound

_CYCLE = re.compile(r"^(\d{4})-(\d{2})$")
EARLIEST_MS = 0  # 1970-01-01T00:00:00Z
LATEST_MS = 221_845_392_000_000  # 9000-01-01T00:00:00Z: later dates overflow the calendar arithmetic of reports


class Query:
    """One request's query string, refused at once if it holds a key the route does not take."""

    def __init__(self, request: web.Request, takes: Sequence[str], repeats: Sequence[str] = ()) -> None:
        self._query = request.query
        for key in self._query:
            if key not in takes:
                taken = ", ".join(takes) if takes else "no parameters"
                raise BadRequest(f"unknown parameter '{key}' (this route takes: {taken})")
        for key in takes:
            values = self._query.getall(key, [])
            if len(values) > 1 and key not in repeats:
                raise BadRequest(f"{key}: give it once (it was given {len(values)} times)")
            if any(v == "" for v in values):
                raise BadRequest(f"{key}: empty value")

    def one(self, key: str) -> str | None:
        """The value of ``key``, or None when it was not given."""
        return self._query.get(key)

    def all(self, key: str) -> list[str]:
        """Every value of a repeatable ``key``, in the order given (empty when not given)."""
        return list(self._query.getall(key, []))


def check_cycle(value: str) -> str:
    """``value`` itself when it is a well-formed cycle (``YYYY-MM``), else ``BadRequest``."""
    match = _CYCLE.match(value)
    if match is None:
        raise BadRequest(f"cycle must be YYYY-MM (the month the billing cycle starts in), got {value!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise BadRequest(f"cycle: the month must be 01-12, got {value!r}")
    if not 1970 <= year < 9000:
        raise BadRequest(f"cycle: the year must lie between 1970 and 8999, got {value!r}")
    return value


def bound(name: str, value: str, tz: ZoneInfo) -> int:
    """Epoch ms of a ``from``/``to`` value (dates at local midnight in ``tz``), else ``BadRequest`` naming it."""
    try:
        ms = parse_bound(value, tz)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name}: {exc}") from None
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise BadRequest(f"{name}: {value!r} is not between 1970-01-01 and 9000-01-01 UTC")
    return ms


@dataclass(frozen=True)
class Window:
    """A ``from``/``to`` pair as given (the text, for the library, which reads it again in the same zone) and as
    epoch ms; either side is None when not given."""

    from_: str | None
    to: str | None
    start_ms: int | None
    end_ms: int | None


def window(query: Query, tz: ZoneInfo, *, both_or_neither: bool = False) -> Window:
    """``from`` and ``to`` checked in ``tz``: each well-formed, ``to`` after ``from`` when both are given, and both
    or neither when ``both_or_neither``."""
    from_, to = query.one("from"), query.one("to")
    if both_or_neither and (from_ is None) != (to is None):
        raise BadRequest("give both from and to, or neither")
    start = None if from_ is None else bound("from", from_, tz)
    end = None if to is None else bound("to", to, tz)
    if start is not None and end is not None and end <= start:
        raise BadRequest(f"to ({to}) must be after from ({from_})")
    return Window(from_, to, start, end)
