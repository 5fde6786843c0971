"""How the report documents write numbers and times (``json_types``): one rule each, shared by every document.

- a percent: a float rounded half-up to 6 decimals from the exact fraction (``percent``); the exact value decides
  elsewhere (``availability_exact``, ``met``), and the credit steps show availability with the same rounding;
- a duration: seconds as a float with millisecond precision (``seconds``);
- a time: ISO 8601 in the document's zone, with milliseconds only when the instant has some (``local_iso``).
"""

from __future__ import annotations

from fractions import Fraction
from zoneinfo import ZoneInfo

from probe_agent.model import ms_to_dt
from probe_agent.sla.rounding import display_percent


def percent(value: Fraction | None, places: int = 6) -> float | None:
    """``value`` (a fraction of 1) in percent, rounded half-up to ``places`` decimals; None stays None."""
    return None if value is None else float(display_percent(value * 100, places))


def seconds(ms: int | Fraction) -> float:
    """Milliseconds as seconds, rounded to the millisecond."""
    return round(float(Fraction(ms) / 1000), 3)


def local_iso(ms: int, tz: ZoneInfo) -> str:
    """Epoch ms as ISO 8601 in ``tz``: ``2026-09-10T14:00:00+02:00``, or ``...14:00:00.250+02:00``."""
    return ms_to_dt(ms).astimezone(tz).isoformat(timespec="seconds" if ms % 1000 == 0 else "milliseconds")
