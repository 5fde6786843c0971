"""The dead man's switch: while the agent is healthy it requests a ping URL every ``every`` seconds, so a cron
monitor (Healthchecks, Uptime Kuma's push monitor, Cronitor ...) alerts someone when the pings stop, which is how
anyone hears that the agent itself died, hung or lost its store.

The convention these monitors share: an HTTP GET (or HEAD or POST) to the check's ping URL means "alive"; the
monitor alerts when none arrived within its period plus grace. While ``healthy()`` is false the switch stays
silent rather than pinging a failure suffix (``/fail`` is Healthchecks' own): silence works with every monitor.

The URL is a secret (a Healthchecks UUID is all it takes to ping, or to stop the alarm): it is never logged and
never in an answer. A failed ping is logged once per run of failures, a pause once per unhealthy spell.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable

import aiohttp

from probe_agent.notify.delivery import Delivery

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
_USER_AGENT = "probe-agent deadman"


class DeadMansSwitch:
    """Pings ``url`` with a GET every ``every_s`` seconds (> 0) on the monotonic clock while the agent is healthy.

    ``timeout_s`` bounds one ping (connect, answer and body together) and is held under ``every_s``, so a ping
    never overlaps the next slot. ``clock`` and ``sleep`` are seams for tests.
    """

    def __init__(
        self,
        url: str,
        every_s: float,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not every_s > 0 or not timeout_s > 0:
            raise ValueError(f"every_s and timeout_s must be positive, not {every_s} and {timeout_s}")
        self._url = url
        self.every_s = every_s
        self.timeout_s = min(timeout_s, every_s)
        self._clock = clock
        self._sleep = sleep
        self._paused = False  # logged that pings stopped because the agent is not healthy
        self._failing = False  # logged that pings fail

    async def ping_once(self) -> Delivery:
        """One GET of the ping URL: ``ok`` on a 2xx answer. Never raises for the receiver or the network."""
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with (
                aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": _USER_AGENT}) as session,
                session.get(self._url) as response,
            ):
                await response.content.read(1024)  # the answer ("OK") is of no interest; bounded all the same
                status = response.status
        except TimeoutError:
            return Delivery.failed(f"deadman: no answer within {self.timeout_s:g} s", retry=True)
        except aiohttp.InvalidURL:
            return Delivery.failed("deadman: the ping URL is not a valid URL", retry=False)
        except aiohttp.ClientConnectorError as exc:  # its texts name the host and port: say only what failed
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else type(exc.os_error).__name__
            return Delivery.failed(f"deadman: cannot connect: {reason}", retry=True)
        except aiohttp.ClientError as exc:
            return Delivery.failed(f"deadman: {type(exc).__name__}", retry=True)
        except ValueError:  # yarl refusing the URL before aiohttp sees it
            return Delivery.failed("deadman: the ping URL is not a valid URL", retry=False)
        if 200 <= status < 300:
            return Delivery.sent(f"deadman: HTTP {status}")
        return Delivery.failed(f"deadman: HTTP {status}", retry=status >= 500 or status in (408, 429))

    async def run(self, healthy: Callable[[], bool]) -> None:
        """Ping at ``start + k * every_s`` while ``healthy()``; skip the slot (logging once per spell) while not.

        Slots missed (a slow ping, a suspended machine) are skipped, not made up. Runs until cancelled; a bug in
        ``healthy`` counts as unhealthy and is logged, so the switch falls silent rather than dying or lying.
        """
        start = self._clock()
        slot = 0
        while True:
            if self._is_healthy(healthy):
                self._resume()
                self._note(await self.ping_once())
            else:
                self._pause()
            now = self._clock()
            slot = max(slot + 1, math.floor((now - start) / self.every_s) + 1)
            await self._sleep(max(0.0, start + slot * self.every_s - now))

    def _is_healthy(self, healthy: Callable[[], bool]) -> bool:
        try:
            return bool(healthy())
        except Exception:
            log.exception("dead man's switch: the health check failed; treating the agent as not healthy")
            return False

    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            log.warning("dead man's switch: the agent is not healthy; pings stop until it is, so its monitor alerts")

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            log.info("dead man's switch: the agent is healthy again; pings resume")

    def _note(self, delivery: Delivery) -> None:
        if not delivery.ok and not self._failing:
            self._failing = True
            log.warning("dead man's switch: ping failed (%s); retrying every %g s", delivery.answer, self.every_s)
        elif delivery.ok and self._failing:
            self._failing = False
            log.info("dead man's switch: pings get through again (%s)", delivery.answer)
