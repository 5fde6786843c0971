"""Running the application on ``api.listen`` (or an explicit host and port: tests use port 0)."""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from probe_agent.api.app import build_app
from probe_agent.api.context import ApiContext

log = logging.getLogger("probe_agent.api")


class ListenError(Exception):
    """The address cannot be listened on (in use, not this host's, no permission)."""


class ApiServer:
    def __init__(self, context: ApiContext, listen: tuple[str, int] | None = None) -> None:
        self.context = context
        self.listen = listen or context.api.host_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises ``ListenError`` with the address and the reason."""
        host, port = self.listen
        # No access log: a scrape every 15 s would fill the journal; errors are logged by the errors middleware.
        runner = web.AppRunner(build_app(self.context), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as exc:
            await runner.cleanup()
            raise ListenError(f"cannot listen on {_spell(host, port)}: {exc.strerror or exc}") from None
        self._runner = runner
        log.info("HTTP API listening on %s", ", ".join(_spell(h, p) for h, p in self.addresses))

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound (host, port) pairs: the real port when 0 was asked for."""
        if self._runner is None:
            return []
        return [(a[0], a[1]) for a in self._runner.addresses if isinstance(a, tuple)]

    @property
    def url(self) -> str:
        host, port = self.addresses[0]
        return f"http://{_spell(host, port)}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _spell(host: str, port: int) -> str:
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return f"{host}:{port}"
    return f"[{host}]:{port}"
