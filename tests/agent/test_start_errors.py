"""``probe-agent run`` where the database cannot be written (issue 9, part 8): exit 1 with a message that names the
path and says what is wrong, never a traceback.

A read-only file system is made two ways: a path under a file (``/proc/version/x.db``: nothing can be created
there, on any machine, as any user) and, where this process may mount (root with CAP_SYS_ADMIN), a read-only bind
mount over the database file itself, so that its lock file beside it stays writable and the store's own open is
what fails. A database path that is a directory is the unwritable-database case every user can make.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe_agent.store import open_db
from tests.e2e.harness import agent_config, write_config


def _run(tmp_path: Path, database: Path) -> subprocess.CompletedProcess[str]:
    cfg = write_config(tmp_path / "c.yaml", agent_config(database, [{"id": "a", "tcp": "127.0.0.1:9"}]))
    return subprocess.run(
        [sys.executable, "-m", "probe_agent.cli", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _assert_refused(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    for text in expected:
        assert text in done.stderr, done.stderr


@pytest.mark.fault(
    "the database path is a directory",
    expected="exit 1 naming it, no traceback",
)
def test_a_database_path_that_is_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    database.mkdir()
    done = _run(tmp_path, database)
    _assert_refused(done, f"probe-agent: cannot open the database {database} for writing", "is the path a directory")


@pytest.mark.fault(
    "a database path under a file",
    expected="exit 1 naming it, no traceback",
)
def test_a_database_under_a_file_is_refused_at_its_lock_file(tmp_path: Path) -> None:
    done = _run(tmp_path, Path("/proc/version/x.db"))
    _assert_refused(done, "cannot open or create the lock file /proc/version/x.db.t1.lock: Not a directory")


@contextlib.contextmanager
def _read_only_bind(path: Path) -> Iterator[None]:
    """``path`` read-only in place (a bind mount of itself, remounted ro); skips where mounting is not allowed."""
    made = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr.decode().strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, check=False)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


@pytest.mark.fault(
    "the database on a read-only mount",
    expected="exit 1 naming it, no traceback",
)
def test_a_database_on_a_read_only_mount_is_refused_naming_it(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    open_db(database).close()
    with _read_only_bind(database):
        done = _run(tmp_path, database)
    _assert_refused(
        done,
        f"probe-agent: cannot open the database {database} for writing (Read-only file system)",
        "read-only",
    )
