"""The pure parts of the scale bench (bench/scale_math.py) compute what they claim. Nothing here is timed: the
timestamps are made-up numbers, the search is fed verdicts, the projection is arithmetic."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    """A bench module by path (bench/ is scripts, not a package); cached in sys.modules under a private name."""
    key = f"_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


sm = load("scale_math")


def test_spacing_of_an_exact_grid_is_zero() -> None:
    stamps = {"a": [10.0, 12.0, 14.0, 16.0], "b": [11.0, 13.0, 15.0]}
    s = sm.spacing(stamps, 2.0)
    assert (s.gaps, s.p50_ms, s.p99_ms, s.max_ms, s.skipped_slots) == (5, 0.0, 0.0, 0.0, 0)


def test_a_late_probe_counts_twice_and_order_does_not_matter() -> None:
    # 14.3 instead of 14.0: the gap before it is 300 ms long, the one after 300 ms short.
    s = sm.spacing({"a": [16.0, 10.0, 14.3, 12.0]}, 2.0)
    assert s.gaps == 3
    assert s.max_ms == pytest.approx(300)
    assert s.p50_ms == pytest.approx(300)  # nearest rank: the 2nd of [0, 300, 300]
    assert s.skipped_slots == 0


def test_a_skipped_slot_is_an_error_of_one_interval_and_is_counted() -> None:
    s = sm.spacing({"a": [0.0, 5.0, 15.0, 20.0, 40.0]}, 5.0)
    assert s.max_ms == pytest.approx(15_000)  # 20 s gap at 5 s: three slots missing
    assert s.skipped_slots == 1 + 3


def test_p99_is_nearest_rank_over_every_gap() -> None:
    # 100 endpoints with 2 probes each: 99 exact gaps and one 400 ms late.
    stamps = {f"e{i}": [0.0, 1.0] for i in range(99)} | {"late": [0.0, 1.4]}
    s = sm.spacing(stamps, 1.0)
    assert s.gaps == 100
    assert s.p99_ms == pytest.approx(0.0)  # the 99th of 100 sorted errors
    assert s.max_ms == pytest.approx(400)
    stamps["late2"] = [0.0, 1.3]
    assert sm.spacing(stamps, 1.0).p99_ms == pytest.approx(300)  # 101 gaps: rank ceil(99.99) = 100


def test_no_gaps_gives_nan_not_zero() -> None:
    s = sm.spacing({"a": [1.0], "b": []}, 2.0)
    assert s.gaps == 0 and math.isnan(s.p99_ms) and math.isnan(s.max_ms)
    with pytest.raises(ValueError):
        sm.spacing({}, 0.0)


def run_search(search, ceiling: float) -> list[float]:
    """Feed a search the verdicts of a machine that sustains exactly ``ceiling``; the rates it tried."""
    tried = []
    while (rate := search.next_rate()) is not None:
        tried.append(rate)
        search.record(rate, rate <= ceiling)
    return tried


def test_search_grows_then_bisects_within_its_steps() -> None:
    search = sm.RateSearch(1000, max_steps=4, growth=1.5)
    tried = run_search(search, ceiling=1700)
    assert tried == [1000, 1500, 2250, 1875]  # pass, pass, fail, fail
    assert search.best == 1500 and search.lowest_failure == 1875


def test_search_shrinks_when_the_start_fails() -> None:
    search = sm.RateSearch(1000, max_steps=3, growth=2)
    assert run_search(search, ceiling=300) == [1000, 500, 250]
    assert search.best == 250


def test_search_stops_once_the_bracket_is_narrow() -> None:
    search = sm.RateSearch(1000, max_steps=20, growth=1.5, resolution=0.05)
    tried = run_search(search, ceiling=1234)
    assert len(tried) < 20
    assert search.best is not None and search.lowest_failure is not None
    assert search.best <= 1234 < search.lowest_failure
    assert search.lowest_failure - search.best <= 0.05 * search.best


def test_search_reports_none_when_nothing_passes() -> None:
    search = sm.RateSearch(100, max_steps=2)
    run_search(search, ceiling=1)
    assert search.best is None


def test_cpu_per_probe() -> None:
    assert sm.cpu_ms_per_probe(1.5, 1000) == pytest.approx(1.5)
    assert math.isnan(sm.cpu_ms_per_probe(1.0, 0))


def test_projection_with_one_process_does_not_grow_with_cores() -> None:
    # workers 1: all the CPU is the main process's, one core's worth at most.
    assert sm.project_rate(16, 0.8, 0.8, 0.9) == pytest.approx(0.9 * 1000 / 0.8)
    assert sm.project_rate(16, 0.8, 0.8, 0.9) == sm.project_rate(2, 0.8, 0.8, 0.9)


def test_projection_is_capped_by_the_main_process() -> None:
    # 1.0 ms per probe in all, 0.25 ms of it in the main process: cores x 1000 / 1.0 until 1000 / 0.25 = 4,000.
    assert sm.project_rate(2, 1.0, 0.25, 1.0) == pytest.approx(2000)
    assert sm.project_rate(16, 1.0, 0.25, 1.0) == pytest.approx(4000)
    with pytest.raises(ValueError):
        sm.project_rate(16, 1.0, 0.25, 1.5)
