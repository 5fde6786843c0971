"""Dispatch by channel kind: the one seam between the outbox and the senders (``deliver``).

Each kind has one function taking the validated ``Channel`` and the event's JSON text and returning a ``Delivery``.
The webhook sender is ``webhook.py``; Apprise and email are sent by ``apprise_channel.send_apprise`` and
``email_channel.send_email`` (plain values in, a ``Delivery`` out): the event's summary is the title (subject), its
JSON the body, so a receiver or a mail filter can read the event as it is. An email delivery whose stored body
carries an ``attachment`` (``cycle_closed``'s claim report, ``cycle_events.py``) is sent with it attached and the
event's JSON without it as the text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

import aiohttp

from probe_agent.config.notify_schema import Channel, EventType
from probe_agent.notify.apprise_channel import send_apprise
from probe_agent.notify.cycle_events import split_attachment
from probe_agent.notify.delivery import Delivery
from probe_agent.notify.email_channel import send_email
from probe_agent.notify.event import Event
from probe_agent.notify.webhook import send_webhook
from probe_agent.redaction import redact

Sender = Callable[[Channel, str, aiohttp.ClientSession], Awaitable[Delivery]]


async def deliver(channel: Channel, body: str, session: aiohttp.ClientSession) -> Delivery:
    """Send one event (``body``: its JSON text, byte for byte as stored) to ``channel``. Never raises for what the
    receiver does; a sender that raises anyway is a bug, reported as a failed, retried delivery."""
    try:
        return await SENDERS[channel.kind](channel, body, session)
    except Exception as exc:  # one bad sender must not stop the outbox
        return Delivery.failed(f"{channel.kind} sender failed: {type(exc).__name__}", retry=True)


async def send_test(channel: Channel, agent: str, now_ms: int, secrets: Iterable[str] = ()) -> Delivery:
    """``notify test``: a ``test`` event sent to ``channel`` now, not through the outbox; the answer redacted."""
    event = Event(
        EventType.TEST,
        agent,
        ("agent", f"test:{channel.id}"),
        now_ms,
        now_ms,
        f"test notification from probe-agent {agent} to channel {channel.id}",
        {"channel": channel.id},
    )
    async with aiohttp.ClientSession() as session:
        delivery = await deliver(channel, event.body(), session)
    return Delivery(ok=delivery.ok, retry=delivery.retry, answer=redact(delivery.answer, secrets))


async def _webhook(channel: Channel, body: str, session: aiohttp.ClientSession) -> Delivery:
    hook = channel.webhook
    assert hook is not None
    return await send_webhook(
        session, hook.url, body.encode(), secret=hook.secret, headers=hook.headers, timeout_s=hook.timeout / 1000
    )


async def _apprise(channel: Channel, body: str, session: aiohttp.ClientSession) -> Delivery:
    assert channel.apprise is not None
    return await send_apprise(channel.apprise, json.loads(body)["summary"], body)


async def _email(channel: Channel, body: str, session: aiohttp.ClientSession) -> Delivery:
    mail = channel.email
    assert mail is not None
    host, port = mail.host_port
    text, attachment = split_attachment(body)  # cycle_closed's claim report (cycle_events.py)
    return await send_email(
        host,
        port,
        mail.starttls,
        mail.username,
        mail.password,
        mail.from_,
        mail.to,
        subject=json.loads(text)["summary"],
        text=text,
        attachment=attachment,
    )


SENDERS: dict[str, Sender] = {"webhook": _webhook, "apprise": _apprise, "email": _email}
