"""``/api/v1/openapi.json``: the OpenAPI 3.1 document of every route of the server.

The JSON API's response schemas are derived from the report TypedDicts (``json_schema.py``), so the document
cannot drift from what the routes send; the parameters say their formats as ``params.py`` checks them. ``/healthz``,
``/metrics`` and the status page ``/`` are described too (the last two as text, not JSON). The one part that
depends on the config is the examples of the SLA id (the configured ones), so a client generator or a property
test sees real ids.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from probe_agent.api.json_schema import REF_PREFIX, schema_of
from probe_agent.config.document import Config
from probe_agent.reports.json_types import CreditRowJson, IncidentListDoc, ReportDoc, StatusDoc

V1 = "/api/v1"
NDJSON = "application/x-ndjson"
# Keys a closed cycle's document stored by an older version may lack (``reports/json_types.py``): not required.
_STORED_MAY_LACK = ("policies", "preset", "no_credit_reason")

# The values params.py accepts, as patterns where a pattern can say it (ranges of dates it cannot).
_CYCLE_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3})-(0[1-9]|1[0-2])$"

_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One probe result, the one result schema of export, import and check (README, 'Results').",
    "required": ["ts", "agent", "endpoint", "outcome"],
    "properties": {
        "ts": {"type": "string", "description": "probe start, ISO 8601 UTC"},
        "agent": {"type": "string"},
        "endpoint": {"type": "string"},
        "outcome": {"type": "string", "enum": ["up", "degraded", "down", "unknown"]},
        "latency_ms": {"type": ["number", "null"]},
        "status_code": {"type": ["integer", "null"]},
        "error_kind": {"type": ["string", "null"]},
        "detail": {"type": ["string", "null"]},
        "phases": {"type": "object", "additionalProperties": {"type": "number"}, "description": "ms per phase"},
        "tls_days_left": {"type": ["number", "null"]},
        "recheck": {"type": "boolean"},
    },
}

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: what is wrong, in words, and the HTTP status again.",
    "required": ["error", "status"],
    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
}

_HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "mode", "agent", "problems"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unhealthy"]},
        "mode": {"type": "string", "enum": ["daemon", "serve"], "description": "serve: the server alone"},
        "agent": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "why unhealthy; empty when ok"},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "schema": schema, **extra}


def _bound(name: str, zone: str, default: str) -> dict[str, Any]:
    return _param(
        name,
        "query",
        f"ISO 8601 with a UTC offset, or a date (local midnight in {zone}); between 1970 and 9000; {default}",
        {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]},
        example="2026-09-01" if name == "from" else "2026-10-01T00:00:00Z",
    )


def _cycle(default: str) -> dict[str, Any]:
    return _param(
        "cycle",
        "query",
        f"The billing cycle that starts in this month (YYYY-MM, year 1970-8999); {default}",
        {"type": "string", "pattern": _CYCLE_PATTERN},
        example="2026-09",
    )


def _id(name: str, description: str) -> dict[str, Any]:
    return _param(name, "query", description, {"type": "string", "minLength": 1})


def _op(summary: str, description: str, params: list[dict[str, Any]], ok: dict[str, Any]) -> dict[str, Any]:
    responses = {"200": ok, "400": _error("BadRequest"), "401": _error("Unauthorized")}
    if any(p["in"] == "path" or p["name"] in ("sla", "service", "endpoint", "agent") for p in params):
        responses["404"] = _error("NotFound")
    responses["503"] = _error("Unavailable")
    return {"summary": summary, "description": description, "parameters": params, "responses": responses}


@functools.cache
def _document_schemas() -> dict[str, Any]:
    """The component schemas of the documents (computed once: they depend on the code, not on the config)."""
    defs: dict[str, Any] = {}
    for doc_type in (StatusDoc, ReportDoc, CreditRowJson, IncidentListDoc):
        schema_of(doc_type, defs)
    report = defs["ReportDoc"]
    report["required"] = [k for k in report["required"] if k not in _STORED_MAY_LACK]
    return defs


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


def openapi_document(config: Config) -> dict[str, Any]:
    """The document for this config (its SLA ids are the examples of ``{sla}``)."""
    schemas = copy.deepcopy(_document_schemas())
    schemas.update(Error=_ERROR_SCHEMA, Result=_RESULT_SCHEMA, Health=_HEALTH_SCHEMA)
    sla_ids = [s.id for s in config.slas]
    sla_param = _param(
        "sla",
        "path",
        "An SLA id of the config (404 for any other).",
        {"type": "string", "minLength": 1},
        required=True,
        **({"examples": {s: {"value": s} for s in sla_ids}} if sla_ids else {}),
    )
    text = "text/plain"
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Health",
                "description": "200 when the agent measures well; 503 naming each reason when not (scheduler "
                "lagging, store not writable, controls failing). Under `probe-agent serve`: whether the "
                "database can be read.",
                "responses": {
                    "200": _json(_ref("Health"), "healthy"),
                    "401": _error("Unauthorized"),
                    "503": _json(_ref("Health"), "unhealthy, with the reasons"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "description": "The Prometheus text exposition format; every name starts `probe_agent_`.",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {text: {"schema": {"type": "string"}}},
                    },
                    "401": _error("Unauthorized"),
                    "503": _error("Unavailable"),
                },
            }
        },
        "/": {
            "get": {
                "summary": "Status page",
                "description": "The status page (HTML, no JavaScript needed). Without a token when "
                "`api.public_status: true`.",
                "security": [{}, {"bearerAuth": []}],
                "responses": {
                    "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "401": _error("Unauthorized"),
                    "503": _error("Unavailable"),
                },
            }
        },
        f"{V1}/status": {
            "get": _op(
                "Status",
                "As `probe-agent status --format json`: the daemon, every endpoint now with its last result and "
                "24 h / 30 day availability, each SLA's current cycle so far.",
                [_id("agent", "The vantage point to show (default: the config's agent.id); as --agent.")],
                _json(_ref("StatusDoc"), "the status document"),
            )
        },
        f"{V1}/slas/{{sla}}/report": {
            "get": _op(
                "SLA report",
                "As `probe-agent report --sla ID --format json`: one SLA over a billing cycle or a window. Give "
                "`cycle`, or `from` and `to`, or neither (the cycle running now). A closed cycle shows its stored "
                "figures. A window that is not a billing cycle gets no credit (`no_credit_reason` says why). A window "
                "is at most 3700 days (the report has a figure per day).",
                [
                    sla_param,
                    _cycle("default: the cycle running now"),
                    _bound("from", "the SLA's zone", "with to; not with cycle"),
                    _bound("to", "the SLA's zone", "excluded; with from; not with cycle"),
                ],
                _json(_ref("ReportDoc"), "the report document"),
            )
        },
        f"{V1}/slas/{{sla}}/credits": {
            "get": _op(
                "SLA credit",
                "As `probe-agent credits --sla ID --format json`: the credit owed for a billing cycle, with the "
                "rule that fired and every step (money as exact decimal strings).",
                [sla_param, _cycle("default: the cycle running now")],
                _json(_ref("CreditRowJson"), "the credit row"),
            )
        },
        f"{V1}/incidents": {
            "get": _op(
                "Incidents",
                "As `probe-agent incidents --format json`: confirmed outages overlapping [from, to). At most one "
                "of `sla`, `service`, `endpoint`; without any, every endpoint's outages.",
                [
                    _id("sla", "Incidents of this SLA (its services combined)."),
                    _id("service", "Incidents of this service (its endpoints combined)."),
                    _id("endpoint", "Outages of this endpoint (its agents combined)."),
                    _bound("from", "the SLA's zone with sla, else the agent's", "default: 30 days before now"),
                    _bound("to", "the SLA's zone with sla, else the agent's", "excluded; default: now"),
                ],
                _json(_ref("IncidentListDoc"), "the incident list"),
            )
        },
        f"{V1}/results": {
            "get": _op(
                "Results",
                "Stored raw results as `probe-agent export --format jsonl` writes them: one JSON object (the "
                "`Result` schema) per line, in ts order, streamed. Read in pages of their own read "
                "transactions, so a result stored during a long download may or may not be in it.",
                [
                    _param(
                        "endpoint",
                        "query",
                        "Only this endpoint (repeatable; default: every endpoint). 404 for one that is neither "
                        "configured nor in the store.",
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                        style="form",
                        explode=True,
                    ),
                    _id("agent", "Only this vantage point (default: every agent)."),
                    _bound("from", "the agent's zone", "default: 24 hours before to"),
                    _bound("to", "the agent's zone", "excluded; default: now"),
                ],
                {
                    "description": "JSON Lines, each line a `Result`",
                    "content": {NDJSON: {"schema": {"type": "string"}}},
                },
            )
        },
        f"{V1}/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": _json({"type": "object"}, "OpenAPI 3.1"),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "probe-agent",
            "version": "1.0.0",
            "description": "Uptime and SLA figures of probe-agent. Documents are the JSON of the CLI's "
            "`--format json` (README, 'Report JSON'): percents rounded half-up to 6 decimals with the exact "
            "fraction beside them, seconds with millisecond precision, money as decimal strings. Every error is "
            "`{error, status}`. With `api.tokens` configured, every route needs `Authorization: Bearer <token>` "
            "(the status page not with `api.public_status: true`).",
        },
        "paths": paths,
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "responses": {
                name: _json(_ref("Error"), description)
                for name, description in (
                    ("BadRequest", "a parameter is wrong: the message names it and says why"),
                    ("Unauthorized", "no token, or not one of api.tokens"),
                    ("NotFound", "an id that is not configured (or, for agents and endpoints, not in the store)"),
                    ("Unavailable", "the database cannot be read now (missing, locked, newer than this version)"),
                )
            },
        },
    }
