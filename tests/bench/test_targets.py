"""The bench's process-tree reader and its throwaway nginx, on real processes (nothing timed)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import urllib.request
from types import ModuleType

import pytest

from tests.bench.test_scale_math import BENCH, load

proctree = load("proctree")


def test_descendants_and_their_memory_are_found() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in proctree.descendants(os.getpid())
        tree = proctree.tree_cpu(os.getpid())
        assert tree.processes >= 2 and tree.main > 0
        assert proctree.rss_mb(child.pid) > 1
        assert proctree.tree_rss_mb(os.getpid()) > proctree.rss_mb(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert proctree.cpu_seconds(child.pid) == 0.0  # gone: nothing to read, not an error


@pytest.fixture
def nginx_target(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # nginx_target imports its bench neighbours by name
    module = importlib.import_module("nginx_target")
    if module.nginx_binary() is None:
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a broken CI, not a reason to pass
            pytest.fail(f"nginx is not installed ({module.INSTALL_HINT}; CI is set: .ci/run installs it)")
        pytest.skip(f"nginx is not installed ({module.INSTALL_HINT})")
    return module


def test_nginx_answers_ok_counts_requests_and_leaves_nothing_behind(nginx_target: ModuleType) -> None:
    target = nginx_target.NginxTarget()
    with target:
        before = target.requests()
        for path in ("ep-1", "a/b?c=d", ""):
            with urllib.request.urlopen(target.url(path), timeout=5) as answer:
                assert (answer.status, answer.read()) == (200, b"ok")
        assert target.requests() == before + 3 + 1  # the three GETs and the second status request itself
        prefix = target.prefix
        assert prefix is not None
        config = (prefix / "nginx.conf").read_text()
        assert "worker_processes 1;" in config and "access_log off;" in config
    assert not prefix.exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(target.url("ep-1"), timeout=2)
