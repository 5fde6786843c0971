"""Test-wide plugins: the fault register (``tests/faults/register.py``) sees every test marked ``fault``; tests
marked ``solo`` run alone under pytest-xdist (``tests/solo.py``).

Daemons the tests start (in-process or as ``probe-agent run`` subprocesses) run on asyncio's own event loop even
where the ``uvloop`` extra is installed, as the suite is written for it; ``tests/agent/test_eventloop.py`` starts one
on uvloop on purpose. ``PROBE_AGENT_LOOP=auto make test`` runs the suite's daemons on uvloop instead."""

import os

os.environ.setdefault("PROBE_AGENT_LOOP", "asyncio")

pytest_plugins = ["tests.faults.register", "tests.solo"]
