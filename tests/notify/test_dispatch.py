"""Dispatch by channel kind: apprise and email go through their modules when the build has them, and otherwise fail
for good saying so (the seam the channels part fills)."""

from __future__ import annotations

import importlib.util

import aiohttp
import pytest

from probe_agent.config.notify_schema import Channel
from probe_agent.notify.delivery import Delivery
from probe_agent.notify.dispatch import deliver, redact


@pytest.mark.parametrize(
    ("module", "channel"),
    [
        ("apprise_channel", {"id": "a", "apprise": "json://127.0.0.1:9/"}),
        ("email_channel", {"id": "m", "email": {"smtp": "127.0.0.1:9", "from": "a@x", "to": ["b@x"]}}),
    ],
)
async def test_a_kind_without_its_module_fails_for_good_saying_so(module: str, channel: dict[str, object]) -> None:
    if importlib.util.find_spec(f"probe_agent.notify.{module}") is not None:
        pytest.skip(f"this build has probe_agent.notify.{module}")
    model = Channel.model_validate(channel)
    async with aiohttp.ClientSession() as session:
        got = await deliver(model, '{"summary": "s"}', session)
    assert got == Delivery(ok=False, retry=False, answer=f"{model.kind} channel not available in this build")


def test_redact_replaces_the_longest_secret_first() -> None:
    assert redact("token abcdef and abc", ["abc", "abcdef", ""]) == "token *** and ***"
