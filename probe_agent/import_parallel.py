"""``import`` parsing JSON Lines in several processes: parsing and checking a line is most of an import's CPU time
(JSON, the result schema's checks, the staging row), and one process uses one core.

This process reads the file and cuts it into chunks of ``CHUNK_LINES`` consecutive lines; a pool of worker processes
parses and checks each chunk (``import_reading.check_chunk``: the very code a single-process import runs); the
answers are taken back in file order and staged here, so line numbers, problems and the staging file are the same
as without workers. At most ``2 x workers + 1`` chunks are out at once, so memory stays bounded whatever the file.

Workers start from a fresh interpreter (``forkserver``): a fork of this process could inherit a lock held by one
of its threads (rich's progress refresher).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from probe_agent.import_reading import Checked, Checks, check_chunk
from probe_agent.resultfiles import undecodable
from probe_agent.store import staging

CHUNK_LINES = 2_000
# Below this a file parses in about a second: starting workers (a fresh interpreter each) would cost more.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def workers_for(size_bytes: int | None) -> int:
    """How many parsing processes an import of a file of ``size_bytes`` uses: one per usable core for a big file
    (stdin: unknown size, one), else 1 (parse here)."""
    if size_bytes is None or size_bytes < PARALLEL_MIN_BYTES:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_checks: Checks | None = None  # in a worker: what its chunks are checked against, set once at its start


def _start_worker(checks: Checks) -> None:
    global _checks
    _checks = checks


def _check(first_line: int, lines: list[str]) -> Checked:
    assert _checks is not None, "a worker checks chunks only after _start_worker"
    return check_chunk(_checks, first_line, lines)


def stage_in_processes(staged: staging.Staging, lines: Iterable[str], checks: Checks, workers: int) -> Checked:
    """``import_reading._stage`` for JSON Lines, the parsing and checking done by ``workers`` processes."""
    checked = Checked()
    context = multiprocessing.get_context("forkserver")
    # The checks (the configured endpoints: 50,000 ids in a big config) go to each worker once, not with each chunk.
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(checks,)) as pool:
        out: deque[Future[Checked]] = deque()

        def take() -> None:
            part = out.popleft().result()
            staged.add(part.rows)
            checked.absorb(part)

        try:
            for first_line, chunk in _chunks(lines, CHUNK_LINES):
                out.append(pool.submit(_check, first_line, chunk))
                if len(out) > 2 * workers:
                    take()
        except UnicodeDecodeError as exc:  # read here, so found here: after every line before it
            while out:
                take()
            checked.problems.append(undecodable(exc))
        while out:
            take()
    return checked


def _chunks(lines: Iterable[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """``(number of its first line, up to size lines)``, in order. A file that stops decoding hands over the lines
    read before it, then raises (they are checked as a single process would have checked them)."""
    chunk: list[str] = []
    first = 1
    try:
        for number, line in enumerate(lines, 1):
            if not chunk:
                first = number
            chunk.append(line)
            if len(chunk) >= size:
                yield first, chunk
                chunk = []
    except UnicodeDecodeError:
        if chunk:
            yield first, chunk
        raise
    if chunk:
        yield first, chunk
