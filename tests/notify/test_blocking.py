"""call_in_thread: a blocking call's value or exception comes back; a deadline passes without waiting for it."""

from __future__ import annotations

import threading

import pytest

from probe_agent.notify.blocking import call_in_thread


async def test_the_value_comes_back() -> None:
    assert await call_in_thread(lambda: 6 * 7, 5, name="t") == 42


async def test_the_exception_comes_back() -> None:
    def boom() -> int:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await call_in_thread(boom, 5, name="t")


async def test_a_hung_call_times_out_and_is_abandoned() -> None:
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            await call_in_thread(lambda: release.wait(30), 0.05, name="hung")
    finally:
        release.set()  # the abandoned daemon thread ends now; its outcome goes nowhere
