"""Which event loop ``run`` (the daemon) and ``serve`` run on: uvloop when it is installed, unless refused.

uvloop is an optional extra (``pip install 'probe-agent[uvloop]'``), never a requirement: the agent is the same
program on either loop, uvloop only makes each probe cheaper (bench/bench_probes.py ``--loop``). The environment
variable ``PROBE_AGENT_LOOP`` chooses:
- unset, empty or ``auto``: uvloop if it can be imported, else asyncio's own loop;
- ``asyncio``: asyncio's own loop even with uvloop installed (the way to refuse it);
- ``uvloop``: uvloop, and an error (``LoopChoiceError``) if it is not installed.
Anything else is an error naming the variable. The loop chosen is logged at start-up (``describe``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

ENV_VAR = "PROBE_AGENT_LOOP"
CHOICES = ("auto", "asyncio", "uvloop")

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
log = logging.getLogger("probe_agent.agent")


class LoopChoiceError(Exception):
    """``PROBE_AGENT_LOOP`` asks for something that cannot be had (a bad value, or uvloop not installed)."""

    exit_code = 2


def _uvloop_factory() -> LoopFactory | None:
    try:
        module = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: LoopFactory = module.new_event_loop
    return factory


def choose(environ: Mapping[str, str]) -> tuple[LoopFactory | None, str]:
    """The loop factory (None: asyncio's default) and its name (``uvloop`` or ``asyncio``) for ``environ``."""
    raw = environ.get(ENV_VAR, "")
    choice = raw.strip().lower() or "auto"
    if choice not in CHOICES:
        raise LoopChoiceError(f"{ENV_VAR}={raw!r} is not one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None, "asyncio"
    factory = _uvloop_factory()
    if factory is None:
        if choice == "uvloop":
            raise LoopChoiceError(
                f"{ENV_VAR}=uvloop but uvloop is not installed: pip install 'probe-agent[uvloop]', or unset {ENV_VAR}"
            )
        return None, "asyncio"
    return factory, "uvloop"


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str]) -> T:
    """``asyncio.run(main)`` on the loop ``choose(environ)`` picks (raises LoopChoiceError before starting)."""
    try:
        factory, name = choose(environ)
    except LoopChoiceError:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    log.info("running on the %s event loop", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def describe(loop: asyncio.AbstractEventLoop) -> str:
    """The running loop as the start-up log names it: ``uvloop`` or ``asyncio`` (with its class otherwise)."""
    module = type(loop).__module__
    if module.startswith("uvloop"):
        return "uvloop"
    return "asyncio" if module.startswith("asyncio") else f"{module}.{type(loop).__name__}"
