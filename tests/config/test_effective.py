"""``config show``: the effective config (defaults filled in, presets expanded with the keys they gave marked,
secrets as their references and never their values); ``--raw`` the merged document as written."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from probe_agent.cli import main

SECRET = "s3cr3t-value-0123456789"


def show(path: Path, *args: str) -> str:
    result = CliRunner(env={"SHOP_TOKEN": SECRET, "PROBE_AGENT_CONFIG": None}).invoke(
        main, ["config", "show", "-c", str(path), *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "defaults: {interval: 30s, confirm: 2}\n"
        "endpoints:\n"
        '  - {id: web, http: {url: "https://shop.example/", headers: {Authorization: "Bearer ${SHOP_TOKEN}"}}}\n'
        '  - {id: api, tcp: "127.0.0.1:9", interval: 5m}\n'
        "services:\n  - {id: shop, endpoints: [web, api]}\n"
        "slas:\n"
        '  - {id: vendor, use: aws-ec2-region, services: [shop], credits: {fee: "10.00", currency: EUR}}\n'
    )
    return path


def test_defaults_filled_in_and_secrets_as_references(tmp_path: Path) -> None:
    doc = json.loads(show(config(tmp_path), "--format", "json"))
    web, api = doc["endpoints"]
    assert (web["interval"], web["confirm"], web["timeout"], web["retry_interval"]) == ("30s", 2, "10s", "5s")
    assert (api["interval"], api["confirm"]) == ("5m", 2)
    assert web["http"]["headers"] == {"Authorization": "Bearer ${SHOP_TOKEN}"}
    assert doc["agent"]["database"] == str(tmp_path / "probe-agent.db")  # resolved as the agent uses it
    assert SECRET not in json.dumps(doc)


def test_presets_expanded_and_their_keys_marked(tmp_path: Path) -> None:
    (sla,) = json.loads(show(config(tmp_path), "--format", "json"))["slas"]
    assert sla["use"] == "aws-ec2-region" and sla["target"] == "99.99%"
    assert sla["source"] == {"url": "aws.amazon.com/compute/sla", "version": "historical version dated 2022-05-05",
                             "verified": True}  # fmt: skip
    # what the SLA wrote itself (credits.fee, credits.currency, services) is not the preset's
    assert sla["preset_keys"] == [
        "counting", "credits.claim_window", "credits.minimum_payout", "credits.tiers", "no_data", "notes",
        "provider", "source", "target", "unknown",
    ]  # fmt: skip
    assert sla["credits"]["currency"] == "EUR"


def test_yaml_by_default_and_raw_as_written(tmp_path: Path) -> None:
    text = show(config(tmp_path))
    assert "Authorization: Bearer ${SHOP_TOKEN}" in text and SECRET not in text and "preset_keys:" in text
    raw = json.loads(show(config(tmp_path), "--raw", "--format", "json"))
    assert raw["slas"][0] == {"id": "vendor", "use": "aws-ec2-region", "services": ["shop"],
                              "credits": {"fee": "10.00", "currency": "EUR"}}  # fmt: skip
    assert "timeout" not in raw["endpoints"][0]
