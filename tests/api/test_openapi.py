"""``/api/v1/openapi.json`` against the real server: a schemathesis property run finds no 5xx, every response
conforms to the document (status, content type, body schema), and what is invalid is refused with a 4xx.

The server is an ``ApiServer`` on a loopback port 0 (in a thread: schemathesis's client blocks) over the populated
store of ``v1_fixtures``, "now" pinned. Each operation is run in positive mode, and those with parameters in negative
mode too, 25 examples each, without shrinking or an example database, so the run is bounded (about 20 s here);
Hypothesis's seed is fixed (derandomize), though schemathesis also draws on values it saw in earlier responses, so a
run's cases are not byte-for-byte the same every time. The SLA routes are run with generated ids (404s) and with
each configured SLA. ``/metrics`` and ``/`` are described
by the document but served by other parts of issue 12: their cases run once the server routes them.

Hypothesis drives schemathesis's strategies directly (``operation.as_strategy``): schemathesis's own pytest
plugin fails under pytest 9 (it sets ``Function._nodeid``, which pytest 9 no longer has).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from probe_agent.api.app import build_app
from probe_agent.config import LoadedConfig
from tests.api.v1_fixtures import AUTH, NOW_DONE, context, populate, server_thread

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 25
# (path, fixed SLA id or None for generated ones)
OPERATIONS = [
    ("/api/v1/status", None),
    ("/api/v1/slas/{sla}/report", None),
    ("/api/v1/slas/{sla}/report", "gold"),
    ("/api/v1/slas/{sla}/report", "slices"),
    ("/api/v1/slas/{sla}/credits", None),
    ("/api/v1/slas/{sla}/credits", "gold"),
    ("/api/v1/slas/{sla}/credits", "slices"),
    ("/api/v1/incidents", None),
    ("/api/v1/results", None),
    ("/api/v1/openapi.json", None),
    ("/healthz", None),
    ("/metrics", None),
    ("/", None),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LoadedConfig:
    return populate(tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def base_url(store: LoadedConfig) -> Iterator[str]:
    with server_thread(context(store, NOW_DONE)) as url:
        yield url


@pytest.fixture(scope="module")
def document(base_url: str) -> dict[str, Any]:
    answer = requests.get(f"{base_url}/api/v1/openapi.json", headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def routed(store: LoadedConfig) -> set[str]:
    """The paths the application serves, spelled as the document spells them (``{sla}``)."""
    return {resource.canonical for resource in build_app(context(store, NOW_DONE)).router.resources()}


# Negative cases for the operations that take parameters: the others have nothing to make invalid (the token is
# not a parameter here, see below).
RUNS = [
    (path, sla, mode)
    for path, sla in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or path.startswith(("/api/v1/slas/", "/api/v1/status", "/api/v1/incidents", "/api/v1/results"))
]


@pytest.mark.parametrize(("path", "sla", "mode"), RUNS, ids=[f"{p}-{s or 'any'}-{m.value}" for p, s, m in RUNS])
def test_no_5xx_and_every_response_conforms(
    document: dict[str, Any], base_url: str, routed: set[str], path: str, sla: str | None, mode: GenerationMode
) -> None:
    if path not in routed:
        pytest.skip(f"{path} is not served on this branch yet (issue 12's other parts)")
    api = schemathesis.openapi.from_dict(document)
    # The token is ours to send (headers=AUTH), not a parameter to mutate: a negative case whose only fault was a
    # mangled Authorization header, sent with the right one, would be "invalid data accepted" (tokens: test_auth).
    api.config.generation.update(with_security_parameters=False)
    operation = api[path]["GET"]
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=None if sla is None else {"sla": sla})

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=AUTH, checks=CHECKS, timeout=30)

    call()


def test_the_document_describes_every_route_of_the_server(document: dict[str, Any], routed: set[str]) -> None:
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema
    assert {"/healthz", "/metrics", "/"} <= set(document["paths"])
    assert routed <= set(document["paths"])
    assert {p for p, _ in OPERATIONS} == set(document["paths"])  # the property run covers every operation
    for path, item in document["paths"].items():
        assert list(item) == ["get"], path
        assert "401" in item["get"]["responses"], path
    assert document["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "status"]
    report = document["paths"]["/api/v1/slas/{sla}/report"]["get"]
    sla = next(p for p in report["parameters"] if p["name"] == "sla")
    assert sorted(sla["examples"]) == ["gold", "slices"]
    assert set(report["responses"]) == {"200", "400", "401", "404", "503"}
