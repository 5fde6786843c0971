"""One daemon per agent id and database, enforced by the operating system rather than by heartbeats.

A heartbeat only says a daemon was alive a moment ago: a daemon paused (SIGSTOP, a frozen VM) for longer than three
heartbeats looked dead, a second one started on the same database, both wrote, and their intervals overlapped. The
lock is ``fcntl.flock`` on ``<database>.<agent id>.lock``, beside the database (per open file, so two daemons in one
process exclude each other too, unlike POSIX record locks; Linux maps it to a record lock on NFS): held for the
daemon's whole life, released by the kernel when the process dies however it dies (kill -9 included), so a crash
never leaves a stale lock, and a paused process still holds it. The file holds the holder's pid, for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class LockHeld(Exception):
    """Another live process holds the lock; ``pid`` is the one it wrote (None if unreadable)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is locked by pid {pid if pid is not None else 'unknown'}")
        self.path = path
        self.pid = pid


def lock_path(database: Path, agent: str) -> Path:
    """The lock file of ``agent`` on ``database`` (agent ids are safe as file name parts: see config.schema)."""
    return database.with_name(f"{database.name}.{agent}.lock")


class RunLock:
    """``acquire()`` takes the lock without waiting (LockHeld if taken); ``release()`` or process exit frees it."""

    def __init__(self, database: Path, agent: str) -> None:
        self.path = lock_path(database, agent)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LockHeld(self.path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock; the file stays (unlinking would race)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None
