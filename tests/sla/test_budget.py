"""Error budget: allowed over the whole cycle, burn rate, projection."""

from __future__ import annotations

from fractions import Fraction

import pytest

from probe_agent.sla.budget import elapsed_fraction, error_budget
from probe_agent.sla.periods import Period

DAY = 86_400_000
CYCLE = Period(0, 30 * DAY, "30 days")
TARGET = Fraction(999, 1000)


def test_allowed_is_over_the_whole_cycle_minus_exclusions() -> None:
    assert error_budget(CYCLE, 0, TARGET, 0, 0).allowed_ms == 2_592_000  # 43.2 minutes
    assert error_budget(CYCLE, 3_600_000, TARGET, 0, 0).allowed_ms == 2_588_400


def test_burn_rate_one_projects_the_target_exactly() -> None:
    budget = error_budget(CYCLE, 0, TARGET, 1_296_000, 15 * DAY)
    assert budget.elapsed == Fraction(1, 2)
    assert budget.remaining_ms == 1_296_000
    assert budget.burn_rate == 1
    assert budget.projected_availability == TARGET
    assert not budget.exhausted


def test_blown_budget() -> None:
    budget = error_budget(CYCLE, 0, TARGET, 5_184_000, 6 * DAY)  # twice the allowance in a fifth of the cycle
    assert budget.remaining_ms == -2_592_000 and budget.exhausted
    assert budget.burn_rate == 10
    assert budget.projected_availability == Fraction(99, 100)  # 1 - 10 x 0.001


def test_projection_is_floored_at_zero() -> None:
    budget = error_budget(CYCLE, 0, TARGET, DAY, DAY // 100)
    assert budget.projected_availability == 0


def test_edges() -> None:
    assert elapsed_fraction(CYCLE, -5) == 0 and elapsed_fraction(CYCLE, 31 * DAY) == 1
    not_started = error_budget(CYCLE, 0, TARGET, 0, -1)
    assert not_started.burn_rate is None and not_started.projected_availability is None
    perfect = error_budget(CYCLE, 0, Fraction(1), 10, DAY)
    assert perfect.allowed_ms == 0 and perfect.burn_rate is None and perfect.remaining_ms == -10
    everything_excluded = error_budget(CYCLE, 30 * DAY, TARGET, 0, DAY)
    assert everything_excluded.burn_rate is None and everything_excluded.projected_availability is None
    with pytest.raises(ValueError):
        error_budget(CYCLE, 0, Fraction(999, 10), 0, 0)  # a percent, not a fraction
