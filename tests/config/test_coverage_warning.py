"""``agent.coverage_warning`` sets the coverage warning of every SLA that does not set its own (issue 13, item 1);
the built-in default stays 90 %, so the inputs hash of an SLA that sets neither does not change."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from probe_agent.config import load_config

SLAS = """
slas:
  - {id: a, endpoints: [web], target: 99.9%, cycle: {period: monthly, anchor_day: 1, timezone: UTC}}
  - {id: b, endpoints: [web], target: 99.9%, coverage_warning: 50%, cycle: {period: monthly, anchor_day: 1,
     timezone: UTC}}
"""


def load(tmp_path: Path, agent: str) -> dict[str, Decimal]:
    path = tmp_path / "c.yaml"
    path.write_text(f'agent: {agent}\nendpoints:\n  - {{id: web, tcp: "127.0.0.1:9"}}\n' + SLAS)
    return {s.id: s.coverage_warning for s in load_config(path, env={}).config.slas}


def test_the_agent_sets_it_for_every_sla_without_its_own(tmp_path: Path) -> None:
    assert load(tmp_path, "{id: x}") == {"a": Decimal("90"), "b": Decimal("50")}
    assert load(tmp_path, "{id: x, coverage_warning: 99.5%}") == {"a": Decimal("99.5"), "b": Decimal("50")}
