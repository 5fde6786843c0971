"""README's "Running under systemd", followed literally in a temporary root (issue 13, item 14), as far as systemd
allows there: the commands of its shell block run with every absolute path moved under the root (the venv and pip
install, ``systemd-sysusers`` and ``systemctl`` are skipped: they need the real system; ``-o``/``-g`` owners too,
as the probe-agent group does not exist here). Then: the installed config is valid on its own with the installed
environment file, its database is in the state directory, and ``systemd-analyze verify`` passes on the installed
unit with the installed paths."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from probe_agent.config import load_config
from probe_agent.config.loader import database_base

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("python3 -m venv", "/opt/probe-agent/bin/pip", "systemd-sysusers", "systemctl")


def readme_steps() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running under systemd") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def translate(command: str, root: Path) -> list[str] | None:
    """One command of the block as argv under ``root`` (None: skipped). ``sudo`` and owners are dropped."""
    argv = [a for a in shlex.split(command) if a != "sudo"]
    if any(skip in " ".join(argv) for skip in SKIPPED):
        return None
    out: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if argv[0] == "ln" and i == len(argv) - 2:
            out.append(arg)  # a symlink's target is resolved inside the root, as on the real system
            continue
        if skip_next:
            skip_next = False
            continue
        if argv[0] == "install" and arg in ("-o", "-g"):
            skip_next = True
            continue
        if arg.startswith("/") and arg != "/dev/stdin":
            arg = str(root) + arg
        elif argv[0] == "sed" and arg.startswith("s|"):
            pass  # the expression names the path as the config will hold it (the real one), not the root's
        out.append(arg)
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    # What the skipped steps would have made: the venv's entry point (a stand-in here; test_containerfile.py
    # installs the package for real), and the directories a Debian system has.
    entry = root / "opt/probe-agent/bin/probe-agent"
    entry.parent.mkdir(parents=True)
    entry.write_text("#!/bin/sh\nexit 0\n")
    entry.chmod(0o755)
    for d in ("usr/local/bin", "usr/lib/sysusers.d", "etc/systemd/system", "bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for line in readme_steps():
        for command in line.split("&&"):
            stdin = None
            if "|" in command and command.strip().startswith("echo"):
                echo, _, command = command.partition("| ")
                stdin = shlex.split(echo)[1] + "\n"
            argv = translate(command.strip(), root)
            if argv is None:
                continue
            done = subprocess.run(argv, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, f"{command}: {done.stderr}"
    return root


def test_the_config_is_valid_on_its_own_with_the_installed_environment(installed: Path) -> None:
    env_file = installed / "etc/probe-agent/environment"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#"))
    assert set(env) == {"SHOP_TOKEN"}
    config_path = installed / "etc/probe-agent/config.yaml"
    assert not (installed / "etc/probe-agent/fleet").exists()  # the include is optional
    loaded = load_config(config_path, env={**env, "STATE_DIRECTORY": "/var/lib/probe-agent"})
    assert loaded.config.agent.database == "/var/lib/probe-agent/probe-agent.db"
    # the same path from an operator's shell (no $STATE_DIRECTORY): status reads the daemon's database
    assert load_config(config_path, env=env).config.agent.database == "/var/lib/probe-agent/probe-agent.db"
    assert loaded.config.api is not None and loaded.config.api.host_port == ("127.0.0.1", 9472)
    assert database_base(config_path, {"STATE_DIRECTORY": "/var/lib/probe-agent"}) == Path("/var/lib/probe-agent")


def test_the_unit_references_only_what_was_installed(installed: Path) -> None:
    unit = (installed / "etc/systemd/system/probe-agent.service").read_text()
    live = [line for line in unit.splitlines() if line and not line.startswith("#")]
    assert not any(line.startswith(("LoadCredential=", "Documentation=")) for line in live)
    exec_start = next(line for line in live if line.startswith("ExecStart="))
    binary = installed / exec_start.split("=", 1)[1].split()[0].lstrip("/")
    assert binary.is_symlink() and (installed / os.readlink(binary).lstrip("/")).is_file()  # resolved in the root
    env_file = next(line for line in live if line.startswith("EnvironmentFile=")).split("=", 1)[1].lstrip("-")
    assert (installed / env_file.lstrip("/")).is_file()
    assert (installed / "usr/lib/sysusers.d/probe-agent.conf").is_file()
    assert os.readlink(installed / "usr/local/bin/probe-agent").endswith("/opt/probe-agent/bin/probe-agent")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not Path("/lib/systemd/system").is_dir(),
    reason="systemd is not installed (.ci/run installs it)",
)
def test_systemd_analyze_verify_with_the_installed_paths(installed: Path) -> None:
    # The root borrows the host's unit directory (for sysinit.target and friends) and /bin/kill (ExecReload).
    (installed / "usr/lib/systemd").mkdir(parents=True, exist_ok=True)
    if not (installed / "usr/lib/systemd/system").exists():
        (installed / "usr/lib/systemd/system").symlink_to("/lib/systemd/system")
    if not (installed / "bin/kill").exists():
        shutil.copy("/bin/kill", installed / "bin/kill")
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={installed}", str(installed / "etc/systemd/system/probe-agent.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
