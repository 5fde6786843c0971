"""The shipped unit file: notify type, watchdog, reload, directories, and a hardening score of 2.0 or better."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "probe-agent.service"


def unit_keys() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_unit_has_the_operational_settings() -> None:
    keys = unit_keys()
    assert keys["Type"] == ["notify"]
    assert "WatchdogSec" in keys and "ExecReload" in keys and "HUP" in keys["ExecReload"][0]
    assert keys["StateDirectory"] == ["probe-agent"] and keys["ConfigurationDirectory"] == ["probe-agent"]
    # no credential the README never creates: secrets from an optional environment file, credentials documented
    assert "LoadCredential" not in keys and keys["EnvironmentFile"] == ["-/etc/probe-agent/environment"]
    assert "#   LoadCredential=shop-token:/etc/probe-agent/credentials/shop-token" in UNIT.read_text()
    assert "DynamicUser" not in keys and keys["User"] == ["probe-agent"]
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())  # parses as an INI file: no stray syntax
    assert parser.has_section("Install")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_hardening_score_is_2_or_better() -> None:
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= 2.0
