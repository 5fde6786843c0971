"""Parsers for the scalar forms a config file may use: durations, percentages, sizes, host:port.

Each raises ValueError with a message fit to show a user; pydantic turns it into a located config error.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from probe_agent.model import DAY_MS
from probe_agent.units import duration_text

_DURATION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_HINT = "durations look like 500ms, 10s, 5m, 1h, 2d, 1w, or a number of seconds"


def parse_duration_ms(value: Any) -> int:
    """Milliseconds from ``500ms``, ``10s``, ``5m``, ``1h``, ``2d``, ``1w`` or a number of seconds (may be fractional).

    Compound forms (``1h30m``) are accepted as a sum of parts. Negative values, ``.inf``/``nan`` and anything
    longer than ``MAX_DURATION_MS`` (ten years: no setting means more, and larger numbers overflowed) are
    rejected; each setting states its own tighter bounds.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got a boolean ({_DURATION_HINT})")
    if isinstance(value, int | float):
        return _bounded(value * 1000, value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration ({_DURATION_HINT})")
    return _duration_text_ms(value)


@functools.lru_cache(maxsize=1024)
def _duration_text_ms(value: str) -> int:
    """``parse_duration_ms`` of a string, remembered: a big config repeats a few durations (every endpoint takes
    ``defaults``' interval, timeout, retry_interval and grace), and 50,000 endpoints parsed each of them afresh
    for 9 s. A ValueError is raised afresh each time (lru_cache keeps only results)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _bounded(seconds * 1000, value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", text)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", "", text).strip():
        raise ValueError(f"{value!r} is not a duration ({_DURATION_HINT})")
    return _bounded(sum(Decimal(n) * _DURATION_UNITS_MS[u] for n, u in parts), value)


MAX_DURATION_MS = 3653 * 86_400_000  # ten years


def _bounded(ms: float | Decimal, written: Any) -> int:
    if ms != ms or ms in (float("inf"), float("-inf")):  # nan, .inf, 1e400
        raise ValueError(f"{written!r} is not a finite duration ({_DURATION_HINT})")
    if ms < 0:
        raise ValueError("a duration must not be negative")
    if ms > MAX_DURATION_MS:
        raise ValueError(f"{written!r} is longer than ten years")
    return round(ms)


def format_duration_ms(ms: int) -> str:
    """A duration as the config spells it, weeks included: ``90000`` -> ``1m30s``; ``0`` -> ``0s``."""
    return duration_text(ms, largest="w")


def parse_percent(value: Any) -> Decimal:
    """A percentage as an exact Decimal in [0, 100] from ``99.9%``, ``"99.9"`` or ``99.9``.

    Floats are read through their shortest repr (99.9 -> Decimal("99.9")), never through binary expansion.
    """
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 99.9% or 99.9, got a boolean")
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        raise ValueError("expected a percentage such as 99.9% or 99.9")
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a percentage (write 99.9% or 99.9)") from None
    if not result.is_finite() or not Decimal(0) <= result <= Decimal(100):
        raise ValueError(f"{value!r} is outside 0-100 %")
    return result


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
}


def parse_size(value: Any) -> int:
    """Bytes from ``1MiB``, ``512KiB``, ``10MB`` or a plain number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MiB")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a size such as 1MiB or 512KiB")
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size (write e.g. 1MiB, 512KiB or a number of bytes)")
    size = int(Decimal(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def parse_host_port(value: str, *, any_port: bool = False) -> tuple[str, int]:
    """``host:port`` or ``[v6-address]:port`` -> (host, port). With ``any_port``, port 0 ("any free port") too."""
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{value!r}: write an IPv6 address as [::1]:443")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{value!r} is not host:port (e.g. db.example.com:5432)")
        if ":" in host:
            raise ValueError(f"{value!r}: write an IPv6 address in brackets, as [::1]:443")
    if any_port and port_text == "0":
        return host, 0
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), PlainSerializer(format_duration_ms)]


def _host_port_text(value: str) -> str:
    parse_host_port(value)
    return value


# A ``host:port`` setting kept as written (``smtp``, ``api.listen``); ``parse_host_port`` splits it where used.
HostPort = Annotated[str, AfterValidator(_host_port_text)]


def _between(low_ms: int, high_ms: int) -> AfterValidator:
    """Bound a duration setting to ``[low_ms, high_ms]``, refused with the bounds in duration form.

    Zero or absurd values were accepted and did harm: ``timeout: 0`` recorded a healthy target down,
    ``retry_interval: 0`` sent hundreds of requests a second to a failing target, ``heartbeat: 0`` spun a core.
    """

    def check(ms: int) -> int:
        if not low_ms <= ms <= high_ms:
            raise ValueError(f"{format_duration_ms(ms)} is outside {_in_days(low_ms)} to {_in_days(high_ms)}")
        return ms

    return AfterValidator(check)


def _in_days(ms: int) -> str:
    return f"{ms // DAY_MS}d" if ms >= DAY_MS and ms % DAY_MS == 0 else format_duration_ms(ms)


# The bounds of every duration setting (README, "Reference"); where one must be shorter than another (timeout <
# interval) that is checked across fields.
_D = BeforeValidator(parse_duration_ms)
_S = PlainSerializer(format_duration_ms)
Timeout = Annotated[int, _D, _between(100, 366 * DAY_MS), _S]
Interval = Annotated[int, _D, _between(1000, 366 * DAY_MS), _S]
Grace = Annotated[int, _D, _between(0, 366 * DAY_MS), _S]
Heartbeat = Annotated[int, _D, _between(1000, 60_000), _S]
Retention = Annotated[int, _D, _between(DAY_MS, 3650 * DAY_MS), _S]
StopTimeout = Annotated[int, _D, _between(0, 3_600_000), _S]
ControlCache = Annotated[int, _D, _between(0, 3_600_000), _S]
Percent = Annotated[Decimal, BeforeValidator(parse_percent), PlainSerializer(lambda d: f"{d}%")]
SizeBytes = Annotated[int, BeforeValidator(parse_size)]
