"""Loopback receivers for the notification channels' tests: an HTTP sink that records each request and answers
with a status the test sets (a webhook, Apprise's ``json://``, a dead man's switch ping URL), and an SMTP sink."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.probes.servers import LOOPBACK, closed_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """Records every request; answers ``status`` (change it to make the receiver fail)."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.arrived:
            self.requests.append(Received(request.method, request.path, dict(request.headers), body))
            self.arrived.notify_all()
        return web.Response(status=self.status, text="sink says hi" if self.status < 400 else "sink is down")

    async def wait_for(self, count: int, timeout_s: float = 20) -> list[Received]:
        """Until ``count`` requests arrived (a generous timeout: the machine may be loaded); all of them."""
        async with asyncio.timeout(timeout_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    def json(self, index: int = -1) -> Any:
        import json

        return json.loads(self.requests[index].body)


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 (in its own thread, as aiosmtpd's Controller runs it) that keeps every
    message. ``password``: AUTH is required (after STARTTLS) with user ``agent`` and that password;
    ``tls``: STARTTLS offered with that context; ``require_starttls``: refuse mail before it."""

    def __init__(
        self, password: str | None = None, tls: ssl.SSLContext | None = None, require_starttls: bool = False
    ) -> None:
        self.mails: list[Mail] = []
        self.logins: list[tuple[str, bool]] = []
        kwargs: dict[str, Any] = {}
        if password is not None:
            kwargs.update(auth_required=True, authenticator=self._authenticator(password))
        if tls is not None:
            kwargs.update(tls_context=tls, require_starttls=require_starttls)
        self.controller = Controller(self, hostname=LOOPBACK, port=closed_port(), **kwargs)

    def _authenticator(self, password: str) -> Any:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data == (b"agent", password.encode())
            self.logins.append((mechanism, ok))
            return AuthResult(success=ok, handled=False)  # handled=True would leave the client unanswered

        return check

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 kept"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()
