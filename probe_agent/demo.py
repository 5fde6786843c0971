"""``make demo``: the whole story in about a minute, on loopback, with no internet.

1. Starts scripted HTTP targets on 127.0.0.1: one healthy, one that goes down for 20 s, one slow (degraded), one
   flapping (single failures: blips, never outages), and a loopback control.
2. Writes a config into ``demo-out/`` with a compressed one-minute billing cycle, and runs ``probe-agent run`` as a
   real subprocess for ~65 s, showing its live state changes.
3. Stops it with SIGTERM (a clean stop), then prints ``status``, the SLA ``report`` and the ``credits`` owed, and
   writes the HTML claim report, printing its path.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
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


def write_config(targets: Targets, cycle_start: datetime) -> Path:
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
    config = write_config(targets, cycle_start)
    print(f"demo: targets on 127.0.0.1:{targets.port}; config {config}; one-minute cycle from {cycle_start:%H:%M:%S}Z")
    print("demo: shop-api answers 503 from 15 s to 35 s; search is slow; images fails every 5th request\n", flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    daemon = subprocess.Popen([sys.executable, "-m", "probe_agent.cli", "-v", "run", "-c", str(config)], env=env)
    try:
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.5)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
    if daemon.returncode not in (0, -signal.SIGTERM):
        print(f"demo: the agent exited with {daemon.returncode}", file=sys.stderr)
        return 1
    cli("status", "-c", str(config))
    cli("report", "--sla", "acme-gold", "-c", str(config))
    cli("credits", "-c", str(config))
    html = OUT / "claim-report.html"
    cli("report", "--sla", "acme-gold", "-c", str(config), "--format", "html", "--output", str(html))
    print(f"\ndemo: the HTML claim report is at {html.resolve()}")
    print(f"demo: explore further with .venv/bin/probe-agent --help (config: {config})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
