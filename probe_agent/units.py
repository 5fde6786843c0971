"""How durations and percents are spelled for people: the one home of these formatters.

Numbers in the JSON document stay numbers (seconds as floats rounded to the millisecond, percents rounded half-up
from exact fractions by ``sla.rounding.display_percent``); this module only turns them into text. Stdlib only, so
the config, the SLA core's explanation steps and every view can share it.

Two duration spellings exist on purpose, and both live here:

- ``duration_text(ms)``: the exact compact form, ``2d3h4m5s`` (``ms`` appended when needed), used where the value is
  a setting or an input of the contract's arithmetic (config messages, credit steps, claim windows).
- ``dur(s)``: the report form, ``1h02m03s`` / ``4m5.5s`` / ``12.043s``, hours as the largest unit, used by
  the tables, Markdown and HTML views.
"""

from __future__ import annotations

_UNITS_MS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def duration_text(ms: int, *, largest: str = "d") -> str:
    """The shortest exact spelling of ``ms`` milliseconds (>= 0) with units from ``largest`` down to ``ms``:
    ``90_000`` -> ``1m30s``, ``0`` -> ``0s``, ``604_800_000`` -> ``7d`` (``1w`` with ``largest="w"``)."""
    if ms == 0:
        return "0s"
    units = _UNITS_MS[[u for u, _ in _UNITS_MS].index(largest) :]
    out = []
    rest = ms
    for unit, size in units:
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def duration_human(ms: int) -> str:
    """``duration_text`` for a person reading a long span: exact below a minute (``59s825ms``), to the second from a
    minute on, ``~`` marking a rounded value (``~29d20h19m22s``, not ``29d20h19m22s220ms``)."""
    if ms < 60_000:
        return duration_text(ms)
    whole = (ms + 500) // 1000 * 1000
    return ("" if whole == ms else "~") + duration_text(whole)


def dur(value_s: float | None) -> str:
    """Seconds as ``1h02m03s``, ``4m5.5s``, ``12.043s`` or ``0s`` (milliseconds kept when present, negative values
    signed); ``None`` (not known) -> ``-``."""
    if value_s is None:
        return "-"
    sign = "-" if value_s < 0 else ""
    ms = round(abs(value_s) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    sec = f"{s}.{frac:03d}".rstrip("0") if frac else str(s)
    if h:
        return f"{sign}{h}h{m:02d}m{sec.zfill(2) if not frac else sec}s"
    if m:
        return f"{sign}{m}m{sec}s"
    return f"{sign}{sec}s"


def pct(value: float | None, places: int = 4, missing: str = "n/a") -> str:
    """A percent number (already in percent, e.g. the document's ``availability_percent``) as ``99.9500%`` with
    ``places`` decimals; ``None`` (nothing counted) -> ``missing``."""
    return missing if value is None else f"{value:.{places}f}%"
