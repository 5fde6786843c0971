"""Who may call what: no token or a wrong one gets 401 with a Bearer challenge, a read token on a write route 403,
the status page is public only with ``public_status``, and with no token configured (loopback only) reads are
open but writes are not. Other methods than a route's get 405. Every answer is JSON ``{"error", "status"}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from probe_agent.api.app import build_app
from probe_agent.api.auth import OWNER, Guard, guarded, match_token
from probe_agent.api.context import ApiContext
from probe_agent.config import load_config
from probe_agent.config.api_schema import Access, ApiToken
from probe_agent.config.document import Config
from probe_agent.store.schema import open_db

READER = "reader-token-0123456789abcdef"
WRITER = "writer-token-0123456789abcdef"
Client = Callable[..., Awaitable[TestClient[Any, Any]]]


def config(tmp_path: Path, api: str) -> Config:
    path = tmp_path / "probe-agent.yaml"
    db = tmp_path / "probe-agent.db"
    path.write_text(f'agent: {{database: "{db}"}}\nendpoints:\n  - {{id: web, tcp: "127.0.0.1:9"}}\napi: {api}\n')
    open_db(db).close()
    return load_config(path, env={"R": READER, "W": WRITER}).config


TOKENS = '{tokens: [{token: "${R}", owner: grafana}, {token: "${W}", owner: ops, access: write}]'


@guarded(Guard.WRITE)
async def _write_route(request: web.Request) -> web.Response:
    return web.json_response({"author": request[OWNER]})


@guarded(Guard.STATUS_PAGE)
async def _page(request: web.Request) -> web.Response:
    return web.Response(text="page")


async def client_for(aiohttp_client: Client, cfg: Config) -> TestClient[Any, Any]:
    context = ApiContext(lambda: cfg, Path(cfg.agent.database), lambda: 1_800_000_000_000, None, "a1")
    app = build_app(context)
    # A write route and a page of the kinds later issues add (incident actions; the status page): the guards are
    # what is under test here, whatever the routes do.
    app.router.add_post("/test/write", _write_route)
    app.router.add_get("/test/page", _page)
    return await aiohttp_client(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_missing_or_wrong_token_is_401(tmp_path: Path, aiohttp_client: Client) -> None:
    client = await client_for(aiohttp_client, config(tmp_path, TOKENS + "}"))
    for headers in ({}, bearer("wrong-token-0123456789abcdef"), {"Authorization": f"Basic {READER}"},
                    bearer(READER + "x"), bearer(READER[:-1])):  # fmt: skip
        answer = await client.get("/healthz", headers=headers)
        assert answer.status == 401, headers
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="probe-agent"'
        body = await answer.json()
        assert body["status"] == 401 and "token" in body["error"]
        assert READER not in await answer.text()
    answer = await client.get("/healthz", headers=bearer(READER))
    assert answer.status == 200 and (await answer.json())["status"] == "ok"
    # the scheme is case-insensitive, as RFC 7235 has it
    assert (await client.get("/healthz", headers={"Authorization": f"bearer {READER}"})).status == 200


async def test_a_read_token_on_a_write_route_is_403(tmp_path: Path, aiohttp_client: Client) -> None:
    client = await client_for(aiohttp_client, config(tmp_path, TOKENS + "}"))
    answer = await client.post("/test/write", headers=bearer(READER))
    assert answer.status == 403
    assert (await answer.json())["error"] == "this token (owner grafana) may only read"
    answer = await client.post("/test/write", headers=bearer(WRITER))
    assert answer.status == 200 and await answer.json() == {"author": "ops"}
    assert (await client.post("/test/write")).status == 401


async def test_the_status_page_is_public_only_when_configured(tmp_path: Path, aiohttp_client: Client) -> None:
    closed = await client_for(aiohttp_client, config(tmp_path, TOKENS + "}"))
    assert (await closed.get("/test/page")).status == 401
    assert (await closed.get("/test/page", headers=bearer(READER))).status == 200
    public = await client_for(aiohttp_client, config(tmp_path, TOKENS + ", public_status: true}"))
    assert (await public.get("/test/page")).status == 200
    # everything else still needs a token
    assert (await public.get("/healthz")).status == 401
    assert (await public.get("/no/such/route")).status == 401


async def test_no_tokens_reads_open_writes_refused(tmp_path: Path, aiohttp_client: Client) -> None:
    client = await client_for(aiohttp_client, config(tmp_path, "{}"))
    assert (await client.get("/healthz")).status == 200
    answer = await client.post("/test/write")
    assert answer.status == 403
    assert "api.tokens" in (await answer.json())["error"]


async def test_other_methods_get_405_and_unknown_paths_404(tmp_path: Path, aiohttp_client: Client) -> None:
    client = await client_for(aiohttp_client, config(tmp_path, TOKENS + "}"))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = await client.request(method, "/healthz", headers=bearer(WRITER))
        assert answer.status == 405, method
        assert answer.headers["Allow"] == "GET,HEAD"
        assert (await answer.json())["status"] == 405
    answer = await client.get("/no/such/route", headers=bearer(READER))
    assert answer.status == 404 and (await answer.json())["status"] == 404
    assert (await client.head("/healthz", headers=bearer(READER))).status == 200


def test_match_token_compares_every_token() -> None:
    tokens = (ApiToken(token=READER, owner="a"), ApiToken(token=WRITER, owner="b", access=Access.WRITE))
    assert match_token(tokens, READER) is tokens[0]
    assert match_token(tokens, WRITER) is tokens[1]
    assert match_token(tokens, READER[:-1]) is None and match_token(tokens, "") is None
    assert match_token(tokens, "\udcff") is None  # a header's undecodable byte is not an error


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token x", ""])
async def test_malformed_authorization_is_401(tmp_path: Path, aiohttp_client: Client, header: str) -> None:
    client = await client_for(aiohttp_client, config(tmp_path, TOKENS + "}"))
    answer = await client.get("/healthz", headers={"Authorization": header})
    assert answer.status == 401
