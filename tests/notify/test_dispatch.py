"""Dispatch by channel kind, through ``deliver`` as the outbox sender calls it, to real loopback receivers: an
Apprise ``json://`` URL to an aiohttp sink, and email to an aiosmtpd server. The event's summary is the title
(subject) and its JSON the body, byte for byte."""

from __future__ import annotations

import json

import aiohttp

from probe_agent.config.notify_schema import Channel
from probe_agent.notify.delivery import Delivery
from probe_agent.notify.dispatch import deliver
from tests.notify.sinks import HttpSink, SmtpSink
from tests.probes.servers import closed_port, serve_app

EVENT = {"id": "e1", "type": "endpoint_down", "summary": "web is down (http_5xx)", "details": {"status": 503}}
BODY = json.dumps(EVENT)


async def test_an_apprise_channel_gets_the_summary_as_title_and_the_event_as_body() -> None:
    sink = HttpSink()
    async with serve_app(sink.app()) as server, aiohttp.ClientSession() as session:
        channel = Channel.model_validate({"id": "a", "apprise": f"json://127.0.0.1:{server.port}/hook"})
        got = await deliver(channel, BODY, session)
    assert got.ok, got
    payload = sink.json()
    assert payload["title"] == EVENT["summary"]
    assert json.loads(payload["message"]) == EVENT


async def test_an_email_channel_gets_the_summary_as_subject_and_the_event_as_text() -> None:
    with SmtpSink() as smtp:
        channel = Channel.model_validate(
            {"id": "m", "email": {"smtp": f"127.0.0.1:{smtp.port}", "starttls": False, "from": "a@x.test",
                                  "to": ["b@x.test", "c@x.test"]}}
        )  # fmt: skip
        async with aiohttp.ClientSession() as session:
            got = await deliver(channel, BODY, session)
    assert got.ok, got
    (mail,) = smtp.mails
    assert mail.rcpt_tos == ["b@x.test", "c@x.test"]
    message = mail.message()
    assert message["Subject"] == EVENT["summary"]
    assert json.loads(message.get_content()) == EVENT


async def test_a_closed_smtp_port_is_a_failed_delivery_to_retry() -> None:
    channel = Channel.model_validate(
        {"id": "m", "email": {"smtp": f"127.0.0.1:{closed_port()}", "starttls": False, "from": "a@x.test",
                              "to": ["b@x.test"]}}
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        got = await deliver(channel, BODY, session)
    assert (got.ok, got.retry) == (False, True)
    assert isinstance(got, Delivery)
