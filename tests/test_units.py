"""The one home of duration and percent spellings (probe_agent/units.py): every view and message uses these."""

from __future__ import annotations

import pytest

from probe_agent.units import dur, duration_text, pct


@pytest.mark.parametrize(
    ("ms", "largest", "text"),
    [
        (0, "d", "0s"),
        (90_000, "d", "1m30s"),
        (500, "d", "500ms"),
        (604_800_000, "d", "7d"),
        (604_800_000, "w", "1w"),
        (694_861_001, "w", "1w1d1h1m1s1ms"),
        (3_600_000, "h", "1h"),
    ],
)
def test_duration_text(ms: int, largest: str, text: str) -> None:
    assert duration_text(ms, largest=largest) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (12.043, "12.043s"), (245.5, "4m5.5s"), (3723, "1h02m03s"), (-61, "-1m1s")],
)
def test_dur(seconds: float | None, text: str) -> None:
    assert dur(seconds) == text


def test_pct() -> None:
    assert pct(99.95) == "99.9500%"
    assert pct(99.95, 3) == "99.950%"
    assert pct(None) == "n/a"
    assert pct(None, missing="-") == "-"


def test_duration_human_rounds_long_spans_to_the_second_and_says_so() -> None:
    from probe_agent.units import duration_human

    assert duration_human(59_825) == "59s825ms"  # under a minute: exact
    assert duration_human(60_000) == "1m"
    assert duration_human(2_579_962_220) == "~29d20h39m22s"
    assert duration_human(2_579_962_500) == "~29d20h39m23s"  # half-up
    assert duration_human(2_592_000_000) == "30d"
