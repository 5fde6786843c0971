"""Probes: http, tcp, tls and dns checks against one endpoint, classified into a ``ProbeResult``.

The only place that imports aiohttp's client. The entry point is :func:`run_probe`.
"""

from probe_agent.probes.run import run_probe

__all__ = ["run_probe"]
