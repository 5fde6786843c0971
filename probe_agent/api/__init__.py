"""The HTTP server: the status page, the JSON API, ``/metrics`` and ``/healthz`` (aiohttp.web).

Run inside the daemon (``api:`` in the config) or alone over an existing database (``probe-agent serve``). Every
route reads the store on a read-only connection in a thread, so a slow report never stalls the probing loop.
"""
