"""contrib/: the Prometheus alert rules and the Grafana dashboard, checked by promtool (Debian's ``prometheus``
package) and against what ``/metrics`` serves.

Without promtool these tests skip, except under CI (``CI`` set, as ``.ci/run`` does), where they fail: CI installs
it, so a missing promtool there is a broken CI, not a reason to pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe_agent.api.app import build_app
from tests.api.metrics_fixtures import Clock, context, live_view, parse, september
from tests.months import utc

pytest_plugins = ["aiohttp"]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "contrib" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "contrib" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "probe-agent.json"
# Grafana's variables, replaced by what a query with every value selected would hold, so promtool can parse them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$sla": ".*", "$endpoint": ".*"}
# A series name in PromQL: an identifier before a label matcher or a range (functions are followed by "(").
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
OURS = re.compile(r"\bprobe_agent_[a-zA-Z0-9_]+")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing: apt-get install --no-install-recommends prometheus"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: .ci/run installs it)")
        pytest.skip(message)
    return found


def run(*args: str | Path, cwd: Path | None = None) -> str:
    out = subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: its panels' targets, and the series its variables list labels of
    (``label_values(SERIES, label)``), with Grafana's variables replaced."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        m = re.fullmatch(r"label_values\((.*), *\w+\)", var.get("query", "") if var["type"] == "query" else "")
        if m:
            exprs.append(m.group(1))
    out = []
    for expr in exprs:
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
        out.append(expr)
    return out


def alert_queries() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool() -> None:
    assert "SUCCESS: 12 rules found" in run("check", "rules", ALERTS)


def test_alert_rules_fire_and_resolve_as_the_readme_says() -> None:
    """alerts_test.yml: the README's 99.9 % example (1 h pair at T+1 min, 6 h pair at T+3 min, resolved at T+15 and
    T+40 min), no burn rate for a 100 % target, endpoint down, agent unhealthy after 5 minutes."""
    assert "SUCCESS" in run("test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)


def test_every_dashboard_query_passes_promtool(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 30
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:q{i}", "expr": q}
                                                          for i, q in enumerate(queries)]}]}  # fmt: skip
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    assert f"SUCCESS: {len(queries)} rules found" in run("check", "rules", path)


@pytest.fixture
async def served(tmp_path: Path, aiohttp_client: Any) -> set[str]:
    """Every sample name a scrape can hold: the daemon's view with every figure present, per-endpoint series on,
    three SLAs with data (September, one hour down)."""
    cfg = september(tmp_path)
    cfg.write_text(cfg.read_text() + "api: {metrics: {per_endpoint: true}}\n")
    client = await aiohttp_client(build_app(context(cfg, Clock(utc(2026, 9, 10, 14)), live_view(2))))
    resp = await client.get("/metrics")
    assert resp.status == 200
    return {name for name, _ in parse(await resp.text())}


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_use_only_metrics_that_metrics_serves(source: str, served: set[str]) -> None:
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    used = {name for q in queries for name in OURS.findall(q)}
    used |= {name for q in queries for name in SELECTOR.findall(q)}
    used -= {"up"} if source == "alerts" else set()  # Prometheus' own: whether the scrape worked
    assert used, "no metric found in the queries"
    assert used <= served, f"not served by /metrics: {sorted(used - served)}"
