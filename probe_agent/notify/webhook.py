"""The webhook channel: a POST of one JSON event, signed with HMAC-SHA256 when the channel has a secret.

The signature header is ``X-Probe-Agent-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>``;
a receiver recomputes it over the bytes it received (README "Notifications" has the few lines of Python).

What the answer means (``Delivery``): 2xx is sent; 408 and 429 are worth retrying, any other 4xx is not (the
receiver refuses this request as it is); 3xx is not followed (a POST redirected is a misconfigured URL) and not
retried; 5xx, a refused connection and a timeout are retried. Never raises for what the receiver does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping

import aiohttp

from probe_agent.notify.delivery import Delivery

SIGNATURE_HEADER = "X-Probe-Agent-Signature"
_RETRYABLE_4XX = (408, 429)
_ANSWER_BODY_CHARS = 120


def signature(secret: str, body: bytes) -> str:
    """The header value: ``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed by ``secret`` (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send_webhook(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    secret: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> Delivery:
    """POST ``body`` (JSON) to ``url`` and say what came of it. ``timeout_s`` bounds the whole request."""
    sent_headers = {"Content-Type": "application/json", "User-Agent": "probe-agent", **(headers or {})}
    if secret:
        sent_headers[SIGNATURE_HEADER] = signature(secret, body)
    try:
        async with session.post(
            url,
            data=body,
            headers=sent_headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            text = (await response.content.read(_ANSWER_BODY_CHARS * 4)).decode("utf-8", "replace")
            status = response.status
    except TimeoutError:
        return Delivery.failed(f"no answer within {timeout_s:g} s", retry=True)
    except aiohttp.ClientError as exc:
        # The exception's text names host and port, not the path or query: no token from the URL reaches it.
        return Delivery.failed(f"{type(exc).__name__}: {_short(str(exc))}", retry=True)
    except asyncio.CancelledError:
        raise
    answer = f"HTTP {status}" + (f": {_short(text)}" if text.strip() else "")
    if 200 <= status < 300:
        return Delivery.sent(answer)
    if 300 <= status < 400:
        return Delivery.failed(answer + " (redirects are not followed: use the final URL)", retry=False)
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return Delivery.failed(answer, retry=False)
    return Delivery.failed(answer, retry=True)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _ANSWER_BODY_CHARS else flat[: _ANSWER_BODY_CHARS - 3] + "..."
