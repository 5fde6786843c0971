"""``vantage: {quorum: k}`` counts agents, whose number the config cannot know: a k larger than the agents that
have data for the endpoint is read as all of them (down only when every one of them sees it down).

Two agents watch one endpoint over a 100 s cycle from T0 = 2026-11-02T00:00:00Z. Agent a sees it down for
[0 s, 50 s), agent b for [20 s, 70 s); both see it up otherwise. Hand count: with quorum 1, down whenever either
agent sees it down, [0 s, 70 s): 70 s down, availability 30/100. With quorum 2 (both agents), down only over
[20 s, 50 s): 30 s, availability 70/100; quorum 3 and 5 (more than the two agents) give the same as quorum 2.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from probe_agent.config import load_config
from probe_agent.model import State, StateInterval
from probe_agent.reports.build import build_report
from probe_agent.sla.periods import explicit_period
from probe_agent.store import records
from probe_agent.store.schema import open_db

T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
S = 1000


def span(agent: str, start_s: int, end_s: int, state: State) -> StateInterval:
    down = state is State.DOWN
    return StateInterval(
        agent, "web", T0 + start_s * S, T0 + end_s * S, state,
        "connect_refused" if down else None, T0 + start_s * S if down else None,
    )  # fmt: skip


@pytest.mark.parametrize(("k", "down_s", "exact"), [(1, 70, "3/10"), (2, 30, "7/10"), (3, 30, "7/10"), (5, 30, "7/10")])
def test_a_vantage_quorum_above_the_agents_is_all_of_them(tmp_path: Path, k: int, down_s: int, exact: str) -> None:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: a, database: {tmp_path / "pa.db"}, timezone: UTC}}
            endpoints:
              - {{id: web, tcp: "127.0.0.1:9"}}
            services:
              - {{id: shop, endpoints: [web], vantage: {{quorum: {k}}}}}
            slas:
              - id: gold
                services: [shop]
                target: 99%
                cycle: {{from: "2026-11-02T00:00:00Z", to: "2026-11-02T00:01:40Z"}}
            """
        )
    )
    config = load_config(path).config
    conn = open_db(config.agent.database)
    try:
        records.import_batch(
            conn,
            intervals=[
                span("a", 0, 50, State.DOWN),
                span("a", 50, 100, State.UP),
                span("b", 0, 20, State.UP),
                span("b", 20, 70, State.DOWN),
                span("b", 70, 100, State.UP),
            ],
            now_ms=T0,
        )
        doc = build_report(conn, config, config.sla("gold"), explicit_period(T0, T0 + 100 * S), T0 + 86_400 * S).doc
    finally:
        conn.close()
    assert (doc["seconds"]["down"], doc["seconds"]["up"]) == (down_s, 100 - down_s)
    assert doc["availability_exact"] == exact
