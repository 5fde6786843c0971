"""CPU seconds and memory of a process and every descendant, read from Linux's /proc (no psutil).

The agent with ``workers: N`` is a main process and N probe processes, nginx a master and its worker: their cost
is the tree's. A descendant that exits between two readings takes its CPU with it (its parent's ``cutime`` only
gets it once reaped), so read the tree while its processes are alive: the benches read at a window's edges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (all its threads); 0.0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12), i.e. stat's fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children, ...), found by each process's parent id."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            parent_of[int(entry)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parent_of.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


@dataclass(frozen=True)
class TreeCpu:
    """CPU seconds so far of a process (``main``) and of its live descendants (``children``), with their count."""

    main: float
    children: float
    processes: int

    @property
    def total(self) -> float:
        return self.main + self.children


def tree_cpu(pid: int) -> TreeCpu:
    kids = descendants(pid)
    return TreeCpu(main=cpu_seconds(pid), children=sum(cpu_seconds(k) for k in kids), processes=1 + len(kids))


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (statm's resident pages); 0.0 when it is gone."""
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident * _PAGE / 2**20


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its live descendants, summed: pages they share count in each, so
    the sum reads high (an upper bound)."""
    return rss_mb(pid) + sum(rss_mb(k) for k in descendants(pid))


def pss_mb(pid: int) -> float:
    """Proportional memory of one process in MB (``Pss`` of /proc/PID/smaps_rollup: each shared page divided
    among the processes sharing it); 0.0 when it is gone or the kernel has no smaps_rollup."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        return 0.0
    return 0.0


def tree_pss_mb(pid: int) -> float:
    """Proportional memory of a process and its live descendants, summed: what the tree holds, each page once
    (the figure to compare with one process's RSS)."""
    return pss_mb(pid) + sum(pss_mb(k) for k in descendants(pid))
