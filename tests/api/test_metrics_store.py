"""``/metrics`` over a real store under ``probe-agent serve`` (no daemon): the SLA figures and counters against
hand-counted September figures, the cache, and the endpoints as ``status`` shows them.

The store (``metrics_fixtures.september``): one endpoint, up all September but for one hour down on Sep 10
12:00-13:00; three SLAs on it: gold (99.9 %, tiers 10 % below 99.9 %, 25 % below 99 %), silver (99.5 %, 5 % below
99.5 %), perfect (100 %, no credit terms). September has 30 days: 2,592,000 s.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from probe_agent.api.app import build_app
from probe_agent.api.metrics_store import SlaCounters, SlaFigures
from tests.api.metrics_fixtures import Clock, by_label, context, families, parse, september
from tests.months import utc

pytest_plugins = ["aiohttp"]


async def scrape(client: Any) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text: str = await resp.text()
    return text


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return september(tmp_path)


async def test_sla_figures_and_counters_follow_the_cycle(cfg: Path, aiohttp_client: Any) -> None:
    clock = Clock(utc(2026, 9, 10, 11))
    client = await aiohttp_client(build_app(context(cfg, clock)))

    # Sep 10 11:00: 9 d 11 h counted (817,200 s), nothing down. The counters start at 0 at the first read.
    first = parse(await scrape(client))
    gold = by_label(first, "sla", "gold")
    assert gold == {
        "probe_agent_sla_availability_ratio": 1.0,
        "probe_agent_sla_target_ratio": 0.999,
        "probe_agent_sla_error_budget_remaining_seconds": 2592.0,  # 0.1 % of 2,592,000 s
        "probe_agent_sla_error_budget_remaining_ratio": 1.0,
        "probe_agent_sla_coverage_ratio": 1.0,
        "probe_agent_sla_credit_percent": 0.0,
        "probe_agent_sla_counted_seconds_total": 0.0,
        "probe_agent_sla_counted_down_seconds_total": 0.0,
    }
    assert by_label(first, "sla", "silver")["probe_agent_sla_error_budget_remaining_seconds"] == 12960.0

    # 10 s later the figures are the cached ones (api.metrics.cache: 15 s): nothing moved.
    clock.now += timedelta(seconds=10)
    assert by_label(parse(await scrape(client)), "sla", "gold") == gold

    # Sep 10 14:00: 828,000 s counted, 3,600 of them down (12:00-13:00). The counters grew by 3 h and 1 h.
    clock.now = utc(2026, 9, 10, 14)
    after = parse(await scrape(client))
    gold = by_label(after, "sla", "gold")
    assert gold["probe_agent_sla_availability_ratio"] == pytest.approx(824_400 / 828_000, abs=1e-15)
    assert gold["probe_agent_sla_error_budget_remaining_seconds"] == 2592.0 - 3600.0
    assert gold["probe_agent_sla_error_budget_remaining_ratio"] == pytest.approx(-1008 / 2592, abs=1e-15)
    assert gold["probe_agent_sla_credit_percent"] == 10.0  # 99.565 % is below 99.9 %, not below 99 %
    assert gold["probe_agent_sla_counted_seconds_total"] == 10_800.0
    assert gold["probe_agent_sla_counted_down_seconds_total"] == 3_600.0
    silver = by_label(after, "sla", "silver")
    assert silver["probe_agent_sla_credit_percent"] == 0.0  # 99.565 % is not below 99.5 %
    assert silver["probe_agent_sla_error_budget_remaining_seconds"] == 12_960.0 - 3_600.0
    assert silver["probe_agent_sla_error_budget_remaining_ratio"] == pytest.approx(9_360 / 12_960, abs=1e-15)
    perfect = by_label(after, "sla", "perfect")
    assert perfect == {  # no budget to be a share of, no credit terms: 6 series
        "probe_agent_sla_availability_ratio": gold["probe_agent_sla_availability_ratio"],
        "probe_agent_sla_target_ratio": 1.0,
        "probe_agent_sla_error_budget_remaining_seconds": -3600.0,
        "probe_agent_sla_coverage_ratio": 1.0,
        "probe_agent_sla_counted_seconds_total": 10_800.0,
        "probe_agent_sla_counted_down_seconds_total": 3_600.0,
    }

    # Oct 1 01:00: a new cycle with 1 h counted; the counters add it (they never restart: true counters).
    clock.now = utc(2026, 10, 1, 1)
    october = by_label(parse(await scrape(client)), "sla", "gold")
    assert october["probe_agent_sla_availability_ratio"] == 1.0
    assert october["probe_agent_sla_error_budget_remaining_seconds"] == pytest.approx(2678.4)  # 0.1 % of 31 d
    assert october["probe_agent_sla_credit_percent"] == 0.0
    assert october["probe_agent_sla_counted_seconds_total"] == 14_400.0
    assert october["probe_agent_sla_counted_down_seconds_total"] == 3_600.0


async def test_a_cycle_without_data_has_its_target_counters_and_credit(cfg: Path, aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 8, 20)))))  # before the first result
    samples = parse(await scrape(client))
    assert by_label(samples, "sla", "gold") == {
        "probe_agent_sla_target_ratio": 0.999,  # exactly the Fraction 999/1000 as a float, not 99.9 / 100
        "probe_agent_sla_credit_percent": 0.0,  # nothing counted: no credit
        "probe_agent_sla_counted_seconds_total": 0.0,
        "probe_agent_sla_counted_down_seconds_total": 0.0,
    }
    assert len(by_label(samples, "sla", "perfect")) == 3


async def test_serve_shows_endpoints_as_status_does_and_no_agent_figures(cfg: Path, aiohttp_client: Any) -> None:
    # The last result (Oct 1 02:00, up, 42 ms) speaks until 03:00:10: before that, status shows its state.
    clock = Clock(utc(2026, 10, 1, 2, 30))
    client = await aiohttp_client(build_app(context(cfg, clock)))
    assert by_label(parse(await scrape(client)), "endpoint", "web") == {
        "probe_agent_endpoint_state": 1.0,
        "probe_agent_endpoint_up": 1.0,
        "probe_agent_endpoint_last_latency_seconds": 0.042,
    }
    # After it no daemon probes: status says no_data (code 0), and there is no verdict.
    clock.now = utc(2026, 10, 1, 4)
    body = await scrape(client)
    samples = parse(body)
    assert by_label(samples, "endpoint", "web") == {
        "probe_agent_endpoint_state": 0.0,
        "probe_agent_endpoint_last_latency_seconds": 0.042,
    }
    assert samples[("probe_agent_info", (("agent", "ams-1"), ("mode", "serve"), ("version", "0.1.0")))] == 1.0
    size = samples[("probe_agent_database_size_bytes", ())]
    assert size == (cfg.parent / "pa.db").stat().st_size
    names = set(families(body))
    assert not names & {"probe_agent_results", "probe_agent_healthy", "probe_agent_notification_backlog"}
    assert all(name.startswith("probe_agent_") for name in names)
    # Per SLA 8 series with credit terms and a target below 100 %, 6 without (perfect): 22 for the three (the
    # October cycle has 3 h of data).
    sla_samples = [k for k in samples if any(label == "sla" for label, _ in k[1])]
    assert len(sla_samples) == 8 + 8 + 6


async def test_an_unreadable_store_is_503_under_serve(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = september(tmp_path)
    (tmp_path / "pa.db").unlink()
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10)))))
    resp = await client.get("/metrics")
    assert resp.status == 503


def test_counters_never_go_down() -> None:
    """Growth of the cycle-so-far figures is added; a shrink (time taken out later) adds nothing and the next growth
    counts from the smaller figure; a new cycle adds its figures so far; a new SLA starts at 0."""
    counters = SlaCounters()

    def read(sla: str, cycle: str, counted_s: int, down_s: int) -> tuple[int, int]:
        counters.observe([SlaFigures(sla, cycle, 0.999, None, None, None, None, None, counted_s * 1000, down_s * 1000)])
        return counters.counted_ms[sla] // 1000, counters.down_ms[sla] // 1000

    assert read("gold", "2026-09", 1000, 10) == (0, 0)  # the first read is the baseline
    assert read("gold", "2026-09", 1060, 70) == (60, 60)  # an outage confirmed: its earlier down seconds too
    assert read("gold", "2026-09", 460, 0) == (60, 60)  # an exclusion over 600 s, the outage in it: nothing added
    assert read("gold", "2026-09", 520, 30) == (120, 90)  # growth from the smaller figures
    assert read("gold", "2026-10", 300, 0) == (420, 90)  # a new cycle: its 300 s so far
    assert read("silver", "2026-10", 300, 0) == (0, 0)
