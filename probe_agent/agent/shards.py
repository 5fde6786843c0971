"""How many probe processes there are, which one probes which endpoint, and each one's share of the limits.

The shard of an endpoint is a keyed BLAKE2b hash of its id, reduced modulo the number of workers: the same in every
process, on every start and after every reload (Python's ``hash`` is salted per process, so it would move endpoints
on each restart). The key (``person``) makes the shard independent of the scheduling phase
(``scheduler.phase_offset``, plain BLAKE2b of the same id): a shard's endpoints are spread over the whole interval,
not bunched in one part of it.
"""

from __future__ import annotations

import hashlib
import logging

from probe_agent.config.schema import Agent

log = logging.getLogger("probe_agent.agent")


def shard_of(key: str, workers: int) -> int:
    """The worker (``0 .. workers - 1``) that probes endpoint ``key``. Raises ValueError for ``workers < 1``."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=b"pa-shard").digest()
    return int.from_bytes(digest, "big") % workers


def split_limit(total: int, workers: int) -> list[int]:
    """``total`` shared among ``workers`` as evenly as integers allow (the first ones get the remainder), so the
    shares add up to ``total``; but each at least 1, so with ``total < workers`` they add up to ``workers``.
    Raises ValueError for ``total < 1`` or ``workers < 1``."""
    if total < 1 or workers < 1:
        raise ValueError(f"cannot split {total} among {workers} workers")
    base, extra = divmod(total, workers)
    return [max(base + (1 if i < extra else 0), 1) for i in range(workers)]


def probe_process_count(agent: Agent, *, prober_injected: bool = False) -> int:
    """How many probe processes ``agent.workers`` asks for, never more than ``max_concurrency`` (they share it);
    1 with an injected prober (a test's, which lives in this process and cannot answer in another one)."""
    count = min(agent.workers_count(), agent.max_concurrency)
    if count > 1 and prober_injected:
        log.warning("an injected prober probes in this process: agent.workers taken as 1")
        return 1
    if count > 1 and agent.per_host_limit < count:
        log.warning(
            "agent.per_host_limit %d is less than the %d probe processes: each probes up to 1 at a time per host, "
            "so up to %d probes of one host run at once",
            agent.per_host_limit,
            count,
            count,
        )
    return count
