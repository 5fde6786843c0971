"""The config's fast path (read without positions) gives what the marked path gives, and errors keep their lines.

``load_config`` reads a config first with ``yamlfast.plain_yaml`` (no node tree, no marks) and only on a problem
again with ``yamlsource.load_yaml``. These tests hold the two to the same data and the same config, over generated
YAML and generated configs, and check that a mistake deep in a big file is still reported at its line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from probe_agent.config import ConfigError, load_config
from probe_agent.config.loader import _load, _NeedsMarks
from probe_agent.config.schema import HttpCheck
from probe_agent.config.yamlfast import NOT_PLAIN, plain_yaml
from probe_agent.config.yamlsource import load_yaml

# Scalars whose YAML 1.1 reading is easy to get wrong: numbers in several bases, booleans spelt as words,
# null as ~, timestamps (kept as strings), and strings that only look like any of these once quoted.
_TRICKY = [
    "1",
    "-7",
    "0x1f",
    "0o17",
    "017",
    "1_000",
    "1.5",
    ".inf",
    "-.Inf",
    ".nan",
    "1e3",
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "False",
    "~",
    "null",
    "",
    "2026-12-07",
    "2026-12-07T10:00:00Z",
    "10s",
    "99.9%",
    "http://h:8080/x?y=1",
    "${TOKEN}",
    "a: b",
    "- x",
    "#c",
    "<<",
    "=",
    "é",
]
_scalar_text = st.sampled_from(_TRICKY) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8
)
_key = st.sampled_from(["id", "http", "url", "interval", "tags", "1", "yes", "null", "a b", "x"]) | st.text(
    "abcxyz_-.", min_size=1, max_size=5
)


def _node(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.tuples(st.just("plain"), _scalar_text),
        st.tuples(st.just("single"), _scalar_text),
        st.tuples(st.just("double"), _scalar_text),
    )
    if depth == 0:
        return leaf
    child = _node(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.just("list"), st.lists(child, max_size=4), st.booleans()),
        st.tuples(st.just("map"), st.lists(st.tuples(_key, child), max_size=4), st.booleans()),
    )


def _render(node: Any, indent: int = 0) -> str:
    """YAML text for a generated node: flow or block collections, plain, single- or double-quoted scalars. Plain
    scalars that YAML cannot write plainly make a syntax error or another value: both paths must agree on it."""
    kind = node[0]
    if kind == "plain":
        return str(node[1]).replace("\n", " ")
    if kind == "single":
        return "'" + str(node[1]).replace("'", "''") + "'"
    if kind == "double":
        return yaml.safe_dump(str(node[1]), default_style='"', width=10_000).strip().removesuffix("...").strip()
    items, flow = node[1], node[2]
    pad = " " * indent
    if kind == "list":
        if flow or not items:
            return "[" + ", ".join(_render(i) for i in items) + "]"
        return "\n" + "\n".join(f"{pad}- {_render(i, indent + 2)}" for i in items)
    if flow or not items:
        return "{" + ", ".join(f"{k}: {_render(v)}" for k, v in items) + "}"
    return "\n" + "\n".join(f"{pad}{k}: {_render(v, indent + 2)}" for k, v in items)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_key, _node(3)), min_size=1, max_size=5))
def test_plain_yaml_reads_what_load_yaml_reads(entries: list[tuple[str, Any]]) -> None:
    text = "\n".join(f"{k}: {_render(v, 2)}" for k, v in entries) + "\n"
    fast = plain_yaml(text)
    data, _, problems = load_yaml(text, "f.yaml")
    if fast is NOT_PLAIN:
        return  # left to load_yaml, whatever it says
    assert not problems, text
    assert fast == data or (_has_nan(fast) and repr(fast) == repr(data)), text
    assert _types(fast) == _types(data), text


def _has_nan(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return isinstance(value, float) and value != value


def _types(value: Any) -> Any:
    """The shape with every scalar's type: 1 == 1.0 == True, so equality alone would miss a wrong type."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",  # an alias: load_yaml counts and bounds expansions
        "a: !!str 1\n",  # an explicit tag
        "a: !custom x\n",
        "a: 1\na: 2\n",  # a duplicate key
        "<<: {a: 1}\n",  # a merge key
        "? [a]\n: 1\n",  # a key that is not a plain value
        "a: 1\n---\nb: 2\n",  # two documents
        "",  # no document
        "a: [1, 2\n",  # a syntax error
        "a:\n" + "".join("  " * i + "- \n" for i in range(1, 120)),  # deeper than MAX_DEPTH
    ],
)
def test_plain_yaml_leaves_what_has_a_rule_to_load_yaml(text: str) -> None:
    assert plain_yaml(text) is NOT_PLAIN


