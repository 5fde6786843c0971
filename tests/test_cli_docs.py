"""The CLI documents itself: every command has help, appears in README.md, and `check` keeps its deadline."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from aiohttp import web
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.logs import RedactingFormatter

ROOT = Path(__file__).resolve().parents[1]


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        out.append((full, cmd))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, full + " ")
    return out


@pytest.mark.parametrize(("name", "command"), all_commands(main))
def test_every_command_has_help_and_is_in_the_readme(name: str, command: click.Command) -> None:
    assert command.help and len(command.help.strip()) > 20, f"{name} has no help text"
    result = CliRunner().invoke(main, [*name.split(), "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert f"probe-agent {name.split()[0]}" in (ROOT / "README.md").read_text(), f"{name} is not in README.md"


def test_secrets_are_redacted_from_logs() -> None:
    formatter = RedactingFormatter("%(message)s", secrets=["s3cr3t-token", "abc"], journald=True)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Authorization: Bearer s3cr3t-token abc", None, None)
    assert formatter.format(record) == "<3>Authorization: Bearer *** abc"  # too-short values are not redacted


@pytest.mark.slow
async def test_check_against_a_sleeping_target_is_read_timeout_ending_at_its_deadline(tmp_path: Path) -> None:
    asked: list[float] = []

    async def sleepy(request: web.Request) -> web.Response:
        asked.append(time.monotonic())
        await asyncio.sleep(8)  # far longer than the 2 s timeout
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", sleepy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        f"endpoints:\n  - id: sleepy\n    http: http://127.0.0.1:{port}/\n    timeout: 2s\n    interval: 10s\n"
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "probe_agent.cli", "check", "-c", str(cfg), "--format", "json",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        command_s = time.monotonic() - asked[0]
        probe_s = json.loads(out)[0]["latency_ms"] / 1000
    finally:
        await runner.cleanup()
    assert proc.returncode == 1, err
    (result,) = json.loads(out)
    assert (result["outcome"], result["error_kind"]) == ("down", "read_timeout")
    assert 2.0 <= probe_s < 3.0  # the probe itself: its timeout is a hard deadline
    # From the request reaching the target to the command's exit: the command ends at the probe's deadline, not
    # when the target answers (8 s). Not a timing window on the deadline itself ("timeout + 1 s" read 3.02 s on a
    # loaded machine): the margin is the 6 s between the deadline and the answer. Interpreter start-up is left out.
    assert command_s < 7.5
