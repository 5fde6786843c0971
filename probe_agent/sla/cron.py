"""A pure 5-field cron expansion for recurring maintenance windows, in the SLA's time zone.

Fields: ``minute hour day-of-month month day-of-week``. Each is ``*`` or a comma list of items ``N``, ``A-B``,
``*/S``, ``A-B/S`` or ``A/S`` (A to the field's maximum, step S). Months accept ``JAN``-``DEC``, days of week
``SUN``-``SAT`` (case-insensitive); day of week 0 and 7 are both Sunday. As in Vixie cron, when *both*
day-of-month and day-of-week are restricted (neither starts with ``*``) a day matches if *either* matches.

Times are local wall-clock times in the given zone. A start inside a DST gap is moved forward by the size of
the gap (02:30 on the spring-forward night starts at 03:30: ``fold=0`` reads it with the old offset); a start
in a fall-back hour happens once, at its first occurrence. The window duration is elapsed time, not wall-clock
time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from probe_agent.model import dt_to_ms, ms_to_dt

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed cron expression: the allowed values per field (day of week 0 = Sunday, 7 folded into 0)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow


def _value(text: str, names: dict[str, int], low: int, high: int, field: str) -> int:
    token = text.upper()
    if token in names:
        return names[token]
    if not token.isdigit():
        raise ValueError(f"cron {field}: {text!r} is not a number or a name")
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f"cron {field}: {value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    names = names or {}
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"cron {field}: empty list item in {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"cron {field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, names, low, high, field), _value(b, names, low, high, field)
            if last < first:
                raise ValueError(f"cron {field}: range {base!r} runs backwards")
        else:
            first = _value(base, names, low, high, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> CronSpec:
    """Parse a 5-field cron expression; raises ValueError naming the bad field."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {len(parts)}: {expression!r}")
    minute, hour, dom, month, dow = parts
    weekdays = _field(dow, 0, 7, "day of week", _DAYS)
    return CronSpec(
        minutes=_field(minute, 0, 59, "minute"),
        hours=_field(hour, 0, 23, "hour"),
        days=_field(dom, 1, 31, "day of month"),
        months=_field(month, 1, 12, "month", _MONTHS),
        weekdays=frozenset(d % 7 for d in weekdays),
        day_restricted=not dom.startswith("*"),
        weekday_restricted=not dow.startswith("*"),
    )


def expand(expression: str, duration_ms: int, start_ms: int, end_ms: int, tz: ZoneInfo) -> list[tuple[int, int]]:
    """Every window ``[fire, fire + duration_ms)`` that overlaps ``[start_ms, end_ms)``, sorted by start.

    Windows that began before ``start_ms`` but reach into the range are included unclipped (bucketing clips).
    Two fire times that map to the same instant (DST gap) give one window.
    """
    if duration_ms <= 0:
        raise ValueError("maintenance duration must be positive")
    spec = parse_cron(expression)
    first_day = ms_to_dt(start_ms - duration_ms).astimezone(tz).date() - timedelta(days=1)
    last_day = ms_to_dt(end_ms).astimezone(tz).date()
    times = sorted((h, m) for h in spec.hours for m in spec.minutes)
    fires: set[int] = set()
    day = first_day
    while day <= last_day:
        if spec.matches_day(day):
            for h, m in times:
                fire = dt_to_ms(datetime(day.year, day.month, day.day, h, m, tzinfo=tz))
                if fire < end_ms and fire + duration_ms > start_ms:
                    fires.add(fire)
        day += timedelta(days=1)
    return [(f, f + duration_ms) for f in sorted(fires)]
