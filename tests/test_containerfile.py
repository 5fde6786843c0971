"""The Containerfile, checked statically (no registry is reachable here, so the image is not built): every COPY
source exists, the image does not run as root, its HEALTHCHECK asks the /healthz the shipped config serves, the
shipped config and the compose file are valid; and its install commands run in a fresh virtual environment from
exactly the files it copies."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from probe_agent.config import load_config
from probe_agent.config.api_schema import is_loopback

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_every_copy_source_exists() -> None:
    copies = [shlex.split(args) for word, args in instructions() if word == "COPY"]
    assert copies
    for args in copies:
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_it_runs_as_a_user_that_is_not_root() -> None:
    users = [args for word, args in instructions() if word == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    run = " ".join(args for word, args in instructions() if word == "RUN")
    assert "useradd --system --uid 10001 --user-group --home-dir /var/lib/probe-agent" in run
    assert users[-1] == "probe-agent"


def test_the_healthcheck_asks_the_shipped_configs_healthz() -> None:
    (check,) = [args for word, args in instructions() if word == "HEALTHCHECK"]
    url = re.search(r"'(http://[^']+)'", check)
    assert url is not None
    parts = urlsplit(url.group(1))
    shipped = ROOT / next(shlex.split(a)[0] for w, a in instructions() if w == "COPY" and a.endswith("config.yaml"))
    api = load_config(shipped, env={"STATE_DIRECTORY": "/var/lib/probe-agent"}).config.api
    assert api is not None
    assert (parts.hostname, parts.port, parts.path) == (*api.host_port, "/healthz")
    assert is_loopback(api.host_port[0])  # no token needed inside the container, none exposed outside it


def test_the_shipped_config_keeps_its_database_in_the_volume() -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for w, a in instructions() if w == "ENV")))
    assert env["STATE_DIRECTORY"] == "/var/lib/probe-agent"
    volumes = [a for w, a in instructions() if w == "VOLUME"]
    assert volumes == [env["STATE_DIRECTORY"]]
    config = load_config(ROOT / "contrib/container/config.yaml", env={"STATE_DIRECTORY": env["STATE_DIRECTORY"]})
    assert config.config.agent.database == "/var/lib/probe-agent/probe-agent.db"
    assert env["PROBE_AGENT_CONFIG"] == "/etc/probe-agent/config.yaml"


def test_the_compose_file_builds_this_containerfile() -> None:
    compose = yaml.safe_load((ROOT / "contrib/container/compose.yaml").read_text())
    service = compose["services"]["probe-agent"]
    context = (ROOT / "contrib/container" / service["build"]["context"]).resolve()
    assert context == ROOT and (context / service["build"]["dockerfile"]) == CONTAINERFILE
    assert "state:/var/lib/probe-agent" in service["volumes"] and "state" in compose["volumes"]


@pytest.mark.slow
def test_its_install_commands_work_in_a_fresh_venv_from_what_it_copies(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for word, args in instructions():
        if word == "COPY" and args.split()[-1].startswith("/src"):
            *sources, dest = shlex.split(args)
            for source in sources:
                target = src / Path(dest).relative_to("/src") if not dest.endswith("/") else src / Path(source).name
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, target)
    (run,) = [a for w, a in instructions() if w == "RUN" and "pip install" in a]
    venv = tmp_path / "venv"
    commands = run.replace("/opt/probe-agent", str(venv)).replace("/src", str(src)).split("&&")
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert not src.exists()  # the Containerfile's own clean-up ran
    done = subprocess.run([str(venv / "bin" / "probe-agent"), "--version"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("probe-agent, version ")
    presets = venv.glob("lib/python*/site-packages/probe_agent/contracts/aws-ec2-region.yaml")
    assert list(presets), "the contract presets are installed with the package"
