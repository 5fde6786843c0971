"""The email channel against a real SMTP server on loopback (aiosmtpd): what arrives, STARTTLS with a private CA,
AUTH with a canary password that appears in no log and no answer, and the failures that are data."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator

import pytest
import trustme

from probe_agent.notify.email_channel import send_email
from tests.notify.sinks import SmtpSink
from tests.probes.servers import LOOPBACK, closed_port

CANARY = "CanarySmtpPassword5519"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK, "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def plain_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


async def test_a_message_arrives_with_headers_text_html_and_attachment(plain_sink: SmtpSink) -> None:
    delivery = await send_email(
        LOOPBACK,
        plain_sink.port,
        starttls=False,
        username=None,
        password=None,
        sender="Probe Agent <agent@example.org>",
        to=["ops@example.org", "sre@example.org"],
        subject="cycle_closed: gold 2026-11",
        text="Credit owed: 10 %",
        html="<p>Credit owed: <b>10 %</b></p>",
        attachment=("claim-gold-2026-11.html", b"<html>claim</html>", "text/html"),
    )
    assert delivery.ok and not delivery.retry
    assert delivery.answer == f"email: sent to 2 recipients via {LOOPBACK}:{plain_sink.port}"
    [mail] = plain_sink.mails
    assert mail.mail_from == "agent@example.org"
    assert mail.rcpt_tos == ["ops@example.org", "sre@example.org"]
    message = mail.message()
    assert message["From"] == "Probe Agent <agent@example.org>"
    assert message["To"] == "ops@example.org, sre@example.org"
    assert message["Subject"] == "cycle_closed: gold 2026-11"
    assert message["Message-ID"].endswith("@example.org>")
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Credit owed: 10 %"
    html = message.get_body(("html",))
    assert html is not None and "<b>10 %</b>" in html.get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "claim-gold-2026-11.html"
    assert attached.get_content_type() == "text/html"
    assert attached.get_payload(decode=True) == b"<html>claim</html>"


async def test_a_subject_with_line_breaks_cannot_inject_headers(plain_sink: SmtpSink) -> None:
    delivery = await send_email(
        LOOPBACK,
        plain_sink.port,
        False,
        None,
        None,
        "agent@example.org",
        ["ops@example.org"],
        "api down\r\nBcc: evil@example.net\nX-Evil: 1",
        "text",
    )
    assert delivery.ok
    [mail] = plain_sink.mails
    assert mail.rcpt_tos == ["ops@example.org"]
    message = mail.message()
    assert message["Subject"] == "api down Bcc: evil@example.net X-Evil: 1"
    assert message["Bcc"] is None and message["X-Evil"] is None


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        ("agent@example.org\r\nBcc: evil@example.net", ["ops@example.org"]),
        ("agent@example.org", ["ops@example.org\nBcc: evil@example.net"]),
        ("agent@example.org", ["ops@example.org, evil@example.net"]),
        ("not an address", ["ops@example.org"]),
        ("agent@example.org", []),
    ],
)
async def test_a_bad_address_is_refused_before_anything_is_sent(
    plain_sink: SmtpSink, sender: str, to: list[str]
) -> None:
    delivery = await send_email(LOOPBACK, plain_sink.port, False, None, None, sender, to, "s", "t")
    assert not delivery.ok and not delivery.retry
    assert "evil" not in delivery.answer
    assert plain_sink.mails == []


async def test_starttls_and_auth_deliver_and_the_password_is_nowhere(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), SmtpSink(password=CANARY, tls=server_tls, require_starttls=True) as sink:
        delivery = await send_email(
            LOOPBACK, sink.port, True, "agent", CANARY, "agent@example.org", ["ops@example.org"], "s", "t",
            ssl_context=client_tls,
        )  # fmt: skip
    assert delivery.ok, delivery.answer
    assert [ok for _, ok in sink.logins] == [True]
    assert len(sink.mails) == 1
    assert CANARY not in caplog.text


async def test_a_wrong_password_is_refused_without_retry_and_the_password_is_nowhere(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), SmtpSink(password="the-right-one", tls=server_tls) as sink:
        delivery = await send_email(
            LOOPBACK, sink.port, True, "agent", CANARY, "agent@example.org", ["ops@example.org"], "s", "t",
            ssl_context=client_tls,
        )  # fmt: skip
    assert not delivery.ok and not delivery.retry
    assert delivery.answer.startswith("email: login refused: 535")
    assert CANARY not in delivery.answer
    assert CANARY not in caplog.text
    assert sink.mails == []


async def test_an_untrusted_certificate_fails_with_retry(server_tls: ssl.SSLContext) -> None:
    with SmtpSink(tls=server_tls) as sink:
        delivery = await send_email(
            LOOPBACK, sink.port, True, None, None, "agent@example.org", ["ops@example.org"], "s", "t",
            ssl_context=ssl.create_default_context(),  # the system's trust store: the test CA is not in it
        )  # fmt: skip
    assert not delivery.ok and delivery.retry
    assert delivery.answer.startswith("email: TLS: ")
    assert sink.mails == []


async def test_starttls_asked_of_a_server_without_it_is_not_retried(plain_sink: SmtpSink) -> None:
    delivery = await send_email(
        LOOPBACK, plain_sink.port, True, None, None, "agent@example.org", ["ops@example.org"], "s", "t"
    )
    assert not delivery.ok and not delivery.retry
    assert plain_sink.mails == []


async def test_a_closed_port_fails_with_retry() -> None:
    port = closed_port()
    delivery = await send_email(
        LOOPBACK, port, False, "agent", CANARY, "agent@example.org", ["ops@example.org"], "s", "t", timeout_s=5
    )
    assert not delivery.ok and delivery.retry
    assert delivery.answer == f"email: cannot reach {LOOPBACK}:{port}: Connection refused"