def test_equal_strings_are_shared() -> None:
    data = plain_yaml("endpoints:\n  - {id: a, tags: [web]}\n  - {id: b, tags: [web]}\n")
    first, second = data["endpoints"]
    assert first["tags"][0] is second["tags"][0]
    assert next(iter(first)) is next(iter(second))  # the key "id"


# Generated configs: defaults, endpoints of each kind with some settings overridden, services, an SLA. About one
# value in twenty is a mistake (a bad duration, URL, id, a duplicate), so about a third of the configs are valid
# and both the valid and the refused are compared.
_interval = st.sampled_from(["30s", "1m", "2m", 90, "1h"] * 4 + ["10x"])
_timeout = st.sampled_from(["1s", "5s", "500ms", 2.5, 3] * 4 + [True])
_endpoint_kind = st.sampled_from(
    [
        "http: http://127.0.0.1:{port}/p",
        "http: {{url: 'https://h{port}.example/', expect_status: [200-299, 304], body_contains: ok}}",
        "tcp: 127.0.0.1:{port}",
        "tls: h{port}.example",
        "dns: {{name: h{port}.example, type: A}}",
        "tcp: {{host: h, port: {port}}}",
    ]
    * 3
    + ["http: htp://bad/{port}"]
)


@st.composite
def _config(draw: st.DrawFn) -> str:
    lines = ["agent: {id: fuzz, database: ./fuzz.db}", "defaults:"]
    for key, values in (("interval", _interval), ("timeout", _timeout), ("retry_interval", _timeout)):
        if draw(st.booleans()):
            lines.append(f"  {key}: {draw(values)}")
    lines.append(f"  confirm: {draw(st.sampled_from([1, 3, 2] * 5 + ['x']))}")
    lines.append("endpoints:")
    count = draw(st.integers(1, 6))
    ids = [draw(st.sampled_from([f"ep-{i}"] * 20 + ["ep-0", "bad id"])) for i in range(count)]
    for i, ep_id in enumerate(ids):
        lines.append(f"  - id: {ep_id}")
        lines.append("    " + draw(_endpoint_kind).format(port=8000 + i))
        for key in draw(st.lists(st.sampled_from(["interval", "timeout", "grace", "degraded_after"]), unique=True)):
            lines.append(f"    {key}: {draw(_interval if key == 'interval' else _timeout)}")
        if draw(st.booleans()):
            lines.append(f"    tags: [{draw(st.sampled_from(['web', 'db', '1', 'yes']))}, team-{i % 2}]")
    lines.append("services:")
    lines.append(f"  - {{id: svc, endpoints: [{', '.join(draw(st.permutations(ids))[:2])}]}}")
    if draw(st.booleans()):
        lines.append("slas:")
        target = draw(st.sampled_from(["99.9%", 99, "99.5", "101%"]))
        lines.append(f"  - {{id: gold, services: [svc], target: {target}, credits: {{fee: '10.00'}}}}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_config())
def test_the_fast_path_and_the_marked_path_load_the_same_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        marked = _load(path, {}, marks=True)
    except ConfigError as exc:
        assert all(p.mark is not None for p in exc.problems), exc  # every problem located
        with pytest.raises(_NeedsMarks):
            _load(path, {}, marks=False)
        return
    fast = _load(path, {}, marks=False)
    assert fast.config == marked.config
    assert fast.raw == marked.raw
    assert fast.digest == marked.digest
    assert [ep.model_fields_set for ep in fast.config.endpoints] == [
        ep.model_fields_set for ep in marked.config.endpoints
    ]


def _big_config(endpoints: int, bad: int) -> tuple[str, int]:
    """A config of ``endpoints`` http endpoints whose endpoint ``bad`` has a timeout that is not a duration;
    returns the text and that timeout's line (1-based)."""
    lines = ["defaults: {interval: 60s, timeout: 5s}", "endpoints:"]
    bad_line = 0
    for i in range(endpoints):
        lines += [f"  - id: web-{i}", f"    http: http://127.0.0.1:9/{i}"]
        if i == bad:
            lines.append("    timeout: 5 seconds")
            bad_line = len(lines)
    return "\n".join(lines) + "\n", bad_line


def test_a_mistake_deep_in_a_big_file_is_reported_at_its_line(tmp_path: Path) -> None:
    text, line = _big_config(5000, 4321)
    path = tmp_path / "probe-agent.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    (problem,) = info.value.problems
    assert problem.mark is not None
    assert (problem.mark.file, problem.mark.line, problem.mark.col) == (
        str(path),
        line,
        5,
    )  # the key, as every problem is placed
    assert problem.path == "endpoints[4321].timeout"
    assert "'5 seconds' is not a duration" in problem.message


def test_a_mistake_in_a_big_included_file_is_reported_at_its_line(tmp_path: Path) -> None:
    text, line = _big_config(3000, 2999)
    (tmp_path / "fleet.yaml").write_text(text.split("\n", 1)[1], encoding="utf-8")  # endpoints only
    main = tmp_path / "probe-agent.yaml"
    main.write_text("endpoints:\n  - {id: first, tcp: '127.0.0.1:1'}\ninclude: [fleet.yaml]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(main, env={})
    (problem,) = info.value.problems
    assert problem.mark is not None
    assert (problem.mark.file, problem.mark.line) == (str(tmp_path / "fleet.yaml"), line - 1)
    assert problem.path == "endpoints[3000].timeout"  # after the main file's one endpoint


def test_a_file_the_fast_path_leaves_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        textwrap.dedent(
            """
            defaults: &shared {interval: 30s}
            endpoints:
              - {id: a, http: 'http://127.0.0.1:1/', tags: !!seq [x]}
            """
        ),
        encoding="utf-8",
    )
    cfg = load_config(path, env={}).config
    assert cfg.endpoints[0].interval == 30_000 and cfg.endpoints[0].tags == ("x",)


def test_endpoints_share_equal_fields_sets_and_stay_independent(tmp_path: Path) -> None:
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        "endpoints:\n"
        "  - {id: a, http: 'http://127.0.0.1:1/'}\n"
        "  - {id: b, http: 'http://127.0.0.1:2/'}\n"
        "  - {id: c, http: {url: 'http://127.0.0.1:3/', method: HEAD}, interval: 2m}\n",
        encoding="utf-8",
    )
    a, b, c = load_config(path, env={}).config.endpoints
    assert a.model_fields_set is b.model_fields_set
    assert a.http is not None and b.http is not None and c.http is not None
    assert a.http.model_fields_set is b.http.model_fields_set == {"url"}
    assert c.http.model_fields_set == {"url", "method"}
    assert "interval" in c.model_fields_set
    copied = a.model_copy(update={"tags": ("new",)})
    assert "tags" in copied.model_fields_set and "tags" not in b.model_fields_set
    dumped = a.model_dump(exclude_unset=True)
    assert set(dumped) == {"id", "http", "interval", "timeout", "retry_interval", "confirm", "grace", "degraded_after"}
    assert dumped["http"] == {"url": "http://127.0.0.1:1/"}


