"""The ``email`` channel: plain SMTP with the standard library (``smtplib``, ``email.message.EmailMessage``), so
no dependency is added for it.

The message is ``text`` as its plain part, ``html`` as the alternative when given, and one attachment (the
``cycle_closed`` event's HTML claim report). Headers are safe against injection: a subject's line breaks and other
control characters become spaces (an event summary may quote a target's answer), and an address that is not one
plain address (a line break, two addresses in one) is refused before anything is sent.

The SMTP conversation runs in a daemon thread (``blocking.call_in_thread``) with ``timeout_s`` as both the
socket timeout and the overall deadline. What the server or the network does is a ``Delivery``: a refused or lost
connection, a timeout, a TLS failure and a 4xx answer are retried; a refused login, a 5xx answer and a server
without STARTTLS (when asked for) are not, as they pass only once someone changes the config or the server. The
password and user name never appear in an answer; nothing here logs.
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from probe_agent.notify.blocking import call_in_thread
from probe_agent.notify.delivery import Delivery
from probe_agent.redaction import redact

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+")


class RefusedMessage(ValueError):
    """A message that cannot be built from these values (no recipient, an address that is not one address)."""


async def send_email(
    host: str,
    port: int,
    starttls: bool,
    username: str | None,
    password: str | None,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachment: tuple[str, bytes, str] | None = None,
    timeout_s: float = 30,
    ssl_context: ssl.SSLContext | None = None,
) -> Delivery:
    """Send one message from ``sender`` to every address in ``to`` through ``host:port``.

    ``starttls``: upgrade the connection before logging in (refused if the server does not offer it);
    ``username``: log in (with ``password``) when given. ``attachment`` is (filename, content, MIME type such as
    ``text/html``). ``ssl_context`` defaults to the system's trust store with host name checks (tests pass one
    that trusts their own CA).
    """
    try:
        message = build_message(sender, to, subject, text, html, attachment)
    except RefusedMessage as exc:
        return Delivery.failed(f"email: {exc}", retry=False)
    context = ssl_context or ssl.create_default_context()
    # A password however short; a user name only from 4 characters ("ops" would garble the server's words).
    secrets = [s for s in (password, username) if s and (s == password or len(s) >= 4)]
    envelope_to = [_bare(a) for a in to]

    def conversation() -> Delivery:
        return _converse(host, port, starttls, username, password, message, envelope_to, timeout_s, context)

    try:
        delivery = await call_in_thread(conversation, timeout_s, name="smtp-send")
    except TimeoutError:
        delivery = Delivery.failed(f"email: no answer from the SMTP server within {timeout_s:g} s", retry=True)
    answer = redact(delivery.answer, secrets)  # through the constructors again: cut to length after redaction
    return Delivery.sent(answer) if delivery.ok else Delivery.failed(answer, retry=delivery.retry)


def build_message(
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> EmailMessage:
    """The message, with safe headers; raises ``RefusedMessage`` for an address that is not one plain address."""
    if not to:
        raise RefusedMessage("no recipients configured")
    message = EmailMessage()
    message["From"] = _address(sender, "from")
    message["To"] = ", ".join(_address(a, "to") for a in to)
    message["Subject"] = _CONTROL.sub(" ", subject).strip()
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=_bare(sender).rpartition("@")[2])
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if attachment is not None:
        filename, content, mime = attachment
        maintype, _, subtype = mime.partition("/")
        if not subtype or _CONTROL.search(mime):
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            content, maintype=maintype, subtype=subtype, filename=_CONTROL.sub(" ", filename).strip() or "attachment"
        )
    return message


def _address(value: str, field: str) -> str:
    """``value`` as one header-safe address (``ops@example.org`` or ``Probe Agent <agent@example.org>``); else
    ``RefusedMessage``, naming the field only."""
    pairs = email.utils.getaddresses([value])
    if _CONTROL.search(value) or len(pairs) != 1 or not _ADDRESS.fullmatch(pairs[0][1]):
        raise RefusedMessage(f"the {field} address is not one address (user@host or Name <user@host>)")
    return email.utils.formataddr(pairs[0])


def _bare(value: str) -> str:
    """The envelope form of an address ``_address`` accepted."""
    return email.utils.parseaddr(value)[1]


def _converse(
    host: str,
    port: int,
    starttls: bool,
    username: str | None,
    password: str | None,
    message: EmailMessage,
    to: list[str],
    timeout_s: float,
    context: ssl.SSLContext,
) -> Delivery:
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            smtp.ehlo()
            if starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if username:
                smtp.login(username, password or "")
            refused = smtp.send_message(message, to_addrs=to)
    except smtplib.SMTPNotSupportedError:
        return Delivery.failed("email: the server does not offer STARTTLS or AUTH as configured", retry=False)
    except smtplib.SMTPAuthenticationError as exc:
        return Delivery.failed(f"email: login refused: {_said(exc.smtp_code, exc.smtp_error)}", retry=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        temporary = all(400 <= c < 500 for c in codes)
        return Delivery.failed(f"email: every recipient refused ({', '.join(map(str, codes))})", retry=temporary)
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, any other answer
        return Delivery.failed(f"email: {_said(exc.smtp_code, exc.smtp_error)}", retry=not 500 <= exc.smtp_code < 600)
    except smtplib.SMTPServerDisconnected:
        return Delivery.failed("email: the server closed the connection", retry=True)
    except smtplib.SMTPException as exc:
        return Delivery.failed(f"email: SMTP error ({type(exc).__name__})", retry=True)
    except ssl.SSLCertVerificationError as exc:
        return Delivery.failed(f"email: TLS: {exc.verify_message or 'certificate not trusted'}", retry=True)
    except ssl.SSLError as exc:
        return Delivery.failed(f"email: TLS: {exc.reason or type(exc).__name__}", retry=True)
    except TimeoutError:
        return Delivery.failed(f"email: no answer from the SMTP server within {timeout_s:g} s", retry=True)
    except OSError as exc:  # refused, unreachable, a name that does not resolve
        return Delivery.failed(f"email: cannot reach {host}:{port}: {exc.strerror or type(exc).__name__}", retry=True)
    if refused:
        # Taken for the others; a retry would send them a second copy, so this is delivered, with the count said.
        return Delivery.sent(f"email: sent to {len(to) - len(refused)} of {len(to)} recipients (the rest refused)")
    return Delivery.sent(f"email: sent to {len(to)} recipients via {host}:{port}")


def _said(code: int, error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{code} {_CONTROL.sub(' ', text).strip()}"
