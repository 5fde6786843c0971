"""The machine a benchmark ran on: platform, CPU model, cores, Python, and the versions that shape the figures.

Every bench prints this block first, so a pasted figure always carries its machine. Run alone it prints the block:

    .venv/bin/python bench/machine.py
"""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata

PACKAGES = ("aiohttp", "sqlite-utils", "APScheduler", "pydantic")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows, else "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, e.g. a container's cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> list[tuple[str, str]]:
    """(label, value) pairs, in print order."""
    rows = [
        ("platform", platform.platform()),
        ("cpu", f"{cpu_model()} ({platform.machine()})"),
        ("cores", f"{usable_cores()} usable of {os.cpu_count()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("sqlite", f"SQLite library {sqlite3.sqlite_version}"),
    ]
    rows.extend((name, package_version(name)) for name in PACKAGES)
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        rows.append(("load avg", f"{load} (1, 5, 15 min) before the run"))
    except OSError:
        pass
    return rows


def machine_block() -> str:
    """The machine as aligned ``label: value`` lines."""
    return "\n".join(f"  {label:<13}{value}" for label, value in describe())


def main() -> None:
    print("machine:")
    print(machine_block())


if __name__ == "__main__":
    main()