def _urlsplit_accepts(url: str) -> bool:
    """HttpCheck's URL rule as urlsplit alone decides it (the check before its fast path for the common form)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


@settings(max_examples=2000, deadline=None)
@given(
    st.tuples(
        st.sampled_from(["http://", "https://", "HTTP://", "htp://", "http:/", ""]),
        st.text("htps:/.-[]@?#:0123456789aAzZ%\\ \t\u00e9", max_size=16),
    ).map("".join)
)
def test_the_url_check_and_host_agree_with_urlsplit(url: str) -> None:
    try:
        check = HttpCheck(url=url)
    except ValidationError:
        assert not _urlsplit_accepts(url)
        return
    assert _urlsplit_accepts(url)
    assert check.host == urlsplit(url).hostname


def test_a_reference_spelt_with_an_escape_is_resolved_and_raw_keeps_it(tmp_path: Path) -> None:
    # No '$' in the file's text: only the double-quoted escape spells one.
    path = tmp_path / "probe-agent.yaml"
    path.write_text(
        "endpoints:\n"
        "  - id: a\n"
        '    http: {url: "http://127.0.0.1:1/", headers: {Authorization: "Bearer \\x24{TOKEN}"}}\n',
        encoding="utf-8",
    )
    assert "$" not in path.read_text(encoding="utf-8")
    loaded = load_config(path, env={"TOKEN": "s3cret-value"})
    (a,) = loaded.config.endpoints
    assert a.http is not None and a.http.headers == {"Authorization": "Bearer s3cret-value"}
    assert loaded.raw["endpoints"][0]["http"]["headers"] == {"Authorization": "Bearer ${TOKEN}"}
    assert loaded.secrets == {"s3cret-value"}
