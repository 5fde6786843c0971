"""The JSON API under ``/api/v1/``: the documents of ``status``, ``report``, ``credits`` and ``incidents`` (the JSON
their ``--format json`` prints, made by the same library calls), the stored results as ``export`` writes them
(JSON Lines, streamed in pages), and ``openapi.json`` describing every route of the server.

Every route is a GET under the ``READ`` guard. Parameters are checked before any read (``params.py``): what a client
sends wrong is a 400 naming the parameter, an id that is not configured (SLA, service, endpoint; an agent or an
endpoint the store has never seen) a 404. Reads run on read-only connections in threads (``ApiContext.read``);
"now" is ``ApiContext.now_ms()``, the daemon's label clock inside the daemon.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from probe_agent.api.answers import BadRequest, NotFound
from probe_agent.api.auth import CONTEXT
from probe_agent.api.context import ApiContext
from probe_agent.api.openapi import NDJSON, openapi_document
from probe_agent.api.params import Query, check_cycle, window
from probe_agent.config.document import Config
from probe_agent.config.sla_schema import Sla
from probe_agent.model import DAY_MS, ProbeResult
from probe_agent.reports import scope
from probe_agent.reports.incident_list import list_incidents
from probe_agent.reports.json_types import ReportDoc
from probe_agent.reports.listings import credit_rows
from probe_agent.reports.sla_reports import ReportRequestError, report_docs
from probe_agent.reports.status import Holder, build_status
from probe_agent.store import queries
from probe_agent.store.result_pages import ResultKey, results_page

log = logging.getLogger("probe_agent.api")

PREFIX = "/api/v1"
RESULTS_PAGE = 2000  # results per read: ~0.5 MB of JSON Lines, one short read transaction each
RESULTS_DEFAULT_SPAN_MS = DAY_MS  # without from, results start this long before to
INCIDENTS_DEFAULT_SPAN_MS = 30 * DAY_MS  # as the incidents command: the last 30 days
# A report holds a bar per day: ten years are ~1 MB of JSON and a fraction of a second, a thousand would be 80 MB
# and a four-slot reader pool held for minutes. The CLI has no cap (its user waits for themselves).
MAX_REPORT_SPAN_MS = 3700 * DAY_MS

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def answer(doc: Any) -> web.Response:
    """A JSON document as the CLI's ``--format json`` prints it (not indented; UTF-8 as it is)."""
    return web.json_response(doc, dumps=_dumps)


def lock_holder(database: Path, agent: str) -> Holder | None:
    """The live daemon holding ``agent``'s lock on ``database`` on this host, as ``status`` reads it (the daemon
    itself when the API runs inside it: the lock is per open file, so this process's look is refused too)."""
    from probe_agent.agent.runlock import holder
    from probe_agent.agent.storehealth import read_note

    held = holder(database, agent)
    return None if held is None else Holder(held.pid, read_note(held.note))


def known_agent(conn: sqlite3.Connection, config: Config, agent: str) -> bool:
    """This config's agent, or one the store holds a run or a result of."""
    return (
        agent == config.agent.id
        or bool(queries.run_records(conn, agent))
        or bool(queries.last_results(conn, None, [agent]))
    )


def configured_sla(config: Config, sla_id: str) -> Sla:
    try:
        return config.sla(sla_id)
    except KeyError:
        known = ", ".join(s.id for s in config.slas) or "none"
        raise NotFound(f"unknown SLA '{sla_id}' (configured: {known})") from None


