"""The JSON API under /api/v1/: the same JSON as the CLI's ``--format json`` for the same store, config and "now";
400 for what a client sends wrong (with what the message says), 404 for ids that are not there.

The API runs in-process (pytest-aiohttp's client over ``build_app``) on the store of ``v1_fixtures``; the CLI runs
through click's runner with "now" pinned in its command modules.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from probe_agent.agent.runlock import RunLock
from probe_agent.api.app import build_app
from probe_agent.config import LoadedConfig
from tests.api.v1_fixtures import AUTH, NOW_DONE, NOW_RUNNING, cli_json, context, populate

Client = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LoadedConfig:
    return populate(tmp_path_factory.mktemp("v1"))


async def client_at(aiohttp_client: Client, loaded: LoadedConfig, now: int) -> TestClient[Any, Any]:
    return await aiohttp_client(build_app(context(loaded, now)))


async def get_json(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path, headers=AUTH)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


def pin_cli_now(monkeypatch: pytest.MonkeyPatch, now: int) -> None:
    for module in ("report", "status"):
        monkeypatch.setattr(f"probe_agent.commands.{module}.now_ms", lambda: now)


SAME_AS_CLI = [
    ("/api/v1/status", ["status"]),
    ("/api/v1/status?agent=fra-1", ["status", "--agent", "fra-1"]),
    ("/api/v1/slas/gold/report", ["report", "--sla", "gold"]),
    ("/api/v1/slas/gold/report?cycle=2026-09", ["report", "--sla", "gold", "--cycle", "2026-09"]),
    ("/api/v1/slas/gold/report?cycle=2026-08", ["report", "--sla", "gold", "--cycle", "2026-08"]),
    ("/api/v1/slas/slices/report?cycle=2026-09", ["report", "--sla", "slices", "--cycle", "2026-09"]),
    (
        "/api/v1/slas/gold/report?from=2026-09-10&to=2026-09-11T06:00:00%2B02:00",
        ["report", "--sla", "gold", "--from", "2026-09-10", "--to", "2026-09-11T06:00:00+02:00"],
    ),
    ("/api/v1/slas/gold/credits", ["credits", "--sla", "gold"]),
    ("/api/v1/slas/gold/credits?cycle=2026-09", ["credits", "--sla", "gold", "--cycle", "2026-09"]),
    ("/api/v1/slas/slices/credits?cycle=2026-09", ["credits", "--sla", "slices", "--cycle", "2026-09"]),
    ("/api/v1/incidents", ["incidents"]),
    ("/api/v1/incidents?sla=gold", ["incidents", "--sla", "gold"]),
    ("/api/v1/incidents?service=shop&from=2026-09-01", ["incidents", "--service", "shop", "--from", "2026-09-01"]),
    (
        "/api/v1/incidents?endpoint=web&from=2026-09-15&to=2026-10-01",
        ["incidents", "--endpoint", "web", "--from", "2026-09-15", "--to", "2026-10-01"],
    ),
]


@pytest.mark.parametrize("now", [NOW_DONE, NOW_RUNNING], ids=["done", "running"])
@pytest.mark.parametrize(("path", "args"), SAME_AS_CLI, ids=[p for p, _ in SAME_AS_CLI])
async def test_the_api_answers_what_the_cli_prints(
    aiohttp_client: Client,
    store: LoadedConfig,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    args: list[str],
    now: int,
) -> None:
    pin_cli_now(monkeypatch, now)
    expected = cli_json(store.path, *args)
    got = await get_json(await client_at(aiohttp_client, store, now), path)
    assert got == expected


async def test_the_documents_hold_the_figures_of_the_store(aiohttp_client: Client, store: LoadedConfig) -> None:
    """Hand-counted against the store, so equal-to-the-CLI is not equal-and-both-wrong: September for ``slices``
    (UTC, web only) counts 85 minutes of web down (60 on Sep 10, 25 on Sep 20) in 30 days; the closed ``gold``
    cycle is the stored one; the incidents of ``web`` are those two outages."""
    client = await client_at(aiohttp_client, store, NOW_DONE)
    slices = await get_json(client, "/api/v1/slas/slices/report?cycle=2026-09")
    assert slices["seconds"]["down"] == 85 * 60
    assert slices["seconds"]["total"] == 30 * 86400
    gold = await get_json(client, "/api/v1/slas/gold/report?cycle=2026-09")
    assert gold["closed"]["closed_at"] == "2026-10-02T00:00:00.000Z"
    assert gold["closed"]["differs_today"] is False
    incidents = await get_json(client, "/api/v1/incidents?endpoint=web&from=2026-09-01&to=2026-10-01")
    assert [(i["start"], i["duration_s"]) for i in incidents["incidents"]] == [
        ("2026-09-10T12:00:00+00:00", 3600.0),
        ("2026-09-20T08:00:00+00:00", 1500.0),
    ]
    credits = await get_json(client, "/api/v1/slas/gold/credits?cycle=2026-09")
    assert (credits["sla"], credits["credit"]["currency"]) == ("gold", "EUR")


async def test_status_names_the_live_holder_of_the_lock_as_the_cli_does(
    aiohttp_client: Client, store: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon of this agent holds the run lock in this very process (as when the API runs inside the daemon):
    the API reads the lock as ``status`` does and shows the holder's pid and its store note."""
    pin_cli_now(monkeypatch, NOW_RUNNING)
    lock = RunLock(Path(store.config.agent.database), "ams-1")
    lock.acquire()
    try:
        lock.note('{"store": "trouble", "problem": "disk full", "since_ms": 1, "updated_ms": 2}')
        expected = cli_json(store.path, "status")
        got = await get_json(await client_at(aiohttp_client, store, NOW_RUNNING), "/api/v1/status")
    finally:
        lock.release()
    assert got == expected
    assert got["daemon"]["pid"] == os.getpid()
    assert got["daemon"]["store"] is None  # no run is open in this store: the note shows only with a live run
    other = await get_json(await client_at(aiohttp_client, store, NOW_RUNNING), "/api/v1/status")
    assert other["daemon"]["pid"] is None  # released: nobody holds it


