"""``/healthz`` inside the daemon (its live reasons) and under ``probe-agent serve`` (the database readable), the
daemon's server following its config across reloads, and ``serve`` as a process: its refusals, SIGHUP, SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from probe_agent.agent.daemon import Daemon, DaemonError
from probe_agent.model import ErrorKind, Outcome
from tests.agent.daemon_harness import ScriptedProber, in_process
from tests.e2e.harness import agent_config, closed_port, wall_ms, write_config

DOWN = (Outcome.DOWN, ErrorKind.CONNECT_REFUSED)
TOKEN = "health-token-0123456789abcdef"


def config(tmp_path: Path, **api: Any) -> dict[str, Any]:
    doc = agent_config(
        tmp_path / "probe-agent.db",
        [{"id": "web", "tcp": f"127.0.0.1:{closed_port()}"}],
        controls=[{"id": "c1", "tcp": f"127.0.0.1:{closed_port()}"}],
        defaults={"confirm": 1},
    )
    doc["api"] = api
    return doc


def listen_on_any_port(daemon: Daemon) -> None:
    daemon.api_listen = ("127.0.0.1", 0)


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, await answer.json()


@pytest.mark.slow
async def test_healthz_names_what_is_wrong_while_it_is(tmp_path: Path) -> None:
    prober = ScriptedProber()
    async with in_process(tmp_path, config(tmp_path), prober, before_run=listen_on_any_port) as run:
        assert run.daemon.api is not None and run.daemon.api.server is not None
        url = run.daemon.api.server.url + "/healthz"
        status, body = await get(url)
        assert (status, body["status"], body["mode"], body["agent"], body["problems"]) == (
            200,
            "ok",
            "daemon",
            "t1",
            [],
        )
        # The target and every control fail: the agent's own network. The next heartbeat opens the episode.
        prober.answers.update(web=DOWN, c1=DOWN)
        status, body = 0, {}
        deadline = asyncio.get_running_loop().time() + 20
        while status != 503:
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.1)
            status, body = await get(url)
        assert body["status"] == "unhealthy"
        assert len(body["problems"]) == 1
        assert re.fullmatch(
            r"controls failing since \S+Z: 0/1 controls up \(c1: connect_refused\)", body["problems"][0]
        )
        prober.answers["c1"] = (Outcome.UP, None)  # a control passes again: healthy at the next beat
        while status != 200:
            assert asyncio.get_running_loop().time() < deadline + 20, body
            await asyncio.sleep(0.1)
            status, body = await get(url)
        assert body["problems"] == []


@pytest.mark.slow
async def test_the_server_follows_the_config_across_reloads(tmp_path: Path) -> None:
    doc = config(tmp_path)
    async with in_process(tmp_path, doc, before_run=listen_on_any_port) as run:
        assert run.daemon.api is not None and run.daemon.api.server is not None
        url = run.daemon.api.server.url + "/healthz"
        assert (await get(url))[0] == 200
        run.write({**doc, "api": {"tokens": [{"token": "${HEALTH_TOKEN}", "owner": "ops"}]}})
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HEALTH_TOKEN", TOKEN)
            assert await run.daemon.reload()
        assert (await get(url))[0] == 401  # tokens apply at once, on the same listener
        assert (await get(url, {"Authorization": f"Bearer {TOKEN}"}))[0] == 200
        without = {k: v for k, v in doc.items() if k != "api"}
        run.write(without)
        assert await run.daemon.reload()
        assert run.daemon.api.server is None
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(url)


async def test_a_taken_port_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        def on_taken_port(daemon: Daemon) -> None:
            daemon.api_listen = ("127.0.0.1", port)

        with pytest.raises(DaemonError, match=rf"^api\.listen: cannot listen on 127\.0\.0\.1:{port}: "):
            async with in_process(tmp_path, config(tmp_path), before_run=on_taken_port):
                pass  # pragma: no cover - the start fails
    # the run it began was closed cleanly and the lock released: the next start works
    async with in_process(tmp_path, config(tmp_path), before_run=listen_on_any_port) as run:
        assert run.daemon.run_id == 2


# -- probe-agent serve, as a process --------------------------------------------------------------------------


async def serve(config_path: Path, *args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "probe_agent.cli", "serve", "-c", str(config_path), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip


async def listening_url(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line, "serve exited before listening"
        if found := re.search(r"HTTP API listening on (\S+)", line):
            return "http://" + found.group(1)


@pytest.mark.slow
async def test_serve_reads_an_existing_database_reloads_and_stops(tmp_path: Path) -> None:
    doc = config(tmp_path)
    path = write_config(tmp_path / "probe-agent.yaml", doc)
    async with in_process(tmp_path, doc):  # a daemon run makes the database
        pass
    proc = await serve(path, "--listen", "127.0.0.1:0", env={"HEALTH_TOKEN": TOKEN})
    try:
        url = await listening_url(proc) + "/healthz"
        status, body = await get(url)
        assert (status, body["mode"], body["problems"]) == (200, "serve", [])
        write_config(path, {**doc, "api": {"tokens": [{"token": "${HEALTH_TOKEN}", "owner": "ops"}]}})
        proc.send_signal(signal.SIGHUP)
        deadline = wall_ms() + 20_000
        while status != 401:
            assert wall_ms() < deadline
            await asyncio.sleep(0.05)
            status, _ = await get(url)
        # a missing database after start: 503 naming it, never a 500
        (tmp_path / "probe-agent.db").rename(tmp_path / "moved.db")
        status, body = await get(url, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 503 and body["problems"][0].startswith("store not readable: ")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--listen", "0.0.0.0:9472"), "--listen: listening on 0.0.0.0:9472 without any token"),
        (("--listen", "nowhere"), "--listen: 'nowhere' is not host:port"),
    ],
)
async def test_serve_refuses_an_open_listen_and_a_bad_one(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    path = write_config(tmp_path / "probe-agent.yaml", config(tmp_path))
    proc = await serve(path, *args)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert message in err.decode() and "Traceback" not in err.decode()


async def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    path = write_config(tmp_path / "probe-agent.yaml", config(tmp_path))
    proc = await serve(path, "--listen", "127.0.0.1:0")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"no database at {tmp_path / 'probe-agent.db'} yet" in err.decode()
    assert not (tmp_path / "probe-agent.db").exists()  # nothing created