def _period_params(query: Query, config: Config, sla: Sla) -> tuple[str | None, str | None, str | None]:
    """``cycle``, ``from``, ``to`` of a report request, checked in the SLA's zone."""
    cycle = query.one("cycle")
    if cycle is not None:
        check_cycle(cycle)
    span = window(query, scope.sla_zone(config, sla), both_or_neither=True)
    if cycle is not None and span.from_ is not None:
        raise BadRequest("give cycle, or from and to, not both")
    if span.start_ms is not None and span.end_ms is not None and span.end_ms - span.start_ms > MAX_REPORT_SPAN_MS:
        raise BadRequest(
            f"from/to: at most {MAX_REPORT_SPAN_MS // DAY_MS} days (the report has a figure per day); "
            "ask for several windows"
        )
    return cycle, span.from_, span.to


async def _reports(ctx: ApiContext, read: Callable[[sqlite3.Connection], list[ReportDoc]]) -> list[ReportDoc]:
    """``read`` on the store; the library's own refusal of a request (its last line: the parameters were checked
    here first, in the API's words) is a 400 too, with its message."""
    try:
        return await ctx.read(read)
    except ReportRequestError as exc:
        raise BadRequest(str(exc)) from None


async def status(request: web.Request) -> web.Response:
    """``status --format json``; ``agent`` as ``--agent``."""
    query = Query(request, ("agent",))
    ctx = request.app[CONTEXT]
    config, now, agent = ctx.config(), ctx.now_ms(), query.one("agent")

    def read(conn: sqlite3.Connection) -> Any:
        if agent is not None and not known_agent(conn, config, agent):
            raise NotFound(f"unknown agent '{agent}': not this config's agent.id, and no run or result stored")
        # Read the lock as the CLI does: a daemon whose store cannot commit still holds it (reports/status.py).
        return build_status(conn, config, now, agent, lock_holder(ctx.db_path, agent or config.agent.id))

    return answer(await ctx.read(read))


async def sla_report(request: web.Request) -> web.Response:
    """``report --sla ID --format json``: one object."""
    query = Query(request, ("cycle", "from", "to"))
    ctx = request.app[CONTEXT]
    config, now = ctx.config(), ctx.now_ms()
    sla = configured_sla(config, request.match_info["sla"])
    cycle, from_, to = _period_params(query, config, sla)
    docs = await _reports(ctx, lambda conn: report_docs(conn, config, sla.id, now, cycle=cycle, from_=from_, to=to))
    return answer(docs[0])


async def sla_credits(request: web.Request) -> web.Response:
    """``credits --sla ID --format json``: one object."""
    query = Query(request, ("cycle",))
    ctx = request.app[CONTEXT]
    config, now = ctx.config(), ctx.now_ms()
    sla = configured_sla(config, request.match_info["sla"])
    cycle = query.one("cycle")
    if cycle is not None:
        check_cycle(cycle)
    docs = await _reports(ctx, lambda conn: report_docs(conn, config, sla.id, now, cycle=cycle))
    return answer(credit_rows(docs)[0])


async def incidents(request: web.Request) -> web.Response:
    """``incidents --format json``: at most one of ``sla``, ``service``, ``endpoint``; ``from``/``to`` default to
    the last 30 days."""
    query = Query(request, ("sla", "service", "endpoint", "from", "to"))
    ctx = request.app[CONTEXT]
    config, now = ctx.config(), ctx.now_ms()
    given = {key: query.one(key) for key in ("sla", "service", "endpoint")}
    chosen = {key: value for key, value in given.items() if value is not None}
    if len(chosen) > 1:
        raise BadRequest(f"give at most one of sla, service, endpoint (got {', '.join(chosen)})")
    for kind, known in (
        ("sla", [s.id for s in config.slas]),
        ("service", [s.id for s in config.services]),
        ("endpoint", [e.id for e in config.endpoints]),
    ):
        wanted = given[kind]
        if wanted is not None and wanted not in known:
            name = "SLA" if kind == "sla" else kind
            raise NotFound(f"unknown {name} '{wanted}' (configured: {', '.join(known) or 'none'})")
    # The zone list_incidents reads dates in: the SLA's for an SLA, else the agent's.
    sla_id = given["sla"]
    tz = scope.sla_zone(config, config.sla(sla_id)) if sla_id is not None else scope.agent_zone(config)
    span = window(query, tz)
    start = span.start_ms if span.start_ms is not None else now - INCIDENTS_DEFAULT_SPAN_MS
    end = span.end_ms if span.end_ms is not None else now
    if end <= start:
        raise BadRequest(
            f"to ({span.to or 'default: now'}) must be after from ({span.from_ or 'default: 30 days before now'})"
        )
    doc = await ctx.read(
        lambda conn: list_incidents(
            conn,
            config,
            now,
            sla_id=sla_id,
            service_id=given["service"],
            endpoint_id=given["endpoint"],
            from_=span.from_,
            to=span.to,
        )
    )
    return answer(doc)


