"""Config loading: every error class is reported with its file, line and key path, all at once."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "probe-agent.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return [(p.mark.line if p.mark else 0, p.path, p.message) for p in info.value.problems]


def test_valid_config_applies_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {interval: 30s, timeout: 5s, retry_interval: 2s, confirm: 2}
        endpoints:
          - id: web
            http: http://127.0.0.1:8080/
          - id: db
            tcp: 127.0.0.1:5432
            interval: 1m
        """,
    )
    cfg = load_config(path, env={}).config
    web, db = cfg.endpoints
    assert (web.interval, web.timeout, web.retry_interval, web.confirm) == (30_000, 5_000, 2_000, 2)
    assert db.interval == 60_000 and db.tcp is not None and db.tcp.port == 5432
    assert web.grace == 5_000  # grace defaults to the timeout


def test_three_mistakes_are_all_reported_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        agent:
          id: ams-1
        endpoints:
          - id: web
            http: http://127.0.0.1/
            intervall: 10s
          - id: api
            http: http://127.0.0.1/api
            timeout: 2m
          - id: web
            tcp: 127.0.0.1:22
        """,
    )
    found = problems(path)
    assert (6, "endpoints[0].intervall", "unknown key") in found
    assert any(line == 9 and p == "endpoints[1].timeout" and "shorter than interval" in m for line, p, m in found)
    assert any(line == 10 and p == "endpoints[2].id" and "duplicate id 'web'" in m for line, p, m in found)
    assert len(found) == 3


def test_cli_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "endpoints:\n  - id: x\n    http: ftp://nope\n")
    result = CliRunner().invoke(main, ["config", "validate", "-c", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:5: endpoints[0].http.url: " in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"),
    [
        ("endpoints:\n  - id: x\n    tcp: db:5432\n    color: red\n", 4, "endpoints[0].color", "unknown key"),
        ("endpoints:\n  - id: x\n    http: http://a/\n    tcp: a:1\n", 2, "endpoints[0]", "exactly one of"),
        (
            "endpoints:\n  - id: x\n    http: http://a/\n    interval: soon\n",
            4,
            "endpoints[0].interval",
            "not a duration",
        ),
        ("endpoints:\n  - id: x\n    tcp: a:1\n    timeout: 1m\n", 4, "endpoints[0].timeout", "shorter than"),
        ("defaults: {timeout: 2m}\nendpoints:\n  - id: x\n    tcp: a:1\n", 1, "endpoints[0].timeout", "shorter than"),
        ("endpoints:\n  - id: x\n    tcp: !!python/object:os.system a:1\n", 3, "endpoints[0].tcp", "not allowed"),
        ("endpoints:\n  - id: x\n    tcp: a:1\n    tcp: b:2\n", 4, "endpoints[0].tcp", "duplicate key"),
        (
            "endpoints:\n  - id: x\n    http:\n      url: http://a/\n      expect_status: [2000]\n",
            5,
            "endpoints[0].http.expect_status",
            "not a status code",
        ),
        ("services:\n  - {id: s, endpoints: [nope]}\n", 2, "services[0].endpoints[0]", "unknown endpoint"),
        (
            "endpoints:\n  - id: x\n    http:\n      url: http://a/\n      body_regex: '(['\n",
            5,
            "endpoints[0].http.body_regex",
            "invalid regular expression",
        ),
        ("endpoints: [\n", 2, "", "YAML syntax error"),
        ("agent: {timezone: Mars/Olympus}\n", 1, "agent.timezone", "IANA"),
        ("endpoints:\n  - id: 'bad id'\n    tcp: a:1\n", 2, "endpoints[0].id", "not a valid id"),
    ],
)
def test_error_classes(tmp_path: Path, text: str, line: int, path: str, fragment: str) -> None:
    found = problems(write(tmp_path, text))
    assert any(ln == line and p == path and fragment in m for ln, p, m in found), found


def test_includes_merge_and_report_the_included_file(tmp_path: Path) -> None:
    main_file = write(
        tmp_path,
        """
        endpoints:
          - id: a
            tcp: 127.0.0.1:1
        include: ["teams/*.yaml"]
        """,
    )
    write(tmp_path, "endpoints:\n  - id: b\n    tcp: 127.0.0.1:2\n", "teams/one.yaml")
    write(tmp_path, "endpoints:\n  - id: a\n    tcp: 127.0.0.1:3\n", "teams/two.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(main_file, env={})
    (problem,) = info.value.problems
    assert problem.mark is not None and problem.mark.file.endswith("teams/two.yaml") and problem.mark.line == 2
    assert "first defined at" in problem.message and "probe-agent.yaml:2" in problem.message
    (tmp_path / "teams/two.yaml").unlink()
    loaded = load_config(main_file, env={})
    assert [e.id for e in loaded.config.endpoints] == ["a", "b"]
    assert len(loaded.files) == 2


def test_included_file_may_not_set_agent(tmp_path: Path) -> None:
    main_file = write(tmp_path, "include: [x.yaml]\n")
    write(tmp_path, "agent: {id: other}\n", "x.yaml")
    found = problems(main_file)
    assert found[0][1] == "agent" and "may only hold" in found[0][2]


def test_secrets_from_env_file_and_credentials(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api").write_text("cred-secret")
    path = write(
        tmp_path,
        f"""
        endpoints:
          - id: a
            http:
              url: http://127.0.0.1/
              headers:
                X-Env: "Bearer ${{TOKEN}}"
                X-File: "file:{tmp_path}/token"
                X-Cred: "credential:api"
                X-Literal: "cost $$5"
        """,
    )
    loaded = load_config(path, env={"TOKEN": "env-secret", "CREDENTIALS_DIRECTORY": str(creds)})
    http = loaded.config.endpoints[0].http
    assert http is not None
    assert http.headers == {
        "X-Env": "Bearer env-secret",
        "X-File": "file-secret",
        "X-Cred": "cred-secret",
        "X-Literal": "cost $5",
    }
    assert {"env-secret", "file-secret", "cred-secret"} <= loaded.secrets
    # The stored snapshot keeps references, never values.
    raw = str(loaded.raw)
    assert not any(value in raw for value in ("env-secret", "file-secret\n", "cred-secret"))
    assert "${TOKEN}" in str(loaded.raw)


def test_missing_secret_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, 'endpoints:\n  - id: a\n    http:\n      url: "http://h/${NOPE}"\n')
    found = problems(path)
    assert found == [(4, "endpoints[0].http.url", "environment variable NOPE is not set")]


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from probe_agent.config import find_config

    monkeypatch.chdir(tmp_path)
    write(tmp_path, "endpoints: []\n", "probe-agent.yaml")
    env_file = write(tmp_path, "endpoints: []\n", "env.yaml")
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    assert find_config() == Path("./probe-agent.yaml")
    monkeypatch.setenv("PROBE_AGENT_CONFIG", str(env_file))
    assert find_config() == env_file
    assert find_config("explicit.yaml") == Path("explicit.yaml")


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "config" / "*.yaml"))))
def test_example_configs_load(path: str) -> None:
    loaded = load_config(path, env={"SHOP_TOKEN": "example-token"})
    assert loaded.config.endpoints


@pytest.mark.fault(
    "secret inside a value that fails validation",
    expected="every resolved secret replaced by *** in messages and hints",
)
def test_a_secret_inside_an_invalid_value_is_never_printed(tmp_path: Path) -> None:
    """Validation echoes the bad value; every resolved secret in it (env, file) is redacted, hints included."""
    (tmp_path / "tok").write_text("file-canary-93\n")
    path = write(
        tmp_path,
        """
        endpoints:
          - id: a
            http: "htp://host/h?token=${TOK}"
          - id: b
            http: "file:TOKFILE"
          - id: c
            http: {url: "http://h/", method: "${TOK}"}
        """.replace("TOKFILE", str(tmp_path / "tok")),
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"TOK": "env-canary-17"})
    text = str(info.value)
    assert "canary" not in text
    assert "endpoints[0].http.url: 'htp://host/h?token=***' is not an http:// or https:// URL" in text
    assert "endpoints[1].http.url: '***' is not" in text
    assert "endpoints[2].http.method" in text  # still located, value or not


@pytest.mark.fault(
    "secret in a bad URL, config validate and run",
    expected="exit 2, token=*** on stderr, no canary anywhere in the output",
)
def test_config_validate_never_prints_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, 'endpoints:\n  - id: a\n    http: "htp://host/?token=${TOK}"\n')
    for command in (["config", "validate"], ["run"]):
        proc = subprocess.run(
            [sys.executable, "-m", "probe_agent.cli", *command, "-c", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "TOK": "cli-canary-55"},
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert "token=***" in proc.stderr and "canary" not in proc.stdout + proc.stderr


LAUGHS = "x0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"x{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)
)  # 10^9 strings once expanded


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (LAUGHS, (1, "x2[8][1]"), "more than 100 alias expansions (*name)"),  # the 101st; line: the anchor
        ("endpoints: " + "[" * 10_000 + "]" * 10_000 + "\n", (1, ""), "nested more than 100 levels deep"),
        ("endpoints: " + "[" * 150 + "]" * 150 + "\n", (1, "endpoints[0][0]..."), "nested more than 100 levels deep"),
        ("endpoints: &a [*a]\n", (1, "endpoints[0][0]..."), "nested more than 100 levels deep"),
        ("agent: {timeout: .inf}\nendpoints: [{id: a, tcp: 'h:1', interval: 1e400}]\n", None, "not a finite duration"),
    ],
)
@pytest.mark.fault("hostile YAML", expected="exit 2 with a located message; no traceback, no memory blow-up")
def test_costly_or_hostile_yaml_is_refused_with_a_located_message(
    tmp_path: Path, text: str, where: tuple[int, str] | None, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    found = problems(path)
    assert any(message in m for _, _, m in found), found
    if where is not None:
        assert (found[0][0], found[0][1]) == where


@pytest.mark.fault("a byte that is not UTF-8 in the config", expected="exit 2 at its line and column")
def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"endpoints:\n  - id: a\n    tcp: 'h\xff:1'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    (problem,) = info.value.problems
    assert (str(problem.mark), problem.message) == (f"{path}:3:12", "not UTF-8 text (byte 0xff)")


@pytest.mark.fault("a config file over 10 MiB", expected="refused before it is read")
def test_a_file_over_10_mib_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("endpoints: []\n# " + "x" * (10 * 1024 * 1024) + "\n")
    assert problems(path) == [(0, "", f"{path} is larger than 10 MiB")]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("defaults: {timeout: 0}", "defaults.timeout: 0s is outside 100ms to 366d"),
        ("defaults: {interval: 500ms, timeout: 200ms}", "defaults.interval: 500ms is outside 1s to 366d"),
        ("defaults: {retry_interval: 0}", "defaults.retry_interval: 0s is outside 1s to 366d"),
        ("defaults: {confirm: 21}", "defaults.confirm: Input should be less than or equal to 20"),
        ("agent: {heartbeat: 0}", "agent.heartbeat: 0s is outside 1s to 1m"),
        ("agent: {heartbeat: 2m}", "agent.heartbeat: 2m is outside 1s to 1m"),
        ("agent: {retention: 1h}", "agent.retention: 1h is outside 1d to 3650d"),
        ("agent: {queue_limit: 0}", "agent.queue_limit: Input should be greater than or equal to 1"),
        ("agent: {queue_limit: 2000000}", "agent.queue_limit: Input should be less than or equal to 1000000"),
        ("defaults: {interval: 400d}", "defaults.interval: 57w1d is outside 1s to 366d"),
        ("endpoints: [{id: x, http: 'http://h:99999/'}]", "endpoints[0].http.url: 'http://h:99999/': the port"),
        ("endpoints: [{id: x, http: 'http://h:0/'}]", "endpoints[0].http.url: 'http://h:0/': the port"),
        ("endpoints: [{id: x, tcp: 'h:99999'}]", "endpoints[0].tcp: 'h:99999': the port must be a number from 1"),
    ],
)
@pytest.mark.fault("zero or absurd setting", expected="exit 2 with key path and bounds")
def test_durations_and_numbers_have_sane_bounds(tmp_path: Path, setting: str, message: str) -> None:
    """Zero or absurd settings did harm (timeout 0 recorded a healthy target down, retry_interval 0 sent 664
    requests/s, heartbeat 0 spun a core): each is exit 2 with its key path and the bounds."""
    text = setting + "\n" + ("" if setting.startswith("endpoints") else "endpoints: [{id: a, tcp: 'h:1'}]\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    found = [f"{p}: {m}" for _, p, m in problems(path)]
    assert any(f.startswith(message) for f in found), found


def test_endpoint_settings_are_plain_values_with_defaults_merged_before_validation(tmp_path: Path) -> None:
    """``defaults`` is merged into each endpoint and control before validation: every timing setting is a plain
    int of ms, an explicit null takes the default like a missing key, and grace is the endpoint's own timeout."""
    path = write(
        tmp_path,
        """
        defaults: {interval: 90, timeout: 4s, retry_interval: 3s, confirm: 4, degraded_after: 1s}
        controls:
          - id: canary
            tcp: 127.0.0.1:53
        endpoints:
          - id: web
            http: http://127.0.0.1:8080/
            timeout: null
          - id: db
            tcp: 127.0.0.1:5432
            timeout: 2s
            grace: 0s
          - id: api
            tcp: 127.0.0.1:80
            timeout: 3s
        """,
    )
    cfg = load_config(path, env={}).config
    (canary,) = cfg.controls
    web, db, api = cfg.endpoints
    timing = [(e.interval, e.timeout, e.retry_interval, e.confirm, e.grace, e.degraded_after) for e in cfg.controls]
    assert timing == [(90_000, 4_000, 3_000, 4, 4_000, 1_000)]  # 90 (a number) is seconds, as in defaults
    assert (web.interval, web.timeout, web.grace) == (90_000, 4_000, 4_000)
    assert (db.timeout, db.grace) == (2_000, 0)  # grace: 0s is its own, not "unset"
    assert (api.timeout, api.grace) == (3_000, 3_000)  # grace follows the endpoint's timeout, not the default's
    assert canary.id == "canary"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An invalid default is reported once, at its own key, not again at every endpoint that inherits it.
        (
            "defaults: {confirm: 0}\nendpoints:\n  - {id: a, tcp: 'h:1'}\n  - {id: b, tcp: 'h:2'}\n",
            [(1, "defaults.confirm", "Input should be greater than or equal to 1")],
        ),
        # An invalid timeout is reported once: the grace that follows it is not reported too.
        (
            "endpoints:\n  - id: a\n    tcp: 'h:1'\n    timeout: soon\n",
            [(4, "endpoints[0].timeout", "'soon' is not a duration")],
        ),
        # A timeout taken from defaults that is not shorter than the endpoint's interval is located at the default.
        (
            "defaults: {timeout: 30s}\nendpoints:\n  - id: a\n    tcp: 'h:1'\n    interval: 20s\n",
            [(5, "endpoints[0].interval", "timeout (30s) must be shorter than interval (20s)")],
        ),
    ],
)
def test_defaults_errors_are_reported_once_where_they_are_written(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str]]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    found = problems(path)
    assert [(line, p, m[: len(msg)]) for (line, p, m), (_, _, msg) in zip(found, expected, strict=False)] == expected
    assert len(found) == len(expected), found


