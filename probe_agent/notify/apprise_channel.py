"""The ``apprise`` channel: one notification to every service Apprise knows (Slack, Teams, Discord, Telegram, ntfy,
PagerDuty, Opsgenie, ``mailto://`` ...), so the project writes no per-service client.

Apprise URLs carry credentials (a Slack webhook's tokens, a Telegram bot token in the host part, a password in the
user info), so the whole URL is a secret: it is never logged, and never put in a ``Delivery.answer``, which names a
URL only by its scheme and position. Apprise logs through its own ``apprise`` logger, and what it logs can hold a
URL's parts (a token, a host with a key in it) rather than the whole URL the log handler redacts:
``quiet_apprise_logging`` puts a filter on that logger that redacts every part of every secret URL first.

Apprise is synchronous; each URL is sent from a daemon thread (``blocking.call_in_thread``) under one deadline.
Apprise reports only success or failure, not why, so a failed URL is retried (``retry=True``): a service that is
down comes back, and a wrong token keeps failing until the channel is fixed (the outbox's backoff is capped). A URL
Apprise cannot parse is a configuration mistake: ``retry=False``.
"""

from __future__ import annotations

import logging
import re
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import apprise
from apprise.attachment.memory import AttachMemory

from probe_agent.notify.blocking import call_in_thread
from probe_agent.notify.delivery import Delivery

APPRISE_LOGGER = "apprise"
# Apprise's HTTP plugins send through requests and urllib3, whose loggers name the request path at DEBUG
# (``"POST /hooks/<token> HTTP/1.1" 500``) and in retry warnings: they get the same filter.
_LOGGERS = (APPRISE_LOGGER, "requests", "urllib3")
_MIN_PART = 4  # shorter parts ("json", "443") are not credentials, and redacting them would garble every line
_SEPARATORS = re.compile(r"[/:@?&=#,;+ ]+")
# Apprise's in-memory attachment has an untyped constructor; given its type here, once.
_memory_attachment: Callable[..., Any] = AttachMemory


@dataclass(frozen=True, slots=True)
class _Outcome:
    index: int  # 1-based position of the URL in the channel's list
    scheme: str
    status: str  # "sent", "failed", "invalid"


async def send_apprise(
    urls: Sequence[str],
    title: str,
    body: str,
    attachment: tuple[str, bytes, str] | None = None,
    timeout_s: float = 30,
) -> Delivery:
    """Send ``title``/``body`` (and ``attachment``: filename, content, MIME type) to every URL, within ``timeout_s``
    seconds for all of them together.

    ``ok`` only when every URL took it. A retry sends to all URLs again, so a URL that had taken it gets it twice;
    events carry a stable id for that (at least once, not exactly once).
    """
    if not urls:
        return Delivery.failed("apprise: no URLs configured", retry=False)
    _redacting_filter().add(urls)  # safe even if the caller (``notify test``) never called quiet_apprise_logging
    try:
        outcomes = await call_in_thread(
            lambda: [_send_one(i, url, title, body, attachment) for i, url in enumerate(urls, 1)],
            timeout_s,
            name="apprise-send",
        )
    except TimeoutError:
        return Delivery.failed(f"apprise: no answer within {timeout_s:g} s", retry=True)
    return _delivery(outcomes)


def _send_one(index: int, url: str, title: str, body: str, attachment: tuple[str, bytes, str] | None) -> _Outcome:
    scheme = _scheme(url)
    sender = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))  # no state written to disk
    if not sender.add(url):
        return _Outcome(index, scheme, "invalid")
    # The first add() loads Apprise's plugins, which import requests and urllib3 and so make their child loggers
    # (urllib3.connectionpool names the request path): they get the filter before anything is sent.
    _redacting_filter()
    attach = None
    if attachment is not None:
        filename, content, mime = attachment
        attach = apprise.AppriseAttachment(_memory_attachment(content=content, name=filename, mimetype=mime))
    sent = sender.notify(body=body, title=title, attach=attach)
    return _Outcome(index, scheme, "sent" if sent else "failed")


def _delivery(outcomes: list[_Outcome]) -> Delivery:
    sent = [o for o in outcomes if o.status == "sent"]
    if len(sent) == len(outcomes):
        return Delivery.sent(f"apprise: sent to {len(sent)} of {len(outcomes)} URLs")
    invalid = [o for o in outcomes if o.status == "invalid"]
    failed = [o for o in outcomes if o.status == "failed"]
    parts = []
    if invalid:
        parts.append("not an Apprise URL: " + ", ".join(_name(o) for o in invalid))
    if failed:
        parts.append("failed: " + ", ".join(_name(o) for o in failed))
    text = f"apprise: sent to {len(sent)} of {len(outcomes)} URLs; " + "; ".join(parts)
    # Only a failure that can pass is worth retrying; a URL Apprise cannot read stays unreadable.
    return Delivery.failed(text, retry=bool(failed))


def _name(outcome: _Outcome) -> str:
    return f"#{outcome.index} ({outcome.scheme})" if outcome.scheme else f"#{outcome.index}"


def _scheme(url: str) -> str:
    """The URL's scheme when it looks like one (letters, digits, ``+.-``): the only part of it safe to show."""
    head, sep, _ = url.partition("://")
    return head if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", head) else ""


def secret_parts(secret: str) -> set[str]:
    """What to redact for one secret value: the value itself and, for a URL, each of its parts after the scheme
    (user, password, host, path segments, query values), raw and percent-decoded, of ``_MIN_PART`` characters or
    more. A Telegram URL's bot token is its host; a Slack URL's tokens are path segments."""
    parts = {secret}
    _, sep, rest = secret.partition("://")
    if sep:
        parts.add(rest)
        for piece in _SEPARATORS.split(rest):
            parts.add(piece)
            parts.add(urllib.parse.unquote(piece))
    return {p for p in parts if len(p) >= _MIN_PART}


class _RedactFilter(logging.Filter):
    """Rewrites each record of the ``apprise`` logger to its redacted text before any handler sees it (the
    journal's, pytest's capture, a handler a library adds): message, arguments and traceback alike."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        parts = set(self.parts)
        for secret in secrets:
            parts |= secret_parts(secret)
        # Longest first, so no piece of a longer part survives; swapped in whole, as another thread may be logging.
        self.parts = sorted(parts, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for part in self.parts:
            text = text.replace(part, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        record.msg, record.args = self.redact(text), ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_apprise_logging(secrets: Iterable[str], level: int = logging.WARNING) -> None:
    """Route Apprise's logger (and those of the HTTP libraries under it) through redaction of every part of every
    secret in ``secrets`` (the config's resolved secret values, Apprise URLs among them), at ``level`` (Apprise logs
    each send at INFO and URLs at DEBUG).

    The daemon calls this at start and after a reload; calling again replaces the secrets (rotated ones go).
    ``send_apprise`` adds its own URLs to them in any case.
    """
    redact = _redacting_filter()
    redact.parts = []
    redact.add(secrets)
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(level)


def _redacting_filter() -> _RedactFilter:
    """The one filter, on Apprise's, requests' and urllib3's loggers and every child logger of theirs that exists
    (a logger's filter does not see its children's records; theirs are made at import, which ``apprise`` did)."""
    found = next((f for f in logging.getLogger(APPRISE_LOGGER).filters if isinstance(f, _RedactFilter)), None)
    redact = found or _RedactFilter(())
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _LOGGERS]
    for name in {*_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if redact not in logger.filters:
            logger.addFilter(redact)
    return redact