async def results(request: web.Request) -> web.StreamResponse:
    """Stored results as ``export`` writes them (JSON Lines, ts order), streamed in pages of ``RESULTS_PAGE``.

    ``endpoint`` (repeatable; default every endpoint) and ``agent`` (default every agent) filter; ``from``/``to``
    (dates in the agent's zone, as ``export``) default to the 24 hours before now.
    """
    query = Query(request, ("endpoint", "agent", "from", "to"), repeats=("endpoint",))
    ctx = request.app[CONTEXT]
    config, now = ctx.config(), ctx.now_ms()
    endpoints, agent = query.all("endpoint"), query.one("agent")
    span = window(query, scope.agent_zone(config))
    end = span.end_ms if span.end_ms is not None else now
    start = span.start_ms if span.start_ms is not None else end - RESULTS_DEFAULT_SPAN_MS
    if end <= start:
        raise BadRequest(f"to ({span.to or 'default: now'}) must be after from ({span.from_})")

    def page_after(after: ResultKey | None, conn: sqlite3.Connection) -> tuple[list[ProbeResult], ResultKey | None]:
        return results_page(
            conn,
            start_ms=start,
            end_ms=end,
            endpoints=endpoints or None,
            agents=None if agent is None else [agent],
            after=after,
            limit=RESULTS_PAGE,
        )

    def first_page(conn: sqlite3.Connection) -> tuple[list[ProbeResult], ResultKey | None]:
        configured = {e.id for e in (*config.endpoints, *config.controls)}
        unknown = [e for e in endpoints if e not in configured and not queries.last_results(conn, [e])]
        if unknown:
            raise NotFound(f"unknown endpoint(s) {', '.join(unknown)}: not in the config and no results stored")
        if agent is not None and not known_agent(conn, config, agent):
            raise NotFound(f"unknown agent '{agent}': not this config's agent.id, and no run or result stored")
        return page_after(None, conn)

    # The first page before the status line: an unreadable store is still a 503 then, not a cut stream.
    page, after = await ctx.read(first_page)
    response = web.StreamResponse(headers={"Content-Type": f"{NDJSON}; charset=utf-8"})
    await response.prepare(request)
    try:
        while True:
            if page:
                await response.write(_lines(page))
            if after is None:
                break
            page, after = await ctx.read(functools.partial(page_after, after))
    except ConnectionError:
        return response  # the client went away: nothing to tell it
    except Exception:
        # The status line is sent: all that is left to say "incomplete" is to end the stream without its final chunk.
        log.exception("GET %s failed while streaming; the response was cut", request.path)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


def _lines(page: list[ProbeResult]) -> bytes:
    return "".join(r.to_json_line() + "\n" for r in page).encode()


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of every route of this server."""
    Query(request, ())
    return answer(openapi_document(request.app[CONTEXT].config()))


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/status", status)
    app.router.add_get(f"{PREFIX}/slas/{{sla}}/report", sla_report)
    app.router.add_get(f"{PREFIX}/slas/{{sla}}/credits", sla_credits)
    app.router.add_get(f"{PREFIX}/incidents", incidents)
    app.router.add_get(f"{PREFIX}/results", results)
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