BAD_REQUESTS = [
    ("/api/v1/slas/gold/report?cycle=2026-13", "cycle: the month must be 01-12, got '2026-13'"),
    (
        "/api/v1/slas/gold/report?cycle=26-09",
        "cycle must be YYYY-MM (the month the billing cycle starts in), got '26-09'",
    ),
    ("/api/v1/slas/gold/report?cycle=1969-12", "cycle: the year must lie between 1970 and 8999, got '1969-12'"),
    ("/api/v1/slas/gold/report?cycle=2026-09&from=2026-09-01&to=2026-10-01", "give cycle, or from and to, not both"),
    ("/api/v1/slas/gold/report?from=2026-09-01", "give both from and to, or neither"),
    ("/api/v1/slas/gold/report?from=2026-09-10&to=2026-09-10", "to (2026-09-10) must be after from (2026-09-10)"),
    (
        "/api/v1/slas/gold/report?from=2026-09-31&to=2026-10-01",
        "from: not a date: '2026-09-31' (day is out of range for month)",
    ),
    (
        "/api/v1/slas/gold/report?from=2026-09-01T00:00:00&to=2026-10-01",
        "from: '2026-09-01T00:00:00' has no UTC offset; add one ('Z', '+01:00') or give a plain date",
    ),
    (
        "/api/v1/slas/gold/report?from=1969-12-01&to=2026-10-01",
        "from: '1969-12-01' is not between 1970-01-01 and 9000-01-01 UTC",
    ),
    (
        "/api/v1/slas/gold/report?from=1970-01-01&to=2026-10-01",  # Berlin's midnight is 23:00 UTC the day before
        "from: '1970-01-01' is not between 1970-01-01 and 9000-01-01 UTC",
    ),
    (
        "/api/v1/slas/gold/report?from=2016-01-01&to=2026-02-18",
        "from/to: at most 3700 days (the report has a figure per day); ask for several windows",
    ),
    ("/api/v1/slas/gold/report?cycel=2026-09", "unknown parameter 'cycel' (this route takes: cycle, from, to)"),
    ("/api/v1/slas/gold/report?cycle=2026-09&cycle=2026-08", "cycle: give it once (it was given 2 times)"),
    ("/api/v1/slas/gold/report?cycle=", "cycle: empty value"),
    ("/api/v1/slas/gold/credits?from=2026-09-01&to=2026-10-01", "unknown parameter 'from' (this route takes: cycle)"),
    ("/api/v1/incidents?sla=gold&endpoint=web", "give at most one of sla, service, endpoint (got sla, endpoint)"),
    ("/api/v1/incidents?from=2026-10-06", "to (default: now) must be after from (2026-10-06)"),
    ("/api/v1/incidents?to=2026-08-01", "to (2026-08-01) must be after from (default: 30 days before now)"),
    ("/api/v1/incidents?from=yesterday", "from: not an ISO 8601 date or datetime: 'yesterday'"),
    ("/api/v1/results?from=2026-09-02&to=2026-09-01", "to (2026-09-01) must be after from (2026-09-02)"),
    ("/api/v1/results?endpoint=web&limit=5", "unknown parameter 'limit' (this route takes: endpoint, agent, from, to)"),
    ("/api/v1/status?agent=a&agent=b", "agent: give it once (it was given 2 times)"),
    ("/api/v1/openapi.json?x=1", "unknown parameter 'x' (this route takes: no parameters)"),
]


