"""A blocking call (Apprise, smtplib) run off the event loop, with a deadline the loop keeps.

Why a daemon thread of its own and not ``asyncio.to_thread``: Python cannot stop a thread, so a send that hangs past
its deadline keeps running. In the loop's default executor such a thread would hold a worker and, on Python 3.11,
make ``asyncio.run`` wait for it at exit (``shutdown_default_executor`` has no timeout there). A daemon thread is
abandoned instead; the libraries' own socket timeouts (set from the same deadline) end it soon after.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def call_in_thread(fn: Callable[[], T], timeout_s: float, name: str) -> T:
    """``fn()`` in a new daemon thread; its value, or its exception re-raised here.

    Raises ``TimeoutError`` when ``timeout_s`` seconds (must be > 0) pass first; the thread is then left to finish
    on its own and its outcome dropped.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, not {timeout_s}")
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(value: T) -> None:
        if not done.done():  # else the caller gave up (deadline or cancellation): nobody waits for it
            done.set_result(value)

    def fail(error: BaseException) -> None:
        if not done.done():
            done.set_exception(error)

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting task, which decides
            _post(loop, functools.partial(fail, exc))  # bound now: ``exc`` is unset once the block ends
        else:
            _post(loop, functools.partial(deliver, value))

    threading.Thread(target=work, name=name, daemon=True).start()
    return await asyncio.wait_for(done, timeout_s)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass  # the loop closed while the call ran: the caller is gone