def test_an_explicit_null_takes_the_default_in_the_timeout_check_too(tmp_path: Path) -> None:
    """``timeout: null`` takes ``defaults.timeout`` in the model; the timeout-shorter-than-interval check used the
    built-in 10 s for it instead, and let a 2m timeout on a 1m interval through."""
    path = write(
        tmp_path,
        """
        defaults: {timeout: 2m, interval: 5m}
        endpoints:
          - id: a
            tcp: 'h:1'
            timeout: null
            interval: 1m
        """,
    )
    assert problems(path) == [
        (
            5,
            "endpoints[0].timeout",
            "timeout (2m) must be shorter than interval (1m)",
        )
    ]


def test_a_cycle_with_from_and_to_is_explicit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        endpoints: [{id: a, tcp: 'h:1'}]
        slas:
          - id: s
            endpoints: [a]
            target: 99.9%
            cycle: {period: monthly, from: "2026-11-01T00:00:00Z", to: "2026-11-08T00:00:00Z"}
        """,
    )
    cycle = load_config(path, env={}).config.slas[0].cycle
    assert (cycle.period, cycle.from_, cycle.to) == ("explicit", "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")
    bad = write(
        tmp_path,
        "endpoints: [{id: a, tcp: 'h:1'}]\nslas:\n  - {id: s, endpoints: [a], target: 99%, "
        "cycle: {period: weekly, from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z'}}\n",
        "bad.yaml",
    )
    assert [(p, m[:22]) for _, p, m in problems(bad)] == [("slas[0].cycle.period", "Input should be 'month")]


@pytest.mark.parametrize("text", ["defaults: {grace: 200ms}", "defaults: {grace: -5s, timeout: 0}"])
def test_a_setting_defaults_does_not_take_is_an_unknown_key_not_a_crash(tmp_path: Path, text: str) -> None:
    """``grace`` is per endpoint only (its default is the endpoint's timeout): under ``defaults`` it is an unknown
    key, reported at its line. It used to crash the defaults merge with a KeyError traceback."""
    path = write(tmp_path, text + "\nendpoints: [{id: a, tcp: 'h:1'}]\n")
    found = problems(path)
    assert (1, "defaults.grace", "unknown key") in found, found
