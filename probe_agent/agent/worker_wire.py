"""What the daemon and its probe processes say to each other over their socket pair, and how it is framed.

One ``socket.socketpair()`` per probe process, read and written with asyncio streams on both sides: a write never
blocks an event loop (it is buffered), and a read waits without holding one up. Each message is a 4-byte big-endian
length and a pickle of one of the dataclasses below (both ends are this same package, spawned from it, on a private
socket: pickle is the cheapest faithful copy of a ``ProbeResult`` or an ``Endpoint``).

The conversation:

- daemon -> worker: ``Setup`` first (and again after a reload: new resolvers, new secrets to redact), ``Assign``
  (endpoints to probe, new or changed, with their generation and whether the next probe is a re-check), ``Remove``,
  ``Answers`` (for each result, the delay to its next probe: the fold's verdict, decided in the daemon), ``Stop``.
- worker -> daemon: ``Results`` (probes finished, batched every ``BATCH_S`` or ``BATCH_MAX``), ``Stats`` (every
  second: the worker's scheduler figures; their arrival is its heartbeat).

A result that may change the endpoint's cadence waits in its worker for its answer before that endpoint is probed
again: a down one (the fold may turn suspect or down: re-checks every ``retry_interval``), or any result of an
endpoint already re-checking. The others (up, degraded or unknown on the grid) cannot: whatever the fold makes of
them, the endpoint stays on its grid (``answer_needed``), so they are not answered and the probe's concurrency slot
is free as soon as the probe is done, as in one process. Either way each endpoint has one result in flight at most
and the buffers are bounded by the concurrency.
"""

from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from probe_agent.agent.scheduler_stats import SchedulerStats
from probe_agent.config.schema import Endpoint
from probe_agent.model import Outcome, ProbeResult

BATCH_S = 0.002  # a result waits at most this long for others to share its message
BATCH_MAX = 256  # ... or goes with this many
_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # a setup of 1,000,000 endpoints fits; a longer length is a corrupt stream


@dataclass(frozen=True, slots=True)
class Setup:
    index: int  # this worker's number, 0-based (logs say index + 1)
    workers: int
    agent: str
    resolvers: tuple[str, ...]
    max_concurrency: int  # this worker's share (shards.split_limit)
    per_host_limit: int
    stop_timeout_s: float  # in-flight probes' time at SIGTERM (agent.stop_timeout)
    verbosity: int
    secrets: tuple[str, ...]  # redacted from the worker's log lines, as in the daemon's


@dataclass(frozen=True, slots=True)
class Assign:
    endpoints: tuple[tuple[Endpoint, int, bool], ...]  # (endpoint, generation, next probe is a re-check)


@dataclass(frozen=True, slots=True)
class Remove:
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answers:
    delays: tuple[tuple[int, float | None], ...]  # (probe seq, re-check delay in s or None: back to the grid)


@dataclass(frozen=True, slots=True)
class Stop:
    deadline_s: float  # in-flight probes get this long (agent.stop_timeout)


@dataclass(frozen=True, slots=True)
class Finished:
    """One finished probe: ``started`` on ``time.monotonic`` (the controls' clock), ``at_ns`` on
    ``clock.elapsed_ns`` (the label clock's): both system-wide, so the daemon reads them as its own."""

    seq: int
    key: str
    generation: int
    raw: ProbeResult
    started: float
    at_ns: int


@dataclass(frozen=True, slots=True)
class Results:
    finished: tuple[Finished, ...]


@dataclass(frozen=True, slots=True)
class Stats:
    scheduler: SchedulerStats
    healthy: bool  # the worker's scheduler keeps time


Message = Setup | Assign | Remove | Answers | Stop | Results | Stats


def answer_needed(raw: ProbeResult) -> bool:
    """Whether the worker waits for the daemon's answer to this raw result (the same rule on both sides). Not for
    a result that is not down of an endpoint on its grid (``raw.recheck`` False: neither suspect nor down): an up,
    degraded or unknown result leaves the fold up, degraded or unknown, and a result the daemon drops (store queue
    full, endpoint removed) leaves a grid endpoint on its grid too; so the answer would be "back to the grid"."""
    return raw.recheck or raw.outcome is Outcome.DOWN


def _proxy(items: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(items)


# A ProbeResult's ``phases`` is a read-only mapping proxy, which pickle refuses: sent as its dict, rebuilt as a proxy.
# A table of this pickler's own, so pickling elsewhere in the process is unchanged.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[MappingProxyType] = lambda proxy: (_proxy, (dict(proxy),))


def frame(message: Message) -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"\0" * _HEADER.size)
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(message)
    data = buffer.getbuffer()
    _HEADER.pack_into(data, 0, len(data) - _HEADER.size)
    return bytes(data)


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None at the end of the stream (the other process closed it or died). A stream cut in
    the middle of a message is an end too; a length past ``MAX_FRAME`` is a ValueError (never the other end)."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (length,) = _HEADER.unpack(header)
        if length > MAX_FRAME:
            raise ValueError(f"a message of {length} bytes: the stream is corrupt")
        payload = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message: Message = pickle.loads(payload)
    return message
