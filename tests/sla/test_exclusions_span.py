"""The bounds of a recorded exclusion (``sla.exclusions.check_exclusion_span``), which ``exclusions add`` applies."""

from __future__ import annotations

import pytest

from probe_agent.model import DAY_MS
from probe_agent.sla.exclusions import MAX_EXCLUSION_MS, YEAR_9000_MS, check_exclusion_span


def test_a_366_day_exclusion_is_the_longest() -> None:
    check_exclusion_span(0, MAX_EXCLUSION_MS)
    with pytest.raises(ValueError, match=r"at most 366 days \(this one lasts 366\.0 days\)"):
        check_exclusion_span(0, MAX_EXCLUSION_MS + 1)
    with pytest.raises(ValueError, match=r"this one lasts 400\.0 days"):
        check_exclusion_span(DAY_MS, 401 * DAY_MS)


@pytest.mark.parametrize(("start", "end"), [(-1, 10), (YEAR_9000_MS - 10, YEAR_9000_MS)])
def test_outside_1970_to_9000_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="between 1970 and 9000"):
        check_exclusion_span(start, end)
