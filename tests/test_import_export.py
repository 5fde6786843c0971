"""``import`` and ``export`` on real SQLite files: round trips, refusals, merging, and import = live."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe_agent.cli import main
from probe_agent.config import Config, load_config
from probe_agent.fold import FoldParams, TimelineFold, fold
from probe_agent.importing import ImportRefused, parse_import, store_import
from probe_agent.model import ErrorKind, Outcome, ProbeResult, State, StateInterval
from probe_agent.store import open_db, queries, records, transaction
from probe_agent.store.rollup_reads import rollup_sums

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000

CONFIG = """\
agent:
  id: ams
  database: {db}
  timezone: Europe/Amsterdam
  heartbeat: 5s
endpoints:
  - id: api
    tcp: 127.0.0.1:9
    interval: 60s
    timeout: 5s
    confirm: 3
  - id: web
    tcp: 127.0.0.1:9
    interval: 30s
    timeout: 10s
    grace: 2s
    confirm: 2
"""
API = FoldParams.of(Config.model_validate(yaml.safe_load(CONFIG.format(db="x"))).endpoint("api"))  # 60s, 5s, 3


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)


def write_config(directory: Path, db: Path) -> Path:
    path = directory / "probe-agent.yaml"
    path.write_text(CONFIG.format(db=db))
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path, tmp_path / "probe.db")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def res(
    ts_ms: int, outcome: str, *, agent: str = "ams", endpoint: str = "api", detail: str = "", latency: float = 12.5
) -> ProbeResult:
    out = Outcome(outcome)
    return ProbeResult(
        ts_ms=ts_ms,
        agent=agent,
        endpoint=endpoint,
        outcome=out,
        latency_ms=latency if out in (Outcome.UP, Outcome.DEGRADED) else None,
        status_code=None,
        error_kind={Outcome.DOWN: ErrorKind.CONNECT_REFUSED, Outcome.UNKNOWN: ErrorKind.CONTROLS_FAILED}.get(out),
        detail=detail,
        phases={"connect": 1.25} if out is Outcome.UP else {},
    )


def series(pattern: str, *, start: int = T0, step: int = MIN, **kw: Any) -> list[ProbeResult]:
    """One result per character: u up, g degraded, d down, x unknown; '.' is a missed probe (no result)."""
    names = {"u": "up", "g": "degraded", "d": "down", "x": "unknown"}
    return [res(start + i * step, names[c], **kw) for i, c in enumerate(pattern) if c != "."]


def jsonl(results: Sequence[ProbeResult]) -> str:
    return "".join(r.to_json_line() + "\n" for r in results)


def mixed_history() -> list[ProbeResult]:
    """Two agents, two endpoints: blips, an outage with unknown inside, gaps, degraded spans."""
    return sorted(
        series("uuudduuuddddxdduuu..uuggguuu")
        + series("uuuddddd.ddduuuuxxuuuu", step=30_000, endpoint="web", start=T0 + 7_000)
        + series("uuuuddduuuuu", agent="fra", start=T0 + 3_000)
        + series("gguuddxuu", agent="fra", endpoint="web", start=T0 + 5_000, step=30_000),
        key=lambda r: (r.ts_ms, r.agent, r.endpoint),
    )


def stored(db: Path) -> tuple[list[tuple[Any, ...]], dict[tuple[str, str], Any], list[ProbeResult]]:
    conn = open_db(db, readonly=True)
    try:
        intervals = conn.execute(
            "SELECT agent, endpoint, start_ms, end_ms, state, cause, outage_start_ms FROM intervals "
            "ORDER BY agent, endpoint, start_ms"
        ).fetchall()
        return intervals, queries.fold_states(conn), list(queries.iter_results(conn))
    finally:
        conn.close()


def timeline_of(db: Path, agent: str, endpoint: str, params: FoldParams) -> list[StateInterval]:
    """Stored closed intervals plus the open ones of the stored fold, as a report sees them."""
    conn = open_db(db, readonly=True)
    try:
        closed = queries.intervals_overlapping(conn, 0, 2**62, [endpoint], [agent])
        snap = queries.fold_states(conn, agent).get((agent, endpoint))
    finally:
        conn.close()
    pending = [] if snap is None else TimelineFold(agent, endpoint, params, snap).pending()
    return closed + pending


def import_file(
    cfg: Path, tmp_path: Path, results: Sequence[ProbeResult], *extra: str, name: str = "in.jsonl"
) -> Result:
    path = tmp_path / name
    path.write_text(jsonl(results))
    return cli("import", str(path), "-c", str(cfg), *extra)


# -- round trip ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_into_a_fresh_database_gives_identical_timelines(
    cfg: Path, tmp_path: Path, fmt: str
) -> None:
    history = mixed_history()
    history[3] = res(history[3].ts_ms, history[3].outcome.value, detail="=1+2, \"quoted\"\nnext line 'ok'")
    assert import_file(cfg, tmp_path, history).exit_code == 0
    out = tmp_path / f"export.{fmt}"
    done = cli("export", "-c", str(cfg), "--format", fmt, "--output", str(out))
    assert done.exit_code == 0, done.output
    assert f"wrote {len(history)} results" in done.stderr
    fresh = tmp_path / "fresh.db"
    again = cli("import", str(out), "-c", str(cfg), "--database", str(fresh))
    assert again.exit_code == 0, again.output
    assert stored(fresh) == stored(tmp_path / "probe.db")
    intervals, folds, results = stored(fresh)
    assert results == sorted(history, key=lambda r: r.ts_ms)
    assert {(a, e) for a, e, *_ in intervals} == {("ams", "api"), ("ams", "web"), ("fra", "api"), ("fra", "web")}
    assert set(folds) == {("ams", "api"), ("ams", "web"), ("fra", "api"), ("fra", "web")}


@pytest.mark.fault("formulas in exported cells", expected="escaped with a leading apostrophe, read back exactly")
def test_csv_export_escapes_formulas_and_import_reads_them_back(cfg: Path, tmp_path: Path) -> None:
    details = ['=HYPERLINK("http://evil")', "'already quoted", "+1", "-x", "@sum", "-5", "plain"]
    results = [res(T0 + i * MIN, "down", detail=d) for i, d in enumerate(details)]
    assert import_file(cfg, tmp_path, results).exit_code == 0
    text = cli("export", "-c", str(cfg), "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "ts", "agent", "endpoint", "outcome", "latency_ms", "status_code", "error_kind", "detail", "phases",
        "tls_days_left", "recheck",
    ]  # fmt: skip
    assert [row[7] for row in rows[1:]] == [
        "'=HYPERLINK(\"http://evil\")", "''already quoted", "+1", "'-x", "'@sum", "-5", "plain",
    ]  # fmt: skip
    assert rows[1][:4] == ["2026-01-01T00:00:00.000Z", "ams", "api", "down"]
    assert rows[1][8] == "{}" and rows[1][10] == "false"
    fresh = tmp_path / "fresh.db"
    (tmp_path / "back.csv").write_text(text)
    assert cli("import", str(tmp_path / "back.csv"), "-c", str(cfg), "--database", str(fresh)).exit_code == 0
    assert [r.detail for r in stored(fresh)[2]] == details


@pytest.mark.fault(
    "a CR (=1+1 after it) in a result's detail, CSV export", expected="the cell is quoted whole; no new row starts"
)
def test_csv_export_quotes_every_cell_holding_cr_or_lf(cfg: Path, tmp_path: Path) -> None:
    """A bare CR inside a detail once went out unquoted, so a reader splitting records at CR saw `=1+1` begin an
    unescaped row of its own. Records end in CRLF now, and a cell with CR or LF is quoted whole."""
    details = ["timeout\r=1+1", "two\nlines", "crlf\r\nhere"]
    assert (
        import_file(cfg, tmp_path, [res(T0 + i * MIN, "down", detail=d) for i, d in enumerate(details)]).exit_code == 0
    )
    out = tmp_path / "out.csv"
    assert cli("export", "-c", str(cfg), "--format", "csv", "--output", str(out)).exit_code == 0
    text = out.read_bytes().decode()  # bytes: the CLI runner's captured stdout folds CRLF into LF
    assert text.count("\r\n") == 1 + len(details) + 1  # header, three records, and the one inside "crlf\r\nhere"
    for detail in details:
        assert f',"{detail}",' in text
    assert [row[7] for row in csv.reader(io.StringIO(text, newline=""))][1:] == details
    fresh = tmp_path / "fresh.db"
    assert cli("import", str(out), "-c", str(cfg), "--database", str(fresh)).exit_code == 0
    assert [r.detail for r in stored(fresh)[2]] == details


@pytest.mark.fault("a stray quote in a CSV import", expected="exit 2 at the record, nothing imported")
def test_a_stray_quote_in_a_csv_import_is_an_error_not_swallowed_rows(cfg: Path, tmp_path: Path) -> None:
    body = (
        "ts,endpoint,outcome,detail\r\n"
        "2026-01-01T00:00:00Z,api,up,ok\r\n"
        '2026-01-01T00:01:00Z,api,down,"refused\r\n'  # the quote is never closed: the lenient reader took every
        "2026-01-01T00:02:00Z,api,up,ok\r\n"  # line after it as one cell and imported 1 of 1
        "2026-01-01T00:03:00Z,api,up,ok\r\n"
    )
    (tmp_path / "stray.csv").write_bytes(body.encode())
    done = cli("import", str(tmp_path / "stray.csv"), "-c", str(cfg), "--agent", "ams")
    assert done.exit_code == 2
    assert "line 5: malformed CSV (unexpected end of data)" in done.stderr
    (tmp_path / "after.csv").write_bytes(b'ts,endpoint,outcome\r\n2026-01-01T00:00:00Z,"api"x,up\r\n')
    done = cli("import", str(tmp_path / "after.csv"), "-c", str(cfg), "--agent", "ams")
    assert done.exit_code == 2 and "line 2: malformed CSV" in done.stderr
    assert not (tmp_path / "probe.db").exists()  # nothing was written, not even an empty database


# -- refusals: nothing is stored -------------------------------------------------------------------------------


def test_bad_lines_are_all_reported_with_line_numbers_and_nothing_is_stored(cfg: Path, tmp_path: Path) -> None:
    good = res(T0, "up").to_json_line()
    lines = [
        good,
        "{not json",
        "",
        json.dumps({"ts": "2026-01-01T00:01:00", "agent": "ams", "endpoint": "api", "outcome": "up"}),
        json.dumps({"ts": "2026-01-01T00:02:00Z", "agent": "ams", "endpoint": "api", "outcome": "sideways"}),
        json.dumps({"ts": 1767225780, "agent": "ams", "endpoint": "api", "outcome": "up"}),
        json.dumps({"ts": 1767225840, "endpoint": "api", "outcome": "up", "colour": "red"}),
        json.dumps({"ts": 1767225900, "agent": "ams", "outcome": "up"}),
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    done = cli("import", str(tmp_path / "bad.jsonl"), "-c", str(cfg))
    assert done.exit_code == 2
    assert "nothing was stored: 5 problem(s)" in done.stderr
    for number, words in [(2, "not JSON"), (4, "no UTC offset"), (5, "sideways"), (7, "colour"), (8, "endpoint")]:
        assert f"line {number}: " in done.stderr and words in done.stderr
    assert "line 6" not in done.stderr and "line 1:" not in done.stderr
    assert not (tmp_path / "probe.db").exists()  # refused before the database was even opened


def test_many_bad_lines_show_fifty_and_a_count(cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("nonsense\n" * 120)
    done = cli("import", str(tmp_path / "bad.jsonl"), "-c", str(cfg))
    assert done.exit_code == 2
    assert "line 50:" in done.stderr and "line 51:" not in done.stderr
    assert "... and 70 more" in done.stderr


def test_bad_csv_cells_and_header(cfg: Path, tmp_path: Path) -> None:
    body = (
        "ts,endpoint,outcome,latency_ms,recheck\n2026-01-01T00:00:00Z,api,up,fast,false\n\n"
        '2026-01-01T00:01:00Z,api,up,3,"maybe\nnot"\n2026-01-01T00:02:00Z,api,up\n'
    )
    (tmp_path / "bad.csv").write_text(body)
    done = cli("import", str(tmp_path / "bad.csv"), "-c", str(cfg), "--agent", "ams")
    assert done.exit_code == 2
    assert "line 2: latency_ms: 'fast' is not a number" in done.stderr
    assert "line 4: recheck" in done.stderr  # a quoted cell spanning lines: where its record starts
    assert "line 6: 3 cells, the header has 5" in done.stderr
    (tmp_path / "hdr.csv").write_text("ts,endpoint,state\n")
    done = cli("import", str(tmp_path / "hdr.csv"), "-c", str(cfg), "--agent", "ams")
    assert done.exit_code == 2 and "line 1: header" in done.stderr and "unknown: state" in done.stderr


def test_unknown_endpoint_is_named(cfg: Path, tmp_path: Path) -> None:
    done = import_file(
        cfg, tmp_path, [res(T0, "up"), res(T0, "up", endpoint="billing"), res(T0 + 1, "up", endpoint="billing")]
    )
    assert done.exit_code == 2
    assert "endpoint 'billing' is not in the config (2 result(s), first at line 2)" in done.stderr


def test_conflicting_duplicate_in_the_file(cfg: Path, tmp_path: Path) -> None:
    results = [res(T0, "up"), res(T0 + MIN, "up"), res(T0 + MIN, "up"), res(T0, "down")]
    done = import_file(cfg, tmp_path, results)
    assert done.exit_code == 2
    assert "line 4: conflicts with line 1: two different results of ams/api at 2026-01-01T00:00:00.000Z" in done.stderr
    assert "line 3" not in done.stderr  # the identical repeat is not a problem


def test_conflict_with_a_stored_result_refuses_everything(cfg: Path, tmp_path: Path) -> None:
    assert import_file(cfg, tmp_path, series("uuuu")).exit_code == 0
    before = stored(tmp_path / "probe.db")
    # a new pair that would be fine, and one result that contradicts a stored one
    done = import_file(cfg, tmp_path, [*series("uu", endpoint="web"), res(T0 + 2 * MIN, "down")])
    assert done.exit_code == 2
    assert "line 3: conflicts with the stored result of ams/api at 2026-01-01T00:02:00.000Z (up, not down)" in (
        done.stderr
    )
    assert stored(tmp_path / "probe.db") == before


def test_importing_the_same_file_twice_adds_nothing(cfg: Path, tmp_path: Path) -> None:
    history = mixed_history()
    assert import_file(cfg, tmp_path, history).exit_code == 0
    before = stored(tmp_path / "probe.db")
    done = import_file(cfg, tmp_path, [*history, history[0]])
    assert done.exit_code == 0
    assert f"imported 0 of {len(history) + 1} results" in done.stdout
    assert stored(tmp_path / "probe.db") == before


def test_refused_while_a_daemon_of_that_agent_runs_accepted_under_another_agent(cfg: Path, tmp_path: Path) -> None:
    conn = open_db(tmp_path / "probe.db")
    now = time.time_ns() // 1_000_000
    run_id = records.start_run(conn, "ams", 4242, "probe-host", "0.1.0", None, now_ms=now)
    conn.close()
    done = import_file(cfg, tmp_path, series("uudddu"))
    assert done.exit_code == 2
    assert f"ams/api: a probe-agent running as agent 'ams' (run {run_id}, pid 4242 on probe-host)" in done.stderr
    assert stored(tmp_path / "probe.db")[2] == []
    done = import_file(cfg, tmp_path, series("uudddu"), "--agent", "backfill")
    assert done.exit_code == 0, done.output
    assert {r.agent for r in stored(tmp_path / "probe.db")[2]} == {"backfill"}


def test_a_running_daemon_blocks_only_the_endpoints_its_config_probes(cfg: Path, tmp_path: Path) -> None:
    conn = open_db(tmp_path / "probe.db")
    now = time.time_ns() // 1_000_000
    run_id = records.start_run(conn, "ams", 1, "h", "0.1.0", "abc", now_ms=now)
    records.record_config(conn, "ams", "abc", {"endpoints": [{"id": "web", "tcp": "x:1"}]}, now, run_id)
    conn.close()
    assert import_file(cfg, tmp_path, series("uuu", endpoint="web")).exit_code == 2
    done = import_file(cfg, tmp_path, series("uuu"))
    assert done.exit_code == 0, done.output


def test_a_pair_whose_raw_results_were_pruned_is_refused(cfg: Path, tmp_path: Path) -> None:
    assert import_file(cfg, tmp_path, series("uuuuddduuu")).exit_code == 0
    conn = open_db(tmp_path / "probe.db")
    with transaction(conn):
        conn.execute("DELETE FROM results WHERE ts_ms < ?", (T0 + 3 * MIN,))
    conn.close()
    done = import_file(cfg, tmp_path, series("uu", start=T0 + 20 * MIN))
    assert done.exit_code == 2
    assert "ams/api: its raw results were pruned (those before 2026-01-01T00:03:00.000Z" in done.stderr
    assert import_file(cfg, tmp_path, series("uu", start=T0 + 20 * MIN), "--agent", "other").exit_code == 0


def test_unknown_extension_needs_a_format(cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text(jsonl(series("u")))
    assert cli("import", str(tmp_path / "data.txt"), "-c", str(cfg)).exit_code == 2
    assert cli("import", str(tmp_path / "data.txt"), "-c", str(cfg), "--format", "jsonl").exit_code == 0


def test_import_from_stdin_with_epoch_seconds_and_the_agent_option(cfg: Path, tmp_path: Path) -> None:
    lines = "".join(
        json.dumps({"ts": (T0 + i * MIN) / 1000, "endpoint": "api", "outcome": o}) + "\n"
        for i, o in enumerate(["up", "down", "down", "down", "up"])
    )
    done = cli("import", "-", "-c", str(cfg), "--agent", "nyc", input=lines)
    assert done.exit_code == 0, done.output
    assert "nyc/api" in done.stdout and "1 " in done.stdout
    assert "outage nyc/api: 2026-01-01T00:01:00.000Z until 2026-01-01T00:04:00.000Z (3m)" in done.stdout
    assert [r.ts_ms for r in stored(tmp_path / "probe.db")[2]] == [T0 + i * MIN for i in range(5)]
    assert timeline_of(tmp_path / "probe.db", "nyc", "api", API) == [
        StateInterval("nyc", "api", T0, T0 + MIN, State.UP),
        StateInterval("nyc", "api", T0 + MIN, T0 + 4 * MIN, State.DOWN, None, T0 + MIN),
        StateInterval("nyc", "api", T0 + 4 * MIN, T0 + 5 * MIN + 5_000, State.UP),
    ]


# -- import = live -----------------------------------------------------------------------------------------------


def live(results: Sequence[ProbeResult], params: FoldParams) -> tuple[list[StateInterval], dict[str, Any]]:
    """What the daemon stores after feeding these results one at a time."""
    timeline = TimelineFold(results[0].agent, results[0].endpoint, params)
    closed: list[StateInterval] = []
    for r in results:
        closed += timeline.feed(r)
    return closed, timeline.snapshot()


def db_state(conn: sqlite3.Connection) -> tuple[list[StateInterval], dict[str, Any]]:
    return queries.intervals_overlapping(conn, 0, 2**62, ["api"], ["ams"]), queries.fold_states(conn)[("ams", "api")]


STEPS = st.sampled_from([5_000, 30_000, 60_000, 64_000, 66_000, 200_000])
OUTCOMES = st.sampled_from(["up", "up", "degraded", "down", "down", "unknown"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(STEPS, OUTCOMES), min_size=1, max_size=40), st.integers(0, 40), st.booleans())
def test_import_is_live_even_in_two_parts_in_any_order(
    steps: list[tuple[int, str]], cut: int, later_first: bool
) -> None:
    ts, results = T0, []
    for gap, outcome in steps:
        ts += gap
        results.append(res(ts, outcome))
    expected = live(results, API)
    parts = [results[:cut], results[cut:]]
    if later_first:
        parts.reverse()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_config(Path(tmp), Path(tmp) / "p.db")).config
        conn = open_db(Path(tmp) / "p.db")
        try:
            for part in parts:
                if part:
                    with parse_import(io.StringIO(jsonl(part)), "jsonl", config, now_ms=T0 + 10**9) as parsed:
                        store_import(conn, config, parsed, now_ms=T0 + 10**9)
            assert db_state(conn) == expected
        finally:
            conn.close()


def test_import_uses_the_agents_runs_as_the_fold_does(cfg: Path, tmp_path: Path) -> None:
    conn = open_db(tmp_path / "probe.db")
    first = records.start_run(conn, "ams", 1, "h", "v", None, now_ms=T0)
    records.stop_run(conn, first, T0 + 5 * MIN + 10_000)  # clean stop 10 s after the 6th probe
    second = records.start_run(conn, "ams", 1, "h", "v", None, now_ms=T0 + 9 * MIN)
    records.heartbeat(conn, second, T0 + 12 * MIN)
    records.close_stale_runs(conn, "ams")  # it crashed: ends at its last heartbeat
    runs = queries.runs_for(conn, "ams")
    conn.close()
    results = series("uuuudd") + series("ddduuu", start=T0 + 9 * MIN + 1_000) + series("uu", start=T0 + 30 * MIN)
    assert import_file(cfg, tmp_path, results).exit_code == 0
    got = timeline_of(tmp_path / "probe.db", "ams", "api", API)
    assert got == fold("ams", "api", API, results, runs)
    assert got[:3] == [
        StateInterval("ams", "api", T0, T0 + 4 * MIN, State.UP),
        StateInterval("ams", "api", T0 + 4 * MIN, T0 + 5 * MIN + 10_000, State.DOWN, "connect_refused", T0 + 4 * MIN),
        StateInterval(
            "ams", "api", T0 + 5 * MIN + 10_000, T0 + 9 * MIN + 1_000, State.NO_DATA, "connect_refused", T0 + 4 * MIN
        ),
    ]


def test_store_import_refusal_is_an_exception_listing_problems(tmp_path: Path, cfg: Path) -> None:
    config = load_config(cfg).config
    with pytest.raises(ImportRefused) as info:
        parse_import(io.StringIO("{}\n[]\n"), "jsonl", config, now_ms=T0)
    assert [p.line for p in info.value.problems] == [1, 2]


# -- rollups, export filters ------------------------------------------------------------------------------------


def test_import_rebuilds_and_marks_the_rollups_of_complete_hours(cfg: Path, tmp_path: Path) -> None:
    results = series("u" * 150, step=MIN) + series("d" * 10, start=T0 + 150 * MIN)  # 2 h 40 min of data
    assert import_file(cfg, tmp_path, results).exit_code == 0
    conn = open_db(tmp_path / "probe.db", readonly=True)
    try:
        marks = [h for (h,) in conn.execute("SELECT hour_ms FROM rollup_marks ORDER BY hour_ms")]
        assert marks == [T0, T0 + 3_600_000]  # the third hour is not complete in the file
        rows = conn.execute("SELECT hour_ms, n_up, n_down FROM rollups ORDER BY hour_ms").fetchall()
        assert rows == [(T0, 60, 0), (T0 + 3_600_000, 60, 0), (T0 + 7_200_000, 30, 10)]
        sums = rollup_sums(conn, T0, T0 + 3 * 3_600_000)[("ams", "api")]
        assert (sums.n_up, sums.n_down, sums.histogram.total) == (150, 10, 150)
    finally:
        conn.close()


def test_export_filters_and_orders_by_ts(cfg: Path, tmp_path: Path) -> None:
    # 22:00Z..02:00Z around midnight in Amsterdam (UTC+1 in January)
    start = T0 - 2 * 3_600_000
    history = series("u" * 240, start=start) + series("u" * 240, start=start + 1, agent="fra", endpoint="web")
    assert import_file(cfg, tmp_path, history).exit_code == 0

    def exported(*args: str) -> list[dict[str, Any]]:
        done = cli("export", "-c", str(cfg), *args)
        assert done.exit_code == 0, done.output
        return [json.loads(line) for line in done.stdout.splitlines()]

    everything = exported()
    assert len(everything) == 480
    assert [r["ts"] for r in everything] == sorted(r["ts"] for r in everything)
    assert {r["agent"] for r in exported("--agent", "fra")} == {"fra"}
    assert {r["endpoint"] for r in exported("--endpoint", "api")} == {"api"}
    assert exported("--endpoint", "api", "--agent", "fra") == []
    assert len(exported("--endpoint", "api", "--endpoint", "web")) == 480
    window = exported("--from", "2026-01-01", "--to", "2026-01-01T01:00:00+01:00", "--agent", "ams")
    assert (window[0]["ts"], window[-1]["ts"], len(window)) == (
        "2025-12-31T23:00:00.000Z",
        "2025-12-31T23:59:00.000Z",
        60,
    )
    bad = cli("export", "-c", str(cfg), "--from", "2026-01-01T00:00:00")
    assert bad.exit_code == 2 and "no UTC offset" in bad.stderr


def test_results_from_the_future_and_bad_agent_ids_are_bad_lines(cfg: Path, tmp_path: Path) -> None:
    now = time.time_ns() // 1_000_000
    done = import_file(cfg, tmp_path, [res(now - MIN, "up"), res(now + 10 * MIN, "up"), res(now, "up", agent="a b")])
    assert done.exit_code == 2
    assert "line 2: ts " in done.stderr and "is in the future" in done.stderr
    assert "line 3: agent: 'a b' is not a valid id" in done.stderr


def test_replace_timeline_is_all_or_nothing(cfg: Path, tmp_path: Path) -> None:
    assert import_file(cfg, tmp_path, series("uuddduu")).exit_code == 0
    before = stored(tmp_path / "probe.db")
    conn = open_db(tmp_path / "probe.db")

    def refuse(_: sqlite3.Connection) -> None:
        raise RuntimeError("changed meanwhile")

    try:
        with pytest.raises(RuntimeError):
            records.replace_timeline(
                conn, "ams", "api", series("u", start=T0 + 60 * MIN), [], None, now_ms=T0, guard=refuse
            )
        with pytest.raises(sqlite3.IntegrityError):  # a result already stored: the intervals stay as they were
            records.replace_timeline(
                conn, "ams", "api", [*series("u", start=T0 + 60 * MIN), res(T0, "up")], [], None, now_ms=T0
            )
    finally:
        conn.close()
    assert stored(tmp_path / "probe.db") == before
