"""The event loop ``run`` and ``serve`` choose (``PROBE_AGENT_LOOP``), and the daemon probing for real on uvloop."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.agent import eventloop
from probe_agent.agent.daemon import Daemon
from probe_agent.cli import main
from probe_agent.config import load_config
from probe_agent.model import Outcome
from tests.e2e.harness import StoreReader, wait_until, write_config
from tests.probes.servers import TlsMaterial, serve_app, target_app

try:
    import uvloop
except ImportError:  # the extra is not installed: the uvloop cases skip, the choice rules are still tested
    uvloop = None  # type: ignore[assignment]

needs_uvloop = pytest.mark.skipif(uvloop is None, reason="uvloop is not installed (pip install 'probe-agent[uvloop]')")


@needs_uvloop
@pytest.mark.parametrize("value", [None, "", "auto", " UVLOOP "])
def test_uvloop_is_chosen_when_installed_unless_refused(value: str | None) -> None:
    environ = {} if value is None else {"PROBE_AGENT_LOOP": value}
    factory, name = eventloop.choose(environ)
    assert name == "uvloop" and factory is not None
    assert eventloop.choose({"PROBE_AGENT_LOOP": "asyncio"}) == (None, "asyncio")


def test_without_uvloop_auto_is_asyncio_and_asking_for_it_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventloop, "_uvloop_factory", lambda: None)
    assert eventloop.choose({}) == (None, "asyncio")
    with pytest.raises(
        eventloop.LoopChoiceError, match=r"uvloop is not installed: pip install 'probe-agent\[uvloop\]'"
    ):
        eventloop.choose({"PROBE_AGENT_LOOP": "uvloop"})


def test_a_bad_value_is_refused_before_anything_runs() -> None:
    async def never() -> None:
        raise AssertionError("must not run")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be a RuntimeWarning
        with pytest.raises(eventloop.LoopChoiceError, match="PROBE_AGENT_LOOP='trio' is not one of auto, asyncio"):
            eventloop.run(never(), {"PROBE_AGENT_LOOP": "trio"})


def test_run_with_a_bad_loop_choice_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "probe-agent.yaml",
        {"agent": {"database": str(tmp_path / "a.db")}, "endpoints": [{"id": "web", "tcp": "127.0.0.1:9"}]},
    )
    result = CliRunner().invoke(main, ["run", "-c", str(config)], env={"PROBE_AGENT_LOOP": "trio"})
    assert result.exit_code == 2, result.output
    assert "PROBE_AGENT_LOOP='trio' is not one of auto, asyncio, uvloop" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "a.db").exists()  # refused before the daemon started


@needs_uvloop
@pytest.mark.slow
def test_the_daemon_probes_http_and_https_on_uvloop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Started as ``run`` starts it, on uvloop: real probes through the ProbeClient, the https one with its phases
    and peer certificate (read through the TLS context's hook, which uvloop's TLS must call as asyncio's does)."""
    db = tmp_path / "agent.db"
    tls_material = TlsMaterial(str(tmp_path))

    async def scenario() -> tuple[str, list[tuple[str, str, str, float | None]]]:
        loop_name = eventloop.describe(asyncio.get_running_loop())
        async with (
            serve_app(target_app()) as plain,
            serve_app(target_app(), tls_material.server_context("valid")) as tls,
        ):
            config = write_config(
                tmp_path / "probe-agent.yaml",
                {
                    "agent": {"id": "uv", "database": str(db), "heartbeat": "1s"},
                    "defaults": {"interval": "1s", "timeout": "900ms"},
                    "endpoints": [
                        {"id": "plain", "http": plain.url("/ok")},
                        {"id": "secure", "http": {"url": tls.url("/ok"), "ca_file": tls_material.ca_file}},
                    ],
                },
            )
            daemon = Daemon(load_config(config), handle_signals=False)
            running = asyncio.create_task(daemon.run())
            store = StoreReader(db)
            query = "SELECT endpoint, outcome, phases, tls_days_left FROM results WHERE endpoint = ? LIMIT 1"

            def first(ep: str) -> list[tuple[str, str, str, float | None]]:
                return [(r[0], r[1], r[2], r[3]) for r in store.rows(query, (ep,))]

            try:
                rows = [
                    await wait_until(lambda: first("plain"), timeout=20, what="a result of plain"),
                    await wait_until(lambda: first("secure"), timeout=20, what="a result of secure"),
                ]
            finally:
                daemon.request_stop()
                await running
        return loop_name, [row[0] for row in rows]

    with caplog.at_level(logging.INFO, logger="probe_agent.agent"):
        loop_name, rows = eventloop.run(scenario(), {"PROBE_AGENT_LOOP": "uvloop"})
    assert loop_name == "uvloop"
    assert any("uvloop event loop" in r.getMessage() for r in caplog.records)  # the start-up line says which
    (plain, outcome_p, phases_p, _), (secure, outcome_s, phases_s, days_left) = rows
    assert (plain, outcome_p, secure, outcome_s) == ("plain", Outcome.UP.value, "secure", Outcome.UP.value)
    assert '"connect"' in phases_p and '"tls"' not in phases_p
    assert '"tls"' in phases_s and days_left is not None and days_left > 300  # trustme's certificates: a year
