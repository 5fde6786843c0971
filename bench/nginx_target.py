"""A throwaway nginx for the benches: Debian's ``/usr/sbin/nginx`` answering 200 "ok" on every path.

Everything lives in a temp directory that is removed afterwards: the prefix (``-p``), the config (``-c``), the pid
file, the error log (``-e``) and the temp paths; the access log is off (it would cost more than answering). It
listens on a free 127.0.0.1 port with ``worker_processes 1``: on a 2-core machine the target then shares the cores
with the agent and its peers, as the issue's figures do, without taking both. Run as root, nginx's worker drops to
``nobody`` as usual; nothing here needs root. ``stub_status`` at :data:`STATUS_PATH` gives the requests answered.

    with NginxTarget() as target:
        target.url("ep-1")        # http://127.0.0.1:PORT/ep-1
        target.counters()         # requests answered, CPU seconds of master + worker

Where nginx is not installed, :func:`nginx_binary` returns None and :data:`INSTALL_HINT` says how to get it; the
benches then print it and leave out what needs nginx, never fail.

    .venv/bin/python bench/nginx_target.py      # start one, print its URL and a request's answer, stop it
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from loopback_target import TargetCounters
from proctree import tree_cpu

NGINX = "/usr/sbin/nginx"
INSTALL_HINT = "apt-get install nginx   # Debian/Ubuntu: /usr/sbin/nginx"
STATUS_PATH = "/nginx_status"  # excluded from nothing: the status requests themselves count as requests too

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = {status} {{
            stub_status;
        }}
        location / {{
            default_type text/plain;
            return 200 "ok";
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable (Debian's path, else one on PATH), or None when there is none."""
    return NGINX if Path(NGINX).is_file() else shutil.which("nginx")


def free_port() -> int:
    """A loopback port free right now (the kernel's pick). Another process could take it before nginx binds it;
    :meth:`NginxTarget.start` retries with a new one if so."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NginxTarget:
    """Start with :meth:`start` (returns the port) or as a context manager; :meth:`stop` removes everything."""

    name = "nginx"

    def __init__(self, binary: str | None = None) -> None:
        found = binary or nginx_binary()
        if found is None:
            raise FileNotFoundError(f"nginx is not installed; {INSTALL_HINT}")
        self.binary = found
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0, attempts: int = 3) -> int:
        """Write the config, start nginx and wait until it answers; returns its port."""
        self._dir = Path(tempfile.mkdtemp(prefix="probe-bench-nginx-"))
        self._dir.chmod(0o755)  # the worker may run as nobody
        for attempt in range(attempts):
            self.port = free_port()
            conf = self._dir / "nginx.conf"
            conf.write_text(_CONFIG.format(dir=self._dir, port=self.port, status=STATUS_PATH), encoding="utf-8")
            error_log = self._dir / "error.log"
            command = [self.binary, "-p", str(self._dir), "-c", str(conf), "-e", str(error_log)]
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_listening(timeout_s):
                return self.port
            self._terminate()
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            if "Address already in use" not in log or attempt == attempts - 1:
                self.stop()
                raise RuntimeError(f"nginx did not start within {timeout_s} s: {log.strip()[-500:]}")
        raise AssertionError("unreachable")

    def _wait_listening(self, timeout_s: float) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url("ready"), timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def prefix(self) -> Path | None:
        """nginx's directory (config, pid file, logs, temp paths) while it runs; None once stopped."""
        return self._dir

    @property
    def pid(self) -> int:
        """The master's process id (its worker is its child)."""
        assert self._process is not None, "not started"
        return self._process.pid

    def requests(self) -> int:
        """Requests answered so far, from stub_status (the status request itself included)."""
        with urllib.request.urlopen(self.url(STATUS_PATH), timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        # "Active connections: N", "server accepts handled requests", " A H R", "Reading: ..."
        return int(lines[2].split()[2])

    def counters(self) -> TargetCounters:
        """Requests answered and CPU seconds of the master and its worker, now."""
        return TargetCounters(requests=self.requests(), cpu_s=tree_cpu(self.pid).total)

    def _terminate(self) -> None:
        """Fast shutdown (SIGTERM) of the master this object started; kill it if it lingers."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    def stop(self) -> None:
        """Stop nginx and remove its directory (idempotent)."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> NginxTarget:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    if nginx_binary() is None:
        print(f"nginx is not installed: {INSTALL_HINT}")
        return
    with NginxTarget() as target:
        with urllib.request.urlopen(target.url("hello"), timeout=5) as answer:
            body = answer.read().decode()
        print(f"nginx at {target.url()} answered {body!r}; {target.counters()}")


if __name__ == "__main__":
    main()
