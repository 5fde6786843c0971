"""The daemon in-process for tests: its seams (prober, notifier, wall clock, no signal handlers) and a real SQLite file.

``ScriptedProber`` stands in for ``run_probe`` for targets and controls alike: each endpoint answers what the test
set for it (up unless told), so a test says what the world does and counts what the daemon made of it. The
daemon labels every result on its own label clock (the prober's ts is replaced), so stored times are the
daemon's, whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe_agent.agent.daemon import Daemon
from probe_agent.agent.sdnotify import Notifier
from probe_agent.config import load_config
from probe_agent.config.schema import Endpoint
from probe_agent.model import ErrorKind, Outcome, ProbeResult
from tests.e2e.harness import StoreReader, wait_until, wall_ms, write_config

Answer = tuple[Outcome, ErrorKind | None]
UP: Answer = (Outcome.UP, None)


@dataclass
class Call:
    endpoint: str
    recheck: bool
    at: float  # monotonic seconds


@dataclass
class ScriptedProber:
    """``answers[endpoint id]`` is what a probe of it returns now (``UP`` if unset); ``calls`` lists every probe.

    ``gate``, if set, is awaited before a probe of that endpoint returns (a test holds a probe in flight with it).
    """

    answers: dict[str, Answer] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    gate: dict[str, Callable[[], Any]] = field(default_factory=dict)

    async def __call__(
        self, ep: Endpoint, *, agent: str, resolvers: Any = (), recheck: bool = False, **_: Any
    ) -> ProbeResult:
        self.calls.append(Call(ep.id, recheck, time.monotonic()))
        outcome, kind = self.answers.get(ep.id, UP)
        hold = self.gate.get(ep.id)
        if hold is not None:
            await hold()
        up = outcome in (Outcome.UP, Outcome.DEGRADED)
        return ProbeResult(
            wall_ms(),
            agent,
            ep.id,
            outcome,
            latency_ms=2.0 if up else None,
            error_kind=kind,
            recheck=recheck,
            detail="ok" if up else f"scripted {kind.value if kind else outcome.value}",
        )

    def count(self, endpoint: str) -> int:
        return sum(1 for c in self.calls if c.endpoint == endpoint)


class SilentNotifier(Notifier):
    """sd_notify as a list: every line the daemon sent."""

    def __init__(self) -> None:
        super().__init__(address="@test")
        self.sent: list[str] = []

    def notify(self, *lines: str) -> bool:
        self.sent.extend(lines)
        return True


@dataclass
class InProcess:
    daemon: Daemon
    prober: ScriptedProber
    notifier: SilentNotifier
    store: StoreReader
    config: Path
    task: asyncio.Task[None]

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
        """Wait for ``check`` (polled); fails at once if the daemon stopped meanwhile."""

        def done_or_check() -> Any:
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the daemon stopped while waiting for {what}")
            return check()

        return await wait_until(done_or_check, timeout=timeout, what=what, every=0.02)

    def results(self, endpoint: str) -> list[Any]:
        return self.store.results(endpoint)

    def write(self, doc: dict[str, Any]) -> None:
        write_config(self.config, doc)


@asynccontextmanager
async def in_process(
    tmp_path: Path,
    doc: dict[str, Any],
    prober: ScriptedProber | None = None,
    *,
    wall: Callable[[], int] | None = None,
    before_run: Callable[[Daemon], None] | None = None,
) -> AsyncIterator[InProcess]:
    """Run a daemon on config ``doc`` until the block ends (then stop it cleanly and wait for it). The scripted
    prober lives in this process, so the daemon probes in it too (``agent.workers: 1`` unless the doc says)."""
    doc = {**doc, "agent": {"workers": 1, **doc.get("agent", {})}}
    config = write_config(tmp_path / "probe-agent.yaml", doc)
    prober = prober or ScriptedProber()
    notifier = SilentNotifier()
    kwargs: dict[str, Any] = {} if wall is None else {"wall_ms": wall}
    daemon = Daemon(load_config(config), handle_signals=False, notifier=notifier, prober=prober, verbosity=0, **kwargs)
    if before_run is not None:
        before_run(daemon)
    task = asyncio.create_task(daemon.run())
    run = InProcess(daemon, prober, notifier, StoreReader(Path(doc["agent"]["database"])), config, task)
    try:
        await run.until(lambda: "READY=1" in notifier.sent, "READY=1")
        yield run
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
