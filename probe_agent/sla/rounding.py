"""Exact figures rounded and written for people: half-up rounding, money, percents, durations.

Pure. Rounding is always half-up (halves away from zero) and always from the exact ``Fraction``, never from an
already rounded figure: money is rounded once, and every percent a report shows (``availability_percent`` in the
JSON, the availability in a credit's steps) goes through ``display_percent``, so two views never disagree in the
last digit.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

PERCENT_PLACES = 10  # how percents that are not terminating decimals (multiplier model) are shown
DISPLAY_PLACES = 6  # availability as reports show it (JSON `availability_percent`, credit steps)


def round_half_up(value: Fraction, places: int) -> int:
    """``value x 10**places`` rounded to an integer, halves away from zero."""
    scaled = value * Fraction(10) ** places
    magnitude = math.floor(abs(scaled) + Fraction(1, 2))
    return magnitude if scaled >= 0 else -magnitude


def money(value: Fraction, places: int) -> Decimal:
    """An amount rounded half-up to ``places`` decimals, always written with that many (60 -> 60.00)."""
    return Decimal(round_half_up(value, places)).scaleb(-places)


def tidy(value: Decimal) -> Decimal:
    """A percent without trailing zeros and without an exponent: 10.00 -> 10, 99.90 -> 99.9."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if exponent(normal) > 0 else normal


def exponent(value: Decimal) -> int:
    """The Decimal's exponent (-2 for 1.25)."""
    exp = value.as_tuple().exponent
    if not isinstance(exp, int):  # 'n', 'N', 'F': NaN and infinity never reach here
        raise ValueError(f"not a finite number: {value}")
    return exp


def tidy_fraction(value: Fraction) -> Decimal:
    """A percent as a Decimal for display: exact if it is a terminating decimal, else rounded half-up to 10
    places (never computed with: amounts come from the fraction)."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    places = max(twos, fives) if den == 1 else PERCENT_PLACES
    return tidy(Decimal(round_half_up(value, places)).scaleb(-places))


def pct(value: Decimal) -> str:
    return f"{value}%"


def exact_pct(value: Fraction) -> str:
    """A percent that is computed with: the decimal when it terminates, else the rounded decimal and the fraction."""
    shown = tidy_fraction(value)
    if Fraction(shown) == value:
        return f"{shown}%"
    return f"~{shown}% (exactly {value.numerator}/{value.denominator} %)"


def show_fraction(value: Fraction) -> str:
    """An exact amount before rounding: its decimal when it has at most 10 places, else the fraction."""
    shown = tidy_fraction(value)
    return str(shown) if Fraction(shown) == value else f"{value.numerator}/{value.denominator}"


def display_percent(value: Fraction, places: int = DISPLAY_PLACES) -> Decimal:
    """A percent (``value`` already in percent) rounded half-up to ``places`` decimals, from the exact fraction.

    The one display rounding of percents: the report's ``availability_percent`` and the credit steps' availability
    both use it, so they never disagree in the last digit (99.9542485 % shows as 99.954249 in both).
    """
    return Decimal(round_half_up(value, places)).scaleb(-places)


def approx_percent(value: Fraction) -> str:
    """A percent for a human where the exact fraction is shown elsewhere (the credit's availability step): exact
    when it has at most 6 decimals, else ``~`` and the value rounded half-up to 6 decimals."""
    exact = tidy_fraction(value)
    if Fraction(exact) == value and -exponent(exact) <= DISPLAY_PLACES:
        return f"{exact}%"
    return f"~{display_percent(value)}%"


def show_fraction_percent(value: Fraction) -> str:
    """A percent for a human: exact when it has at most 6 decimals, else ``~``, the value rounded half-up to 6
    decimals (as ``availability_percent`` shows it) and the exact fraction, which is what is compared."""
    exact = tidy_fraction(value)
    if Fraction(exact) == value and -exponent(exact) <= DISPLAY_PLACES:
        return f"{exact}%"
    return f"~{display_percent(value)}% (exactly {value.numerator}/{value.denominator} %)"
