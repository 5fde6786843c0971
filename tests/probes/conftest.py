"""Fixtures over the loopback servers in ``servers.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.probes.servers import (
    DnsServer,
    RunningServer,
    TlsMaterial,
    start_app,
    start_dns_server,
    target_app,
)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return TlsMaterial(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
async def http_server() -> AsyncIterator[RunningServer]:
    server = await start_app(target_app())
    yield server
    await server.close()


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    server = await start_dns_server()
    yield server
    server.close()
