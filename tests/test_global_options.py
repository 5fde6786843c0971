"""``-c``, ``--format``, ``-o`` and ``-v`` before the command or after it; ``python -m probe_agent``."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent import __version__
from probe_agent.cli import main
from probe_agent.store.schema import open_db


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./probe-agent.yaml here: only -c finds the config
    db = tmp_path / "a.db"
    open_db(db).close()
    path = tmp_path / "probe-agent-test.yaml"
    path.write_text(f'agent: {{id: g1, database: "{db}"}}\nendpoints:\n  - {{id: web, tcp: "127.0.0.1:9"}}\n')
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        ("-c", "{c}", "--format", "json", "status"),
        ("status", "-c", "{c}", "--format", "json"),
        ("--config", "{c}", "status", "--format", "json"),
        ("--format", "json", "status", "--config", "{c}"),
        ("--format", "table", "-c", "{c}", "status", "--format", "json"),  # after the command wins
    ],
)
def test_config_and_format_before_or_after_the_command(config: Path, args: tuple[str, ...]) -> None:
    code, out = run(*(a.format(c=config) for a in args))
    assert code == 0, out
    assert json.loads(out)["agent"] == "g1"


def test_output_before_the_command(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    code, _ = run("-o", str(target), "--format", "json", "-c", str(config), "status")
    assert code == 0 and json.loads(target.read_text())["agent"] == "g1"


def test_a_format_the_command_does_not_have_is_refused_by_name(config: Path) -> None:
    code, out = run("--format", "html", "-c", str(config), "status")
    assert code == 2
    assert "'html' is not a format of this command (table, json)" in out


def test_without_a_format_each_command_keeps_its_default(config: Path) -> None:
    code, out = run("-c", str(config), "status")
    assert code == 0 and out.startswith("agent g1:")


@pytest.mark.parametrize(
    ("args", "level"),
    [
        ((), logging.WARNING),
        (("-v",), logging.INFO),
        (("-vv",), logging.DEBUG),
        (("-v", "-v"), logging.DEBUG),
    ],
)
def test_verbose_after_the_command_adds_to_before(config: Path, args: tuple[str, ...], level: int) -> None:
    before, after = args[:1], args[1:]
    code, out = run(*before, "config", "validate", "-c", str(config), *after)
    assert code == 0, out
    assert logging.getLogger().level == level
    code, out = run("config", "validate", "-c", str(config), *args)  # all after
    assert code == 0 and logging.getLogger().level == level


def test_python_dash_m_probe_agent(config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "probe_agent", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"probe-agent, version {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "probe_agent", "-c", str(config), "status", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agent"] == "g1"


def test_shell_completion_as_the_readme_says() -> None:
    env = {"PATH": "/usr/bin:/bin", "_PROBE_AGENT_COMPLETE": "bash_complete", "COMP_WORDS": "probe-agent sta",
           "COMP_CWORD": "1"}  # fmt: skip
    done = subprocess.run(
        [str(Path(sys.executable).parent / "probe-agent")], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "plain,status" in done.stdout.splitlines()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert 'eval "$(_PROBE_AGENT_COMPLETE=bash_source probe-agent)"' in readme
