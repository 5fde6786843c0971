"""A relative ``agent.database`` is relative to the config file's directory (under systemd, ``$STATE_DIRECTORY``),
so every working directory reads the same database; a database left where earlier versions looked (relative to the
working directory) is not silently replaced by a new one: the config is refused naming both paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config import ConfigError, load_config
from probe_agent.store.schema import open_db


def write(directory: Path, database: str | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "probe-agent.yaml"
    agent = "agent: {id: p1}\n" if database is None else f'agent: {{id: p1, database: "{database}"}}\n'
    path.write_text(agent + 'endpoints:\n  - {id: web, tcp: "127.0.0.1:9"}\n')
    return path


@pytest.mark.parametrize(("written", "expected"), [(None, "probe-agent.db"), ("data/x.db", "data/x.db")])
def test_relative_to_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str | None, expected: str
) -> None:
    path = write(tmp_path / "etc", written)
    monkeypatch.chdir(tmp_path)
    assert load_config(path, env={}).config.agent.database == str(tmp_path / "etc" / expected)
    monkeypatch.chdir("/")
    assert load_config(Path("..") / tmp_path / "etc" / "probe-agent.yaml", env={}).config.agent.database == str(
        tmp_path / "etc" / expected
    )


def test_under_systemd_relative_to_the_state_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", None)
    env = {"STATE_DIRECTORY": f"{tmp_path / 'state'}:{tmp_path / 'other'}"}
    assert load_config(path, env=env).config.agent.database == str(tmp_path / "state" / "probe-agent.db")


def test_absolute_paths_stay(tmp_path: Path) -> None:
    path = write(tmp_path / "etc", str(tmp_path / "db" / "a.db"))
    assert load_config(path, env={"STATE_DIRECTORY": "/nowhere"}).config.agent.database == str(tmp_path / "db/a.db")


def test_the_stored_snapshot_keeps_what_was_written(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "etc", "x.db"), env={})
    assert loaded.raw["agent"]["database"] == "x.db"


def test_a_database_where_earlier_versions_looked_refuses_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "etc", "probe-agent.db")
    work = tmp_path / "work"
    work.mkdir()
    open_db(work / "probe-agent.db").close()
    monkeypatch.chdir(work)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    (problem,) = info.value.problems
    assert problem.path == "agent.database" and problem.mark is not None and problem.mark.line == 1
    assert str(tmp_path / "etc" / "probe-agent.db") in problem.message
    assert str(work / "probe-agent.db") in problem.message
    assert problem.hint == (
        f"move {work / 'probe-agent.db'} to {tmp_path / 'etc' / 'probe-agent.db'}, or write the absolute path in "
        "agent.database"
    )
    # Once the database is where the rule says, both existing is no conflict: the rule's one is used.
    open_db(tmp_path / "etc" / "probe-agent.db").close()
    assert load_config(path, env={}).config.agent.database == str(tmp_path / "etc" / "probe-agent.db")


def test_every_working_directory_reads_the_same_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "etc", "probe-agent.db")
    open_db(tmp_path / "etc" / "probe-agent.db").close()
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    for cwd in (tmp_path, tmp_path / "etc", Path("/")):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(main, ["status", "-c", str(path), "--format", "json"])
        assert result.exit_code == 0, result.output
    assert not (tmp_path / "probe-agent.db").exists()


def test_the_refusal_exits_2_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "etc", "probe-agent.db")
    open_db(tmp_path / "probe-agent.db").close()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status", "-c", str(path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'etc' / 'probe-agent.db'}, which does not exist" in result.output
    assert "Traceback" not in result.output
