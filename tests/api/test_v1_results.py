"""``GET /api/v1/results``: the JSON Lines ``export`` writes, for the same range, streamed in bounded pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from probe_agent.api import v1
from probe_agent.api.app import build_app
from probe_agent.cli import main
from probe_agent.config import LoadedConfig
from probe_agent.store import result_pages
from tests.api.v1_fixtures import AUTH, ENV, FRA_RESULTS, NOW_RUNNING, RESULTS_PER_AGENT_ENDPOINT, context, populate

Client = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LoadedConfig:
    return populate(tmp_path_factory.mktemp("v1results"))


def export(loaded: LoadedConfig, *args: str) -> str:
    out = CliRunner().invoke(main, ["export", "-c", str(loaded.path), *args], env=ENV)
    assert out.exit_code == 0, out.output
    return out.output


async def fetch(aiohttp_client: Client, loaded: LoadedConfig, path: str) -> str:
    client = await aiohttp_client(build_app(context(loaded, NOW_RUNNING)))
    response = await client.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    return await response.text()


SAME_AS_EXPORT = [
    ("?from=2026-09-01&to=2026-10-01", ["--from", "2026-09-01", "--to", "2026-10-01"]),
    ("?endpoint=web&from=2026-09-10T11:00:00Z&to=2026-09-10T14:00:00Z",
     ["--endpoint", "web", "--from", "2026-09-10T11:00:00Z", "--to", "2026-09-10T14:00:00Z"]),
    ("?endpoint=web&endpoint=db&from=2026-09-03&to=2026-09-04",
     ["--endpoint", "web", "--endpoint", "db", "--from", "2026-09-03", "--to", "2026-09-04"]),
    ("?agent=fra-1&from=2026-09-01&to=2026-10-01", ["--agent", "fra-1", "--from", "2026-09-01", "--to", "2026-10-01"]),
]  # fmt: skip


@pytest.mark.parametrize("page", [7, v1.RESULTS_PAGE], ids=["pages-of-7", "default-pages"])
@pytest.mark.parametrize(("query", "args"), SAME_AS_EXPORT, ids=[q for q, _ in SAME_AS_EXPORT])
async def test_results_are_the_lines_export_writes(
    aiohttp_client: Client,
    store: LoadedConfig,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    args: list[str],
    page: int,
) -> None:
    """Pages of 7 split the results of one timestamp (two or three share each) across pages: the key (ts, row id)
    resumes exactly after the last one sent, so no line is lost or repeated."""
    monkeypatch.setattr(v1, "RESULTS_PAGE", page)
    expected = export(store, *args)
    got = await fetch(aiohttp_client, store, "/api/v1/results" + query)
    assert got == expected
    assert got.endswith("\n")


async def test_the_whole_month_is_every_result(aiohttp_client: Client, store: LoadedConfig) -> None:
    got = await fetch(aiohttp_client, store, "/api/v1/results?from=2026-08-01&to=2026-11-01")
    assert got.count("\n") == 2 * RESULTS_PER_AGENT_ENDPOINT + FRA_RESULTS


async def test_without_from_and_to_the_last_24_hours_in_pages_of_bounded_size(
    aiohttp_client: Client, store: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Now is Sep 20 15:00 UTC: the 24 h before it hold 288 probe times x 2 endpoints = 576 results of ams-1 (fra-1
    probed on Sep 3 only). In pages of 100: five full reads and one of 76, never more than 100 rows in hand."""
    reads: list[int] = []
    real = result_pages.results_page

    def counted(*args: Any, **kwargs: Any) -> Any:
        rows, after = real(*args, **kwargs)
        reads.append(len(rows))
        return rows, after

    monkeypatch.setattr(v1, "RESULTS_PAGE", 100)
    monkeypatch.setattr(v1, "results_page", counted)
    lines = (await fetch(aiohttp_client, store, "/api/v1/results")).splitlines()
    assert len(lines) == 576
    assert lines[0].startswith('{"ts":"2026-09-19T15:00:00.000Z"')
    assert lines[-1].startswith('{"ts":"2026-09-20T14:55:00.000Z"')
    assert reads == [100, 100, 100, 100, 100, 76]


async def test_an_empty_range_is_an_empty_body(aiohttp_client: Client, store: LoadedConfig) -> None:
    assert await fetch(aiohttp_client, store, "/api/v1/results?from=2027-01-01&to=2027-02-01") == ""


def test_a_page_ends_where_the_next_begins(store: LoadedConfig) -> None:
    """The store query alone: pages of 3 over one hour of both endpoints (12 probe times x 2) join to the
    one-statement read of ``queries.iter_results``."""
    from probe_agent.store import queries
    from probe_agent.store.schema import open_db

    conn = open_db(store.config.agent.database, readonly=True)
    try:
        lo, hi = 1_789_000_000_000, 1_789_000_000_000 + 3_600_000
        whole = list(queries.iter_results(conn, start_ms=lo, end_ms=hi))
        joined, after, pages = [], None, 0
        while True:
            rows, after = result_pages.results_page(conn, start_ms=lo, end_ms=hi, after=after, limit=3)
            joined += rows
            pages += 1
            if after is None:
                break
    finally:
        conn.close()
    assert len(whole) == 24
    assert joined == whole
    assert pages == 9  # eight full pages, then an empty one that says the end


async def test_a_store_failure_mid_stream_cuts_the_response(
    aiohttp_client: Client, store: LoadedConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the 200 is sent, a failed page cannot become an error answer: the stream ends without its last chunk,
    so the client sees an incomplete body (an error), never a shorter file that looks whole."""
    from probe_agent.store.schema import StoreError

    calls: list[int] = []
    real = result_pages.results_page

    def failing_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("the database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(v1, "RESULTS_PAGE", 50)
    monkeypatch.setattr(v1, "results_page", failing_second)
    client = await aiohttp_client(build_app(context(store, NOW_RUNNING)))
    response = await client.get("/api/v1/results", headers=AUTH)
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert "the response was cut" in caplog.text


async def test_a_store_failure_before_the_first_line_is_a_503(
    aiohttp_client: Client, store: LoadedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probe_agent.store.schema import StoreError

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("the database is locked")

    monkeypatch.setattr(v1, "results_page", failing)
    client = await aiohttp_client(build_app(context(store, NOW_RUNNING)))
    response = await client.get("/api/v1/results", headers=AUTH)
    assert response.status == 503
    assert await response.json() == {"error": "the database cannot be read now: the database is locked", "status": 503}
