"""For the ``/metrics`` tests: a September in a real store (hourly results of one endpoint, one hour down), a
fake ``LiveView`` holding what a test says, and a scrape parsed by prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from probe_agent.api.context import AgentLive, ApiContext, EndpointLive, LiveView
from probe_agent.config import load_config
from probe_agent.model import dt_to_ms
from tests.months import every, import_rows, rows_for, utc, write_config

# One endpoint `web` (interval 1 h, confirm 1): up every hour from Sep 1 00:00 to Oct 1 02:00, down at
# Sep 10 12:00, up again at 13:00: exactly one hour down, and every instant of September measured.
OUTAGE = (utc(2026, 9, 10, 12), utc(2026, 9, 10, 13))
SLAS = """
- id: gold
  services: [shop]
  target: 99.9%
  cycle: {period: monthly, anchor_day: 1, timezone: UTC}
  credits: {fee: "100.00", currency: EUR, tiers: [{below: 99.9%, credit: 10%}, {below: 99%, credit: 25%}]}
- id: silver
  services: [shop]
  target: 99.5%
  cycle: {period: monthly, anchor_day: 1, timezone: UTC}
  credits: {fee: "50.00", currency: EUR, tiers: [{below: 99.5%, credit: 5%}]}
- id: perfect
  services: [shop]
  target: 100%
  cycle: {period: monthly, anchor_day: 1, timezone: UTC}
"""

Sample = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)


def september(tmp_path: Path) -> Path:
    """The config (beside its database ``pa.db``) with September imported."""
    cfg = write_config(tmp_path, SLAS)
    ups = every(utc(2026, 9, 1), utc(2026, 10, 1, 3), timedelta(hours=1))
    import_rows(tmp_path, cfg, rows_for(ups, [(OUTAGE[0], "down"), (OUTAGE[1], "up")]))
    return cfg


@dataclass
class Clock:
    """``ApiContext.now_ms`` that a test moves."""

    now: datetime

    def __call__(self) -> int:
        return dt_to_ms(self.now)


@dataclass
class FakeLive:
    """A ``LiveView`` that returns what the test put in it."""

    endpoint_list: list[EndpointLive] = field(default_factory=list)
    agent_figures: AgentLive = field(default_factory=AgentLive)
    problem_list: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return list(self.problem_list)

    def endpoints(self) -> list[EndpointLive]:
        return list(self.endpoint_list)

    def agent(self) -> AgentLive:
        return self.agent_figures


N = 7  # endpoints in ``live_view()`` (the config's own endpoint does not matter to the live series)


def endpoint(i: int) -> EndpointLive:
    """Endpoint ``i``: up, 0.25 s, a certificate 30.5 days from expiry; results 5 up, 1 down, latencies 0.004 s
    (x2), 0.3 s, 7 s and 20 s (the +Inf bucket)."""
    return EndpointLive(
        endpoint=f"ep-{i}",
        phase="up",
        up=1,
        latency_s=0.25,
        cert_days_left=30.5,
        last_ts_ms=0,
        results={"up": 5, "degraded": 0, "down": 1, "unknown": 0},
        latency_counts=(2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1),
        latency_sum_s=0.008 + 0.3 + 7 + 20,
    )


def live_view(n: int = N) -> FakeLive:
    return FakeLive(
        endpoint_list=[endpoint(i) for i in range(n)],
        agent_figures=AgentLive(
            schedule_lateness_p99_s=0.012,
            schedule_lateness_max_s=0.5,
            probes_in_flight=3,
            probe_queue_depth=2,
            skipped_slots=4,
            shed_slots=3,
            writer_queue_depth=1,
            last_commit_s=0.002,
            last_commit_at_s=1_790_000_000.5,
            database_bytes=12345,
            notification_failures=6,
            results={("up", "none"): 30, ("down", "connect_refused"): 5},
        ),
    )


def context(cfg: Path, now: Callable[[], int], live: LiveView | None = None) -> ApiContext:
    loaded = load_config(cfg)
    return ApiContext(lambda: loaded.config, Path(loaded.config.agent.database), now, live, loaded.config.agent.id)


def parse(body: str) -> dict[Sample, float]:
    """Every sample of a scrape, by (name, labels); the parser is prometheus-client's (it fails on bad text)."""
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"sample twice: {key}"
            out[key] = s.value
    return out


def families(body: str) -> dict[str, str]:
    """Family name -> its type (counter, gauge, histogram)."""
    return {f.name: f.type for f in text_string_to_metric_families(body)}


def by_label(samples: dict[Sample, float], label: str, value: str) -> dict[str, float]:
    """The samples carrying ``label=value``, by sample name and their other labels (``name{k=v,...}``)."""
    out: dict[str, float] = {}
    for (name, labels), v in samples.items():
        if (label, value) in labels:
            other = ",".join(f"{k}={v}" for k, v in labels if k != label)
            out[f"{name}{{{other}}}" if other else name] = v
    return out
