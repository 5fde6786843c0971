"""A probe process (``agent.workers`` > 1): its own event loop and ``ProbeScheduler`` probe its shard of the
endpoints and send each raw result to the daemon, which judges, folds and stores it (``probe_workers.py``).

Started by the daemon as ``python -m probe_agent.agent.worker_process --fd N --agent ID --worker I/N`` (a fresh
interpreter, as multiprocessing's ``spawn`` makes one: the daemon has threads, and a fork without exec would copy
their locks mid-use), with one end of a socket pair as file descriptor N; ``ps`` shows that command line, and the
thread name (``ps -o comm``, ``top``) is ``probe-agent wI``.

What it never does: read the wall clock for a label, judge against controls, fold, or write the store. Each
endpoint's next probe time comes from the daemon's answer to its last result (the fold's phase: ``retry_interval``
while suspect or down), so there is one fold per endpoint, in the daemon.

It ends when told (``Stop``: in-flight probes get ``agent.stop_timeout``), on SIGTERM (the same; systemd sends it
to the whole unit), and at once when the daemon goes away: the socket reaches its end, or, if the event loop is
stuck, the kernel's parent-death signal (``PR_SET_PDEATHSIG``, Linux) kills it. SIGINT is ignored: a Ctrl-C reaches
the whole process group, and the daemon stops its workers itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import socket
import sys
import time

from probe_agent.agent import eventloop
from probe_agent.agent import worker_wire as wire
from probe_agent.agent.clock import elapsed_ns
from probe_agent.agent.scheduler import ProbeScheduler, ScheduledEndpoint
from probe_agent.config.schema import Endpoint
from probe_agent.logs import setup_logging

log = logging.getLogger("probe_agent.agent")

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


class _Assigned:
    __slots__ = ("endpoint", "generation", "recheck")

    def __init__(self, endpoint: Endpoint, generation: int, recheck: bool) -> None:
        self.endpoint = endpoint
        self.generation = generation
        self.recheck = recheck


class WorkerProcess:
    """The probe process's event-loop side: ``run`` until stopped or orphaned."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, setup: wire.Setup) -> None:
        from probe_agent.probes import ProbeClient, run_probe

        self.reader = reader
        self.writer = writer
        self.setup = setup
        # This process's probe client (http sessions, the DNS cache: one per event loop), made once and handed to
        # every probe through ``prober``; closed when the process stops.
        self.probe_client = ProbeClient()
        self.prober = functools.partial(run_probe, client=self.probe_client)
        self.scheduler = ProbeScheduler(max_concurrency=setup.max_concurrency, per_host_limit=setup.per_host_limit)
        self.assigned: dict[str, _Assigned] = {}
        self.waiting: dict[int, asyncio.Future[float | None]] = {}  # probe seq -> its answer from the daemon
        self.outgoing: list[wire.Finished] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._seq = 0
        self.stop_deadline: float | None = None  # set by Stop or SIGTERM
        self.orphaned = False  # the daemon went away
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._sigterm)
        sched = asyncio.create_task(self.scheduler.run(), name="probe-scheduler")
        reading = asyncio.create_task(self._read(), name="daemon-reader")
        stats = asyncio.create_task(self._stats(), name="stats")
        try:
            await self._stopping.wait()
            if not self.orphaned:
                # In-flight probes finish (their answers still come: the daemon reads until we exit), then go.
                await self.scheduler.stop(self.stop_deadline if self.stop_deadline is not None else 0.0)
                self._flush()
                with contextlib.suppress(ConnectionError):
                    await self.writer.drain()
        finally:
            for task in (sched, reading, stats):
                task.cancel()
            await asyncio.gather(sched, reading, stats, return_exceptions=True)
            await self.probe_client.close()
            self.writer.close()

    def _sigterm(self) -> None:
        log.info("SIGTERM: stopping")
        if self.stop_deadline is None:
            self.stop_deadline = self.setup.stop_timeout_s
        self._stopping.set()

    async def _read(self) -> None:
        while True:
            message = await wire.read_message(self.reader)
            if message is None:
                # The daemon closed the socket or died (kill -9): no one is left to take a result. Go now.
                log.warning("the daemon went away: stopping")
                self.orphaned = True
                self._stopping.set()
                return
            self._handle(message)

    def _handle(self, message: wire.Message) -> None:
        if isinstance(message, wire.Answers):
            for seq, delay in message.delays:
                future = self.waiting.pop(seq, None)
                if future is not None and not future.done():
                    future.set_result(delay)
        elif isinstance(message, wire.Assign):
            for endpoint, generation, recheck in message.endpoints:
                self._assign(endpoint, generation, recheck)
        elif isinstance(message, wire.Remove):
            for key in message.keys:
                self.assigned.pop(key, None)
                self.scheduler.remove(key)
        elif isinstance(message, wire.Setup):
            self.setup = message  # a reload: resolvers and secrets (the limits stay until a restart)
            _logging(message)
        elif isinstance(message, wire.Stop):
            self.stop_deadline = message.deadline_s
            self._stopping.set()

    def _assign(self, endpoint: Endpoint, generation: int, recheck: bool) -> None:
        known = self.assigned.get(endpoint.id)
        self.assigned[endpoint.id] = _Assigned(endpoint, generation, recheck)
        scheduled = ScheduledEndpoint(
            key=endpoint.id,
            interval_s=endpoint.interval / 1000,
            host=endpoint.host,
            run=functools.partial(self._probe, endpoint.id),
            grace_s=endpoint.grace / 1000,
        )
        if known is None or endpoint.id not in self.scheduler:
            self.scheduler.add(scheduled)
        elif known.endpoint != endpoint:
            self.scheduler.replace(scheduled)

    async def _probe(self, key: str) -> float | None:
        """The scheduler's job for one endpoint: probe, send the raw result, and, if it may change the endpoint's
        cadence, wait for the daemon's answer (the delay to the next probe) before this endpoint is probed again."""
        assigned = self.assigned.get(key)
        if assigned is None:
            return None
        started, at_ns = time.monotonic(), elapsed_ns()
        raw = await self.prober(
            assigned.endpoint, agent=self.setup.agent, resolvers=self.setup.resolvers, recheck=assigned.recheck
        )
        self._seq += 1
        seq = self._seq
        self.outgoing.append(wire.Finished(seq, key, assigned.generation, raw, started, at_ns))
        if len(self.outgoing) >= wire.BATCH_MAX:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(wire.BATCH_S, self._flush)
        if not wire.answer_needed(raw):
            return None  # it stays on its grid whatever the fold makes of this result (worker_wire's doc)
        answer: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self.waiting[seq] = answer
        try:
            delay = await answer
        finally:
            self.waiting.pop(seq, None)
        if self.assigned.get(key) is assigned:
            assigned.recheck = delay is not None  # a delay is given exactly while suspect or down
        return delay

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.outgoing and not self.writer.is_closing():
            self.writer.write(wire.frame(wire.Results(tuple(self.outgoing))))
        self.outgoing.clear()

    async def _stats(self) -> None:
        while True:
            if not self.writer.is_closing():
                healthy = self.scheduler.healthy(max_lag_s=5.0)
                self.writer.write(wire.frame(wire.Stats(self.scheduler.snapshot(), healthy)))
            await asyncio.sleep(1.0)


