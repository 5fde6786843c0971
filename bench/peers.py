"""What the agent is compared with, against the same nginx: blackbox_exporter's maximum and a bare aiohttp loop's.

- **blackbox_exporter** (Debian's ``/usr/bin/prometheus-blackbox-exporter``, Go) with its own config, one
  ``http_2xx`` module, on a free loopback port. It probes only on request (``/probe?target=...&module=http_2xx``,
  one fresh HTTP client per probe), so its ceiling can only be measured by asking: a load generator (an aiohttp
  client in its own process, keep-alive connections to the exporter) asks at rising concurrency, and the best rate
  of probes that said ``probe_success 1`` is its maximum. The generator's CPU is reported beside it: on 2 cores it
  competes with the exporter and nginx, so the ceiling is the exporter's under that load, the only way it runs.
- **bare aiohttp loop**: one asyncio loop in its own process doing GET on a fresh connection each time (one
  ``ClientSession``, a ``force_close`` connector) at a fixed concurrency, as fast as it can: no scheduling, no
  fold, no store. The Python ceiling the agent's probe path is measured against.

Each run is a spawned process (a clean interpreter) that measures its own window and reads the CPU of the
processes it drives (exporter, nginx) from /proc over the same window.

    .venv/bin/python bench/peers.py        # both, against a throwaway nginx
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from nginx_target import free_port
from proctree import tree_cpu

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
BLACKBOX_HINT = "apt-get install prometheus-blackbox-exporter   # Debian/Ubuntu"
_BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
"""


def blackbox_binary() -> str | None:
    return BLACKBOX if Path(BLACKBOX).is_file() else shutil.which("prometheus-blackbox-exporter")


@dataclass(frozen=True)
class DriveFigures:
    """One load run: ``ok`` answers in ``window_s``, CPU % of one core of the generator and of each driven tree."""

    concurrency: int
    ok: int
    errors: int
    window_s: float
    generator_cpu_pct: float
    driven_cpu_pct: dict[str, float]  # label -> % of one core over the window (process tree)

    @property
    def rate(self) -> float:
        return self.ok / self.window_s


async def _drive(
    urls: list[str], concurrency: int, seconds: float, warmup_s: float, fresh: bool, must: str
) -> tuple[int, int, float]:
    """GET ``urls`` round-robin from ``concurrency`` tasks; counts answers (200 holding ``must``) after a warm-up."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=fresh)
    timeout = aiohttp.ClientTimeout(total=10)
    counts = [0, 0]  # ok, errors
    measuring = False
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = time.monotonic() + warmup_s + seconds

        async def client(offset: int) -> None:
            i = offset
            while time.monotonic() < stop_at:
                url = urls[i % len(urls)]
                i += concurrency
                try:
                    async with session.get(url) as answer:
                        body = await answer.text()
                        good = answer.status == 200 and must in body
                except (aiohttp.ClientError, TimeoutError):
                    good = False
                if measuring:
                    counts[0 if good else 1] += 1

        tasks = [asyncio.create_task(client(k)) for k in range(concurrency)]
        await asyncio.sleep(warmup_s)
        measuring = True
        started = time.monotonic()
        await asyncio.gather(*tasks)
        window = time.monotonic() - started
    return counts[0], counts[1], window


def _generator(
    out: multiprocessing.connection.Connection,
    urls: list[str],
    concurrency: int,
    seconds: float,
    warmup_s: float,
    fresh: bool,
    must: str,
    driven: dict[str, int],
) -> None:
    """The spawned process: drive, then send back (ok, errors, window, own CPU s, {label: CPU s})."""

    async def measured() -> tuple[int, int, float, float, dict[str, float]]:
        task = asyncio.create_task(_drive(urls, concurrency, seconds, warmup_s, fresh, must))
        await asyncio.sleep(warmup_s)
        cpu0 = time.process_time()
        trees0 = {label: tree_cpu(pid).total for label, pid in driven.items()}
        ok, errors, window = await task
        cpu = time.process_time() - cpu0
        trees = {label: tree_cpu(pid).total - trees0[label] for label, pid in driven.items()}
        return ok, errors, window, cpu, trees

    out.send(asyncio.run(measured()))
    out.close()


def drive(
    urls: list[str],
    *,
    concurrency: int,
    seconds: float,
    warmup_s: float = 1.0,
    fresh: bool,
    must: str = "",
    driven: dict[str, int] | None = None,
) -> DriveFigures:
    """Run one load generator process to the end and return its figures."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    args = (sender, urls, concurrency, seconds, warmup_s, fresh, must, driven or {})
    process = ctx.Process(target=_generator, args=args, daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds + warmup_s + 60):
            raise RuntimeError("the load generator did not finish")
        ok, errors, window, cpu, trees = receiver.recv()
    finally:
        receiver.close()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
    return DriveFigures(
        concurrency=concurrency,
        ok=ok,
        errors=errors,
        window_s=window,
        generator_cpu_pct=100 * cpu / window,
        driven_cpu_pct={label: 100 * s / window for label, s in trees.items()},
    )


