"""``/metrics`` inside the daemon, on a ``LiveView`` holding known figures over the September store: the exact
series count per endpoint and per SLA, the per-endpoint counters and histogram, the agent's figures, and that the
scrape needs a token when tokens are configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probe_agent.api.app import build_app
from tests.api.metrics_fixtures import Clock, N, by_label, context, families, live_view, parse, september
from tests.months import utc

pytest_plugins = ["aiohttp"]


def with_api(cfg: Path, api: str) -> Path:
    cfg.write_text(cfg.read_text() + f"api: {api}\n")
    return cfg


async def scrape(client: Any, headers: dict[str, str] | None = None) -> str:
    resp = await client.get("/metrics", headers=headers or {})
    assert resp.status == 200, await resp.text()
    text: str = await resp.text()
    return text


def endpoint_series(samples: dict[Any, float]) -> int:
    return sum(1 for key in samples if any(label == "endpoint" for label, _ in key[1]))


async def test_series_count_per_endpoint_and_per_sla(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = september(tmp_path)
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10, 14)), live_view())))
    samples = parse(await scrape(client))
    # 4 per endpoint (state, up, last latency, cert days), 8 per SLA (6 for `perfect`: 100 %, no credit terms).
    assert endpoint_series(samples) == 4 * N
    assert by_label(samples, "endpoint", "ep-3") == {
        "probe_agent_endpoint_state": 1.0,
        "probe_agent_endpoint_up": 1.0,
        "probe_agent_endpoint_last_latency_seconds": 0.25,
        "probe_agent_endpoint_cert_days_left": 30.5,
    }
    assert [len(by_label(samples, "sla", s)) for s in ("gold", "silver", "perfect")] == [8, 8, 6]
    # Everything else is the agent's: 1 info, 2 results_total (one per outcome and error kind seen), 13 figures,
    # and when the SLA figures were read.
    rest = [k for k in samples if not any(label in ("endpoint", "sla") for label, _ in k[1])]
    assert len(rest) == 17, sorted(rest)
    assert len(samples) == 4 * N + 22 + 17


async def test_per_endpoint_counters_and_histogram(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = with_api(september(tmp_path), "{metrics: {per_endpoint: true}}")
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10, 14)), live_view())))
    body = await scrape(client)
    samples = parse(body)
    assert endpoint_series(samples) == 22 * N  # 4 gauges + 4 outcomes + 11 buckets, +Inf, sum, count
    assert families(body)["probe_agent_endpoint_probe_duration_seconds"] == "histogram"
    ep = by_label(samples, "endpoint", "ep-0")
    assert {k: v for k, v in ep.items() if k.startswith("probe_agent_endpoint_results")} == {
        "probe_agent_endpoint_results_total{outcome=up}": 5.0,
        "probe_agent_endpoint_results_total{outcome=degraded}": 0.0,
        "probe_agent_endpoint_results_total{outcome=down}": 1.0,
        "probe_agent_endpoint_results_total{outcome=unknown}": 0.0,
    }
    # Cumulative: 2 at or below 5 ms, 3 at or below 0.5 s, 4 at or below 10 s, all 5 at +Inf.
    bucket = "probe_agent_endpoint_probe_duration_seconds_bucket{le=%s}"
    assert [ep[bucket % le] for le in ("0.005", "0.25", "0.5", "5.0", "10.0", "+Inf")] == [2, 2, 3, 3, 4, 5]
    assert ep["probe_agent_endpoint_probe_duration_seconds_count"] == 5.0
    assert ep["probe_agent_endpoint_probe_duration_seconds_sum"] == pytest.approx(27.308)


async def test_agent_figures(tmp_path: Path, aiohttp_client: Any) -> None:
    cfg = september(tmp_path)
    live = live_view(1)
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10, 14)), live)))
    samples = parse(await scrape(client))
    assert samples[("probe_agent_results_total", (("error_kind", "none"), ("outcome", "up")))] == 30
    assert samples[("probe_agent_results_total", (("error_kind", "connect_refused"), ("outcome", "down")))] == 5
    plain = {name: v for (name, labels), v in samples.items() if not labels}
    assert plain == {
        "probe_agent_healthy": 1.0,
        "probe_agent_schedule_lateness_p99_seconds": 0.012,
        "probe_agent_schedule_lateness_max_seconds": 0.5,
        "probe_agent_schedule_skipped_slots_total": 4.0,
        "probe_agent_schedule_shed_slots_total": 3.0,
        "probe_agent_probes_in_flight": 3.0,
        "probe_agent_probe_queue_depth": 2.0,
        "probe_agent_store_queue_depth": 1.0,
        "probe_agent_database_size_bytes": 12345.0,
        "probe_agent_notification_failures_total": 6.0,
        "probe_agent_store_last_commit_timestamp_seconds": 1_790_000_000.5,
        "probe_agent_store_last_commit_duration_seconds": 0.002,
        "probe_agent_notification_backlog": 0.0,  # nothing in this store's outbox
        "probe_agent_sla_figures_timestamp_seconds": utc(2026, 9, 10, 14).timestamp(),
    }
    live.problem_list = ["scheduler lagging since ..."]
    assert parse(await scrape(client))[("probe_agent_healthy", ())] == 0.0


async def test_metrics_needs_a_token_when_tokens_are_configured(
    tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPE_TOKEN", "s3cret-scrape-token-0123456789")
    cfg = with_api(september(tmp_path), "{tokens: [{token: '${SCRAPE_TOKEN}', owner: prometheus}]}")
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10, 14)), live_view(1))))
    assert (await client.get("/metrics")).status == 401
    bad = await client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789abcdef"})
    assert bad.status == 401
    await scrape(client, {"Authorization": "Bearer s3cret-scrape-token-0123456789"})
