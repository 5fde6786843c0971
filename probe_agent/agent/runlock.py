"""One daemon per agent id and database, enforced by the operating system rather than by heartbeats.

A heartbeat only says a daemon was alive a moment ago: a daemon paused (SIGSTOP, a frozen VM) for longer than three
heartbeats looked dead, a second one started on the same database, both wrote, and their intervals overlapped. The
lock is ``fcntl.flock`` on ``<database>.<agent id>.lock``, beside the database (per open file, so two daemons in one
process exclude each other too, unlike POSIX record locks; Linux maps it to a record lock on NFS): held for the
daemon's whole life, released by the kernel when the process dies however it dies (kill -9 included), so a crash
never leaves a stale lock, and a paused process still holds it.

The file is ``NOTE_SIZE`` bytes: the holder's pid on the first line (for the message), then its *note*: one line
the daemon rewrites in place (its store health, JSON) for ``status`` to read. Written within the bytes allocated at
start, a note needs no new disk space, so it still gets through when the disk is full and the store cannot commit.
``holder()`` is how ``status`` tells a live daemon from a crashed one: a non-blocking shared ``flock`` that fails
means a live process holds the lock, whatever its (possibly stale) heartbeat in the database says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

NOTE_SIZE = 4096  # bytes: the pid line, the note line, spaces up to this size
_ACQUIRE_TRIES = 10  # ``holder()`` holds a shared lock for microseconds; a starting daemon waits that out
_ACQUIRE_PAUSE_S = 0.02


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
        self._pid_line = ""

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        for attempt in range(_ACQUIRE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 < _ACQUIRE_TRIES:  # perhaps only a ``status`` looking (see holder())
                    time.sleep(_ACQUIRE_PAUSE_S)
                    continue
                pid = _read_pid(fd)
                os.close(fd)
                raise LockHeld(self.path, pid) from None
            except OSError:
                os.close(fd)
                raise
        self._pid_line = f"{os.getpid()}\n"
        try:
            # The whole region now, so that later notes overwrite allocated bytes (see ``note``).
            os.pwrite(fd, self._pid_line.encode().ljust(NOTE_SIZE, b" "), 0)
            os.ftruncate(fd, NOTE_SIZE)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def note(self, text: str) -> bool:
        """Rewrite the note in place (one line, at most ``NOTE_SIZE`` - pid line - 1 bytes, else cut). Never raises:
        False when it could not be written (a read-only remount, a copy-on-write file system that is full)."""
        if self._fd is None:
            return False
        room = NOTE_SIZE - len(self._pid_line) - 1
        line = text.replace("\n", " ").encode()[:room]
        try:
            os.pwrite(self._fd, (self._pid_line.encode() + line + b"\n").ljust(NOTE_SIZE, b" "), 0)
        except OSError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock; the file stays (unlinking would race)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().split("\n", 1)[0].strip())
    return None


@dataclass(frozen=True)
class Holder:
    """A live process holding an agent id's lock: its pid and its last note ("" when it wrote none)."""

    pid: int | None
    note: str


def holder(database: Path, agent: str) -> Holder | None:
    """The live process on this host holding ``agent``'s lock on ``database``, or None: no lock file (no daemon ever
    ran with this path, or another host's), or nobody holds it. Opens the file read-only and never creates it; the
    shared lock it tries is dropped at once (a daemon starting at that instant retries, see ``acquire``)."""
    try:
        fd = os.open(lock_path(database, agent), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, NOTE_SIZE, 0).decode(errors="replace")
            _, _, rest = text.partition("\n")
            return Holder(_read_pid(fd), rest.split("\n", 1)[0].strip())
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class DatabaseIdentity:
    """Tells whether the database file the daemon opened is still the one at its path.

    Deleted (``rm``) or replaced by rename (a backup restored with ``mv``), the open file lives on unlinked: SQLite
    keeps writing into it, and a "clean" stop leaves no database behind. Checked at every heartbeat: the file held
    open here must still have a link, and the path must name the same device and inode. (A backup copied *over*
    the live file with ``cp`` rewrites the same inode and is not seen here.)
    """

    def __init__(self, database: Path) -> None:
        self.path = database
        self._fd = os.open(database, os.O_RDONLY | os.O_CLOEXEC)
        held = os.fstat(self._fd)
        self._id = (held.st_dev, held.st_ino)

    def problem(self) -> str | None:
        """None while all is well, else what happened to the file, in words."""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return f"the database {self.path} was deleted while the agent was writing to it"
        except OSError as exc:
            return f"the database {self.path} cannot be checked: {exc.strerror or exc}"
        if (now.st_dev, now.st_ino) != self._id:
            return f"the database {self.path} was replaced by another file while the agent was writing to it"
        if os.fstat(self._fd).st_nlink == 0:  # the same inode at the path but unlinked: a race with a re-link
            return f"the database {self.path} was unlinked while the agent was writing to it"
        return None

    def close(self) -> None:
        os.close(self._fd)
