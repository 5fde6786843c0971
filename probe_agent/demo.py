"""``make demo``: the whole story in about a minute, on loopback, with no internet.

1. Starts scripted HTTP targets on 127.0.0.1: one healthy, one that goes down for 20 s, one slow (degraded), one
   flapping (single failures: blips, never outages), and a loopback control.
2. Writes a config into ``demo-out/`` with a compressed one-minute billing cycle, and runs ``probe-agent run`` as a
   real subprocess for ~65 s, showing its live state changes; its HTTP API listens on a free loopback port.
3. While it still runs: prints ``status``, the SLA ``report`` and the ``credits`` owed, writes the HTML claim
   report, and asks the HTTP API (``/healthz``, the JSON API, ``/metrics``) what it says.
4. Stops it with SIGTERM (a clean stop) and says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probe_agent.demo_targets import Script, Targets

OUT = Path("demo-out")
CYCLE_S = 60
RUN_S = CYCLE_S + 5


def start_targets(script: Script) -> Targets:
    """Serve the targets from a background event loop; returns once they listen."""
    targets = Targets(script=script)
    ready = threading.Event()

    def serve() -> None:
        async def main() -> None:
            await targets.start()
            ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    threading.Thread(target=serve, name="demo-targets", daemon=True).start()
    if not ready.wait(10):
        raise SystemExit("demo: the loopback targets did not start")
    return targets


def free_port() -> int:
    """A loopback port nothing listens on now (the agent binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(targets: Targets, cycle_start: datetime, api_port: int) -> Path:
    cycle_end = cycle_start + timedelta(seconds=CYCLE_S)
    text = f"""\
        # Written by `make demo`: a compressed one-minute billing cycle against loopback targets.
        agent:
          id: demo-1
          database: probe-agent.db      # relative to this file's directory
          timezone: UTC
          heartbeat: 1s
        defaults:
          interval: 1s
          timeout: 800ms
          retry_interval: 1s
          confirm: 3
        controls:
          - {{id: loopback, tcp: "127.0.0.1:{targets.port}"}}
        endpoints:
          - {{id: shop-web, http: "{targets.url("healthy")}"}}
          - {{id: shop-api, http: "{targets.url("outage")}"}}
          - id: search
            http: "{targets.url("slow")}"
            degraded_after: 400ms
          - {{id: images, http: "{targets.url("flappy")}"}}
        services:
          - {{id: shop, endpoints: [shop-web, shop-api], rule: all}}
          - {{id: catalog, endpoints: [search, images], rule: all}}
        slas:
          - id: acme-gold
            customer: ACME Corp
            provider: Example Hosting
            services: [shop, catalog]
            target: 99.9%
            cycle: {{from: "{cycle_start.isoformat()}", to: "{cycle_end.isoformat()}"}}
            objectives:
              latency: {{percentile: 95, below: 800ms}}
              error_rate: {{below: 5%}}
            max_incident_duration: 15s
            credits:
              fee: "1200.00"
              currency: EUR
              tiers:
                - {{below: 99.9%, credit: 5%}}
                - {{below: 97%, credit: 10%}}
                - {{below: 95%, credit: 25%}}
              cap: 50%
              claim_window: 60d
        api:                      # the status page, JSON API, /metrics and /healthz (loopback: no token needed)
          listen: 127.0.0.1:{api_port}
          title: Demo shop status
          metrics: {{cache: 1s}}
    """
    path = OUT / "demo.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def cli(*args: str) -> None:
    print(f"\n$ probe-agent {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "probe_agent.cli", *args], check=False)


def main() -> int:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    targets = start_targets(Script(outage_from=15.0, outage_to=35.0, slow_s=0.5, flap_every=5))
    cycle_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    api = f"http://127.0.0.1:{free_port()}"
    config = write_config(targets, cycle_start, int(api.rsplit(":", 1)[1]))
    print(f"demo: targets on 127.0.0.1:{targets.port}; config {config}; one-minute cycle from {cycle_start:%H:%M:%S}Z")
    print("demo: shop-api answers 503 from 15 s to 35 s; search is slow; images fails every 5th request\n", flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    daemon = subprocess.Popen([sys.executable, "-m", "probe_agent.cli", "-v", "run", "-c", str(config)], env=env)
    try:
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.5)
        if daemon.poll() is not None:
            print(f"demo: the agent exited early with {daemon.returncode}", file=sys.stderr)
            return 1
        # The agent keeps running while we ask it: status shows it live, the API answers.
        print("\ndemo: the cycle is over; the agent is still running. What it says:", flush=True)
        cli("status", "-c", str(config))
        cli("report", "--sla", "acme-gold", "-c", str(config))
        cli("credits", "-c", str(config))
        html = OUT / "claim-report.html"
        cli("report", "--sla", "acme-gold", "-c", str(config), "--format", "html", "--output", str(html))
        ask_api(api)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
    if daemon.returncode not in (0, -signal.SIGTERM):
        print(f"demo: the agent exited with {daemon.returncode}", file=sys.stderr)
        return 1
    print("\ndemo: the agent was stopped on purpose (SIGTERM): a clean stop, its run closed")
    print(f"demo: the HTML claim report is at {html.resolve()}")
    print(
        f"demo: explore further with .venv/bin/probe-agent --help (config: {config}); `probe-agent serve -c "
        f"{config}` serves the status page again over the stored data"
    )
    return 0


def ask_api(api: str) -> None:
    """What the HTTP API answers while the agent runs: health, the status page's size, a few metrics."""
    print(f"\n$ curl {api}/healthz")
    print(fetch(f"{api}/healthz"))
    page = fetch(f"{api}/")
    print(f"\ndemo: the status page is at {api}/ ({len(page)} bytes of HTML); the JSON API at {api}/api/v1/status")
    metrics = fetch(f"{api}/metrics")
    shown = [line for line in metrics.splitlines() if line.startswith("probe_agent_sla_")][:6]
    if shown:
        print(f"\n$ curl {api}/metrics | grep probe_agent_sla_")
        print("\n".join(shown))


def fetch(url: str) -> str:
    """The body of a GET (an error status's body too); the error itself when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return str(answer.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())
    except OSError as exc:
        return f"(no answer: {exc})"


if __name__ == "__main__":
    sys.exit(main())
