"""The ``api:`` section: off when absent, tokens only as secret references (long enough, distinct), and no listening
beyond loopback without a token; each refusal at its file:line, never echoing a token."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from probe_agent.config import ConfigError, load_config
from probe_agent.config.api_schema import Access, is_loopback

BASE = 'endpoints:\n  - {id: web, tcp: "127.0.0.1:9"}\n'
TOKEN = "t0k3n-abcdefghijklmnop"


def write(tmp_path: Path, api: str | None) -> Path:
    path = tmp_path / "probe-agent.yaml"
    body = "" if api is None else "api:\n" + textwrap.indent(textwrap.dedent(api).strip("\n"), "  ") + "\n"
    path.write_text(BASE + body)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[tuple[int, str, str, str | None]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return [(p.mark.line if p.mark else 0, p.path, p.message, p.hint) for p in info.value.problems]


def test_off_when_absent_and_defaults_when_empty(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, None), env={}).config.api is None
    api = load_config(write(tmp_path, "{}"), env={}).config.api
    assert api is not None
    assert api.host_port == ("127.0.0.1", 9472) and api.tokens == () and api.public_status is False
    assert api.metrics.per_endpoint is False and api.metrics.cache == 15_000


def test_tokens_resolved_with_owner_and_access(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    secret_file = tmp_path_factory.mktemp("s") / "token"
    secret_file.write_text("from-a-file-0123456789\n")
    path = write(
        tmp_path,
        f"""
        listen: "0.0.0.0:9472"
        public_status: true
        tokens:
          - {{token: "${{READER}}", owner: grafana}}
          - {{token: "file:{secret_file}", owner: ops, access: write}}
        metrics: {{per_endpoint: true, cache: 30s}}
        """,
    )
    loaded = load_config(path, env={"READER": TOKEN})
    api = loaded.config.api
    assert api is not None
    assert [(t.token, t.owner, t.access) for t in api.tokens] == [
        (TOKEN, "grafana", Access.READ),
        ("from-a-file-0123456789", "ops", Access.WRITE),
    ]
    assert api.metrics.cache == 30_000 and api.public_status is True
    assert TOKEN in loaded.secrets  # so it is redacted from every log line


def test_a_literal_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, f"tokens:\n  - {{token: {TOKEN}, owner: grafana}}")
    found = problems(path)
    assert [(line, p, m) for line, p, m, _ in found] == [
        (5, "api.tokens[0].token", "the API token is written literally")
    ]
    assert TOKEN not in repr(found)


def test_short_and_repeated_tokens(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tokens:
          - {token: "${SHORT}", owner: a}
          - {token: "${T}", owner: b}
          - {token: "${T2}", owner: c}
        """,
    )
    found = problems(path, {"SHORT": "abc", "T": TOKEN, "T2": TOKEN})
    assert [(line, p, m) for line, p, m, _ in found] == [
        (5, "api.tokens[0].token", "the API token is shorter than 16 characters"),
        (7, "api.tokens[2].token", "the same API token is listed twice"),
    ]
    assert "abc" not in repr(found) and TOKEN not in repr(found)


@pytest.mark.parametrize("listen", ["0.0.0.0:9472", "[::]:9472", "192.0.2.7:80", "status.example.com:8080"])
def test_beyond_loopback_needs_a_token(tmp_path: Path, listen: str) -> None:
    found = problems(write(tmp_path, f'listen: "{listen}"'))
    assert len(found) == 1
    line, key, message, hint = found[0]
    assert (line, key) == (4, "api.listen")
    assert message.startswith(f"listening on {listen} without any token")
    assert hint is not None and "api.tokens" in hint


@pytest.mark.parametrize("listen", ["127.0.0.1:1", "127.9.9.9:9472", "[::1]:9472", "localhost:9472"])
def test_loopback_needs_none(tmp_path: Path, listen: str) -> None:
    api = load_config(write(tmp_path, f'listen: "{listen}"'), env={}).config.api
    assert api is not None and api.listen == listen


def test_a_bad_listen_is_a_config_error(tmp_path: Path) -> None:
    found = problems(write(tmp_path, 'listen: "127.0.0.1"'))
    assert [(line, p) for line, p, _, _ in found] == [(4, "api.listen")]


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("example.com")


def test_public_url_and_the_report_links_it_makes(tmp_path: Path) -> None:
    api = load_config(write(tmp_path, 'public_url: "https://status.example.com/sla/"'), env={}).config.api
    assert api is not None and api.public_url == "https://status.example.com/sla"
    assert (
        api.report_url("gold", "x", "y", "2026-10")
        == "https://status.example.com/sla/api/v1/slas/gold/report?cycle=2026-10"
    )
    # a cycle that is not a month (an explicit one): its bounds
    assert api.report_url("g", "2026-12-07T20:12:53.000Z", "2026-12-07T20:13:53.000Z", "x/y") == (
        "https://status.example.com/sla/api/v1/slas/g/report?from=2026-12-07T20%3A12%3A53.000Z"
        "&to=2026-12-07T20%3A13%3A53.000Z"
    )
    found = problems(write(tmp_path, 'public_url: "status.example.com"'))
    assert [(p, m.startswith("write the server's address as http(s)://")) for _, p, m, _ in found] == [
        ("api.public_url", True)
    ]
    assert load_config(write(tmp_path, "{}"), env={}).config.api.report_url("g", "a", "b", "2026-10") is None  # type: ignore[union-attr]
