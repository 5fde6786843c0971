"""Which probe process probes which endpoint, and each process's share of the concurrency limits.

The shard of an endpoint is a keyed BLAKE2b hash of its id, reduced modulo the number of workers: the same in every
process, on every start and after every reload (Python's ``hash`` is salted per process, so it would move endpoints
on each restart). The key (``person``) makes the shard independent of the scheduling phase
(``scheduler.phase_offset``, plain BLAKE2b of the same id): a shard's endpoints are spread over the whole interval,
not bunched in one part of it.
"""

from __future__ import annotations

import hashlib


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
