"""The ``notifications:`` section: channels of exactly one kind, routes whose references exist, secrets that are
references (never literal, so the stored config snapshot never holds one), each problem at its file:line."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from probe_agent.config import ConfigError, load_config
from probe_agent.config.notify_schema import EventType
from probe_agent.store import records
from probe_agent.store.schema import open_db

BASE = """
endpoints:
  - {id: web, tcp: "127.0.0.1:9", tags: [shop]}
services:
  - {id: shop, endpoints: [web]}
slas:
  - {id: gold, services: [shop], target: 99.9%, cycle: {period: monthly, anchor_day: 1, timezone: UTC}}
"""


def write(tmp_path: Path, notifications: str) -> Path:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(BASE.lstrip("\n") + "notifications:\n" + textwrap.indent(textwrap.dedent(notifications), "  "))
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return [(p.mark.line if p.mark else 0, p.path, p.message) for p in info.value.problems]


def test_every_channel_kind_and_a_route(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        channels:
          - {id: hook, webhook: {url: "https://hooks.example/x", secret: "${S}", headers: {X-A: "b"}}}
          - {id: slack, apprise: "${SLACK_URL}"}
          - {id: many, apprise: ["${A1}", "file:/dev/null"]}
          - id: mail
            email: {smtp: "smtp.example:587", username: u, password: "${P}", from: a@example, to: [b@example]}
        routes:
          - {channels: [hook, slack], events: [endpoint_down, endpoint_recovered], slas: [gold]}
        rate_limit: 5
        deadman: {url: "${DEADMAN}", every: 2m}
        """,
    )
    env = {"S": "s", "SLACK_URL": "slack://t/a/b", "A1": "json://x", "P": "pw", "DEADMAN": "https://hc.example/ping"}
    cfg = load_config(path, env=env).config.notifications
    hook, slack, many, mail = cfg.channels
    assert [c.kind for c in cfg.channels] == ["webhook", "apprise", "apprise", "email"]
    assert hook.webhook is not None and hook.webhook.secret == "s" and hook.webhook.timeout == 10_000
    assert slack.apprise == ("slack://t/a/b",) and many.apprise == ("json://x", "")
    assert mail.email is not None and mail.email.host_port == ("smtp.example", 587) and mail.email.starttls
    assert mail.email.from_ == "a@example" and mail.email.to == ("b@example",)
    assert cfg.routes[0].events == (EventType.ENDPOINT_DOWN, EventType.ENDPOINT_RECOVERED)
    assert cfg.rate_limit == 5 and cfg.deadman is not None and cfg.deadman.every == 120_000


def test_without_the_section_nothing_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(BASE)
    cfg = load_config(path, env={}).config.notifications
    assert (cfg.channels, cfg.routes, cfg.rate_limit, cfg.deadman) == ((), (), 10, None)


def test_unknown_references_and_kinds_are_refused_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        channels:
          - {id: hook, webhook: {url: "https://hooks.example/x"}}
          - {id: hook, webhook: {url: "https://hooks.example/y"}}
          - {id: two, webhook: {url: "https://h.example/"}, apprise: "${A}"}
          - {id: none}
        routes:
          - {channels: [hook, nope], events: [endpoint_down, endpoint_dwn]}
          - {channels: [hook], endpoints: [wbe], services: [shop, shp], slas: [gld], tags: [anything]}
        """,
    )
    got = problems(path, {"A": "json://x"})
    assert (11, "notifications.channels[1].id", "duplicate channel id 'hook'") in got
    assert (
        12,
        "notifications.channels[2]",
        "a channel has exactly one of webhook, apprise, email (got webhook, apprise)",
    ) in got
    assert (13, "notifications.channels[3]", "a channel has exactly one of webhook, apprise, email") in got
    assert (15, "notifications.routes[0].channels[1]", "unknown channel 'nope'") in got
    assert any(line == 15 and path == "notifications.routes[0].events[1]" for line, path, _ in got)
    assert (16, "notifications.routes[1].endpoints[0]", "unknown endpoint 'wbe'") in got
    assert (16, "notifications.routes[1].services[1]", "unknown service 'shp'") in got
    assert (16, "notifications.routes[1].slas[0]", "unknown sla 'gld'") in got
    assert len(got) == 8  # tags are free-form: an unused tag selects nothing


def test_literal_secrets_are_refused_without_being_echoed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        channels:
          - {id: hook, webhook: {url: "https://hooks.example/x", secret: literal-hook-secret}}
          - {id: slack, apprise: "slack://literal-apprise-token"}
          - {id: many, apprise: ["${A}", "tgram://literal-bot-token"]}
          - id: mail
            email: {smtp: "smtp.example:25", password: literal-smtp-password, from: a@x, to: [b@x]}
        deadman: {url: "https://hc.example/literal-uuid"}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"A": "json://x"})
    text = str(info.value)
    got = [(p.mark.line if p.mark else 0, p.path) for p in info.value.problems]
    assert got == [
        (10, "notifications.channels[0].webhook.secret"),
        (11, "notifications.channels[1].apprise"),
        (12, "notifications.channels[2].apprise[1]"),
        (14, "notifications.channels[3].email.password"),
        (15, "notifications.deadman.url"),
    ]
    for value in ("literal-hook-secret", "literal-apprise-token", "literal-bot-token", "literal-smtp-password", "uuid"):
        assert value not in text
    assert "write it as ${ENV_VAR}, file:/path or credential:NAME" in text


def test_the_stored_config_snapshot_keeps_the_references(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        channels:
          - {id: hook, webhook: {url: "https://hooks.example/x", secret: "${S}", headers: {X-T: "${T}"}}}
        """,
    )
    loaded = load_config(path, env={"S": "snapshot-secret-canary", "T": "snapshot-header-canary"})
    conn = open_db(tmp_path / "db.sqlite")
    records.record_config(conn, "a1", loaded.digest, loaded.raw, 1, None)
    conn.close()
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        stored = "".join(json.dumps(row) for row in db.execute("SELECT * FROM config_snapshots"))
    assert "${S}" in stored and "${T}" in stored
    assert "snapshot-secret-canary" not in stored and "snapshot-header-canary" not in stored
