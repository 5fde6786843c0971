"""The dead man's switch (``notify/deadman.py``) as one of the daemon's tasks: started when
``notifications.deadman`` is set, restarted when a reload changes its URL or period, stopped when one removes it.

Its health rule is :meth:`ImpairedWatch.healthy <probe_agent.agent.impaired.ImpairedWatch.healthy>`: the heartbeat
judged the agent within the last two beats (plus the stall grace) and found no ``agent_impaired`` episode open, so
the pings stop, and the cron monitor alerts, when the event loop or the scheduler does not keep time, the store does
not commit, or every control fails. A failing notification channel does not stop them: the monitor is the way to
hear about the agent when its channels are the trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from probe_agent.config.notify_schema import Deadman
from probe_agent.notify.deadman import DeadMansSwitch


class DeadmanTask:
    """``apply(deadman)`` at start and after every reload; ``stop()`` at shutdown."""

    def __init__(self, healthy: Callable[[], bool]) -> None:
        self.healthy = healthy
        self.config: Deadman | None = None
        self.switch: DeadMansSwitch | None = None
        self._task: asyncio.Task[None] | None = None

    def apply(self, deadman: Deadman | None) -> None:
        if deadman == self.config and (self._task is not None) == (deadman is not None):
            return
        self._cancel()
        self.config = deadman
        if deadman is not None:
            self.switch = DeadMansSwitch(deadman.url, deadman.every / 1000)
            self._task = asyncio.create_task(self.switch.run(self.healthy), name="deadman")

    async def stop(self) -> None:
        task = self._task
        self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self.switch = None
