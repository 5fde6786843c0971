"""``check --nagios`` by the monitoring-plugin convention (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one line;
perfdata after ``|``) against real loopback targets, and ``check``'s table fitting a terminal, its TLS days as the
probe's own warning counts them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.model import ErrorKind, Outcome, ProbeResult
from probe_agent.render.check import plugin_line, results_table
from tests.e2e.harness import closed_port


@pytest.fixture(scope="module")
def target() -> Iterator[int]:
    """A loopback HTTP server in its own thread: ``/ok`` answers at once, ``/slow`` after 300 ms."""
    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.AbstractEventLoop] = []

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(text="slow")

    def serve() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/ok", ok)
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port.append(runner.addresses[0][1])
        stop.append(loop)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield port[0]
    stop[0].call_soon_threadsafe(stop[0].stop)
    thread.join(10)


def config(tmp_path: Path, port: int, endpoints: str, control_up: bool = True) -> Path:
    control = port if control_up else closed_port()
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        f'agent: {{database: "{tmp_path / "db"}", per_host_limit: 16}}\n'
        f'defaults: {{timeout: 2s}}\ncontrols:\n  - {{id: c1, tcp: "127.0.0.1:{control}"}}\nendpoints:\n{endpoints}'
    )
    return path


def nagios(path: Path, *ids: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--nagios", "-c", str(path), *ids])
    return result.exit_code, result.output


def test_ok(tmp_path: Path, target: int) -> None:
    code, out = nagios(config(tmp_path, target, f"  - {{id: web, http: http://127.0.0.1:{target}/ok}}\n"))
    assert code == 0
    line = out.rstrip("\n")
    assert "\n" not in line
    assert line.startswith("PROBE-AGENT OK - 1 up | 'web'=0.")
    assert line.endswith("s;;;0")


def test_warning_for_degraded(tmp_path: Path, target: int) -> None:
    eps = (f"  - {{id: web, http: http://127.0.0.1:{target}/ok}}\n"
           f"  - {{id: slow, http: http://127.0.0.1:{target}/slow, degraded_after: 100ms}}\n")  # fmt: skip
    code, out = nagios(config(tmp_path, target, eps))
    assert code == 1
    assert out.startswith("PROBE-AGENT WARNING - 1 up, 1 degraded (slow: ")


def test_critical_for_down_naming_it(tmp_path: Path, target: int) -> None:
    eps = (f"  - {{id: web, http: http://127.0.0.1:{target}/ok}}\n"
           f"  - {{id: gone, tcp: \"127.0.0.1:{closed_port()}\"}}\n")  # fmt: skip
    code, out = nagios(config(tmp_path, target, eps))
    assert code == 2
    assert out.startswith("PROBE-AGENT CRITICAL - 1 up, 1 down (gone: connect_refused ")


def test_unknown_when_the_controls_fail_too(tmp_path: Path, target: int) -> None:
    eps = f'  - {{id: gone, tcp: "127.0.0.1:{closed_port()}"}}\n'
    code, out = nagios(config(tmp_path, target, eps, control_up=False))
    assert code == 3
    assert out.startswith("PROBE-AGENT UNKNOWN - 1 unknown (gone: ")


def test_unknown_for_bad_config_and_unknown_ids(tmp_path: Path, target: int) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoints:\n  - {id: web, http: ftp://x/}\n  - {id: w2, tcp: nowhere}\n")
    code, out = nagios(bad)
    assert code == 3
    assert out.startswith(f"PROBE-AGENT UNKNOWN - invalid configuration: {bad}:2:")
    assert out.rstrip().endswith("(and 1 more)") and out.count("\n") == 1
    code, out = nagios(config(tmp_path, target, f"  - {{id: web, http: http://127.0.0.1:{target}/ok}}\n"), "nope")
    assert code == 3
    assert out == "PROBE-AGENT UNKNOWN - unknown endpoint id(s): nope (configured: web, c1)\n"


def result(endpoint: str, outcome: Outcome, **kw: object) -> ProbeResult:
    return ProbeResult(1_800_000_000_000, "a", endpoint, outcome, **kw)  # type: ignore[arg-type]


def test_perfdata_and_one_line_whatever_the_detail() -> None:
    results = [
        result("web", Outcome.UP, latency_ms=12.5, tls_days_left=29.9),
        result("api|x", Outcome.DOWN, error_kind=ErrorKind.HTTP_STATUS, detail="HTTP 503\nline two | pipe"),
    ]
    code, line = plugin_line(results)
    assert code == 2
    assert line == (
        "PROBE-AGENT CRITICAL - 1 up, 1 down (api|x: http_status HTTP 503 line two / pipe) | "
        "'web'=0.012500s;;;0 'web tls days'=29;;;0"
    )


def test_the_table_fits_the_terminal_and_tls_days_agree_with_the_warning() -> None:
    detail = "certificate expires in 29 days; " + "x" * 200
    results = [result("web", Outcome.DEGRADED, latency_ms=5.0, status_code=200, tls_days_left=29.9, detail=detail)]
    table = results_table(results, width=80)
    assert all(len(line) <= 80 for line in table.splitlines())
    row = table.splitlines()[2]
    assert row.endswith("…") and "certificate expires in 29" in row
    assert row.split()[6] == "29"  # the column floors, as the warning does (29.9 days: 29 whole days left)
    assert detail in results_table(results)  # not a terminal: whole