@pytest.mark.parametrize(("path", "message"), BAD_REQUESTS, ids=[p for p, _ in BAD_REQUESTS])
async def test_a_bad_parameter_is_a_400_that_says_what_is_wrong(
    aiohttp_client: Client, store: LoadedConfig, path: str, message: str
) -> None:
    client = await client_at(aiohttp_client, store, NOW_DONE)
    assert await get_json(client, path, 400) == {"error": message, "status": 400}


NOT_FOUND = [
    ("/api/v1/slas/platinum/report", "unknown SLA 'platinum' (configured: gold, slices)"),
    ("/api/v1/slas/platinum/credits?cycle=2026-09", "unknown SLA 'platinum' (configured: gold, slices)"),
    ("/api/v1/incidents?sla=platinum", "unknown SLA 'platinum' (configured: gold, slices)"),
    ("/api/v1/incidents?service=cart", "unknown service 'cart' (configured: shop)"),
    ("/api/v1/incidents?endpoint=mail", "unknown endpoint 'mail' (configured: web, db)"),
    ("/api/v1/results?endpoint=web&endpoint=mail", "unknown endpoint(s) mail: not in the config and no results stored"),
    ("/api/v1/results?agent=lon-1", "unknown agent 'lon-1': not this config's agent.id, and no run or result stored"),
    ("/api/v1/status?agent=lon-1", "unknown agent 'lon-1': not this config's agent.id, and no run or result stored"),
]


@pytest.mark.parametrize(("path", "message"), NOT_FOUND, ids=[p for p, _ in NOT_FOUND])
async def test_an_unknown_id_is_a_404_that_names_it(
    aiohttp_client: Client, store: LoadedConfig, path: str, message: str
) -> None:
    client = await client_at(aiohttp_client, store, NOW_DONE)
    assert await get_json(client, path, 404) == {"error": message, "status": 404}


async def test_every_route_needs_the_token_and_takes_only_get(aiohttp_client: Client, store: LoadedConfig) -> None:
    client = await client_at(aiohttp_client, store, NOW_DONE)
    for path in ("/api/v1/status", "/api/v1/slas/gold/report", "/api/v1/results", "/api/v1/openapi.json"):
        response = await client.get(path)
        assert response.status == 401, path
        assert (await response.json())["status"] == 401
        wrong = await client.get(path, headers={"Authorization": "Bearer not-the-token-at-all-0000"})
        assert wrong.status == 401, path
        posted = await client.post(path, headers=AUTH)
        assert posted.status == 405, path
        assert posted.headers["Allow"] == "GET,HEAD"


async def test_the_librarys_own_refusal_is_a_400_too(
    aiohttp_client: Client, store: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API checks parameters first; should the report library still refuse a request (its messages worded for
    the CLI), the answer is a 400 with that message, not a 500."""
    from probe_agent.api import v1
    from probe_agent.reports.sla_reports import ReportRequestError

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ReportRequestError("periods must lie between 1970 and 9000")

    monkeypatch.setattr(v1, "report_docs", refuse)
    client = await client_at(aiohttp_client, store, NOW_DONE)
    for path in ("/api/v1/slas/gold/report", "/api/v1/slas/gold/credits"):
        assert await get_json(client, path, 400) == {"error": "periods must lie between 1970 and 9000", "status": 400}