def _logging(setup: wire.Setup) -> None:
    setup_logging(setup.verbosity, setup.secrets)
    prefix = f"worker {setup.index + 1}/{setup.workers}: "

    def tag(record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.msg.startswith(prefix):
            record.msg = prefix + record.msg  # the prefix has no "%": formatting with args is unchanged
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(tag)


def _linux_process_setup(index: int, parent: int) -> None:
    """Die with the daemon even when this loop is stuck, and be named in ``top``; best effort (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_NAME, f"probe-agent w{index + 1}".encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the daemon died before the signal was armed
        os._exit(1)


async def _main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock)
    setup = await wire.read_message(reader)
    if not isinstance(setup, wire.Setup):
        return  # the daemon went away before saying anything
    _logging(setup)
    await WorkerProcess(reader, writer, setup).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="probe_agent.agent.worker_process", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="this end of the socket pair to the daemon")
    parser.add_argument("--parent", type=int, required=True, help="the daemon's pid")
    parser.add_argument("--agent", required=True, help="the agent id (for ps)")
    parser.add_argument("--worker", required=True, help="I/N (for ps)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    index = int(args.worker.split("/")[0]) - 1
    _linux_process_setup(index, args.parent)
    # The daemon's PROBE_AGENT_LOOP reaches this process through its environment: the same loop as the daemon's.
    eventloop.run(_main(args.fd), os.environ)


if __name__ == "__main__":
    main(sys.argv[1:])
