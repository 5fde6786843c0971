"""Probes: http, tcp, tls and dns checks against one endpoint, classified into a ``ProbeResult``.

The only place that imports aiohttp's client. The entry point is :func:`run_probe`; what the probes of one event
loop share (sessions, the DNS cache) is a :class:`ProbeClient`, one per event loop.
"""

from probe_agent.probes.client import ProbeClient
from probe_agent.probes.run import run_probe

__all__ = ["ProbeClient", "run_probe"]