class BlackboxExporter:
    """blackbox_exporter with its own config in a temp dir, on a free loopback port; a context manager."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or blackbox_binary()
        if found is None:
            raise FileNotFoundError(f"blackbox_exporter is not installed; {BLACKBOX_HINT}")
        self.binary = found
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BlackboxExporter:
        self._dir = Path(tempfile.mkdtemp(prefix="probe-bench-blackbox-"))
        config = self._dir / "blackbox.yml"
        config.write_text(_BLACKBOX_CONFIG, encoding="utf-8")
        self.port = free_port()
        command = [self.binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}"]
        log = (self._dir / "exporter.log").open("wb")
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/healthy", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        text = (self._dir / "exporter.log").read_text(errors="replace")
        self.__exit__(None, None, None)
        raise RuntimeError(f"blackbox_exporter did not start: {text.strip()[-500:]}")

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def version(self) -> str:
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr).splitlines()[0] if (done.stdout + done.stderr) else "unknown"

    def probe_urls(self, target_urls: list[str]) -> list[str]:
        return [f"http://127.0.0.1:{self.port}/probe?module=http_2xx&target={url}" for url in target_urls]


def blackbox_ceiling(
    exporter: BlackboxExporter,
    target_urls: list[str],
    nginx_pid: int,
    *,
    concurrencies: tuple[int, ...],
    seconds: float,
) -> list[DriveFigures]:
    """One run per concurrency; the exporter's maximum is the best rate among them."""
    runs: list[DriveFigures] = []
    for concurrency in concurrencies:
        run = drive(
            exporter.probe_urls(target_urls),
            concurrency=concurrency,
            seconds=seconds,
            fresh=False,
            must="probe_success 1",
            driven={"blackbox_exporter": exporter.pid, "nginx": nginx_pid},
        )
        runs.append(run)
    return runs


def bare_loop(target_urls: list[str], nginx_pid: int, *, concurrency: int, seconds: float) -> DriveFigures:
    """The bare aiohttp loop: fresh connections, ``concurrency`` at once, as fast as it goes."""
    return drive(
        target_urls, concurrency=concurrency, seconds=seconds, fresh=True, must="ok", driven={"nginx": nginx_pid}
    )


def describe(run: DriveFigures) -> str:
    driven = ", ".join(f"{label} {pct:.0f} %" for label, pct in run.driven_cpu_pct.items())
    return (
        f"concurrency {run.concurrency:>3}: {run.rate:7.0f}/s ok ({run.errors} errors) over {run.window_s:.1f} s; "
        f"CPU (% of one core): generator {run.generator_cpu_pct:.0f} %, {driven}"
    )


def main() -> None:
    from nginx_target import INSTALL_HINT, NginxTarget, nginx_binary

    if nginx_binary() is None:
        print(f"nginx is not installed: {INSTALL_HINT}")
        return
    with NginxTarget() as nginx:
        urls = [nginx.url(f"ep-{i}") for i in range(100)]
        print(f"nginx {nginx.url()}")
        print("bare aiohttp loop: " + describe(bare_loop(urls, nginx.pid, concurrency=32, seconds=5)))
        if blackbox_binary() is None:
            print(f"blackbox_exporter is not installed: {BLACKBOX_HINT}")
            return
        with BlackboxExporter() as exporter:
            print(exporter.version())
            for run in blackbox_ceiling(exporter, urls, nginx.pid, concurrencies=(8, 32, 96), seconds=5):
                print("blackbox_exporter: " + describe(run))


if __name__ == "__main__":
    main()
