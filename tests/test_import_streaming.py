"""``import`` streams (issue 14 item 4): the same store as folding the whole file at once, memory held by a batch
and not the file, the staging file gone afterwards, and progress on a terminal only."""

from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from probe_agent.config import Config, load_config
from probe_agent.importing import ImportRefused, ImportSummary, fold_pair, parse_import, store_import
from probe_agent.model import ProbeResult, StateInterval
from probe_agent.store import open_db, queries, records
from tests.test_import_export import MIN, T0, cli, jsonl, res, series, stored, write_config

NOW = T0 + 10**9


def import_lines(config: Config, db: Path, lines: Iterator[str] | list[str], batch: int) -> ImportSummary:
    conn = open_db(db)
    try:
        with parse_import(lines, "jsonl", config, now_ms=NOW, batch=batch) as parsed:
            return store_import(conn, config, parsed, now_ms=NOW)
    finally:
        conn.close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".probe-agent-import-"))


def test_a_streamed_import_stores_what_folding_the_whole_file_at_once_does(tmp_path: Path) -> None:
    """Hand-counted: ams/api is up 3 minutes, down 4 (confirm 3: one outage from its first failure), up again;
    part of it is stored before, the file is shuffled, repeats one line identically and goes through batches of
    3 lines. The store must hold exactly the old import's result: every pair folded from all its results at once
    (``fold_pair`` over the sorted, merged list)."""
    config = load_config(write_config(tmp_path, tmp_path / "probe.db")).config
    api = series("uuuddddu") + series("u", start=T0 + 8 * MIN)  # 9 results, a minute apart
    others = (
        series("uddu", endpoint="web", step=30_000, start=T0 + 7_000)
        + series("uuddduu", agent="fra", start=T0 + 3_000)
        + series("ggu", agent="fra", endpoint="web", start=T0 + 5_000, step=30_000)
    )
    before = import_lines(config, tmp_path / "probe.db", jsonl(api[:2]).splitlines(keepends=True), batch=3)
    assert (before.imported, before.skipped) == (2, 0)

    lines = jsonl([*api, *others]).splitlines(keepends=True)
    lines.append(lines[4])  # api's 5th result again, identical
    random.Random(14).shuffle(lines)
    summary = import_lines(config, tmp_path / "probe.db", lines, batch=3)

    # 9 + 4 + 7 + 3 = 23 distinct results read, plus the repeat; api's first 2 were stored already.
    assert (summary.read, summary.imported, summary.skipped) == (24, 21, 3)
    by_pair = {(p.agent, p.endpoint): p for p in summary.pairs}
    assert list(by_pair) == [("ams", "api"), ("ams", "web"), ("fra", "api"), ("fra", "web")]
    assert (by_pair["ams", "api"].imported, by_pair["ams", "api"].skipped) == (7, 2)
    [outage] = by_pair["ams", "api"].outages
    assert (outage.start_ms, outage.end_ms, outage.cause, outage.ongoing) == (
        T0 + 3 * MIN,
        T0 + 7 * MIN,
        "connect_refused",
        False,
    )
    intervals, folds, results = stored(tmp_path / "probe.db")
    assert [iv for iv in intervals if iv[:2] == ("ams", "api")] == [
        ("ams", "api", T0, T0 + 3 * MIN, "up", None, None),
        ("ams", "api", T0 + 3 * MIN, T0 + 7 * MIN, "down", "connect_refused", T0 + 3 * MIN),
    ]
    assert results == sorted([*api, *others], key=lambda r: (r.ts_ms, r.agent, r.endpoint))

    # The old import, all in memory: each pair folded from its whole sorted list.
    expected_intervals: list[tuple[object, ...]] = []
    for agent, endpoint in by_pair:
        mine = sorted((r for r in [*api, *others] if (r.agent, r.endpoint) == (agent, endpoint)), key=_ts)
        closed, fold = fold_pair(agent, endpoint, config, mine, [])
        expected_intervals += [_row(iv) for iv in closed]
        assert folds[agent, endpoint] == fold.snapshot()
    assert intervals == sorted(expected_intervals, key=lambda row: (row[0], row[1], row[2]))

    again = import_lines(config, tmp_path / "probe.db", lines, batch=5)  # idempotent
    assert (again.imported, again.skipped) == (0, 24)
    assert again.pairs == tuple(replace(p, imported=0, skipped=p.imported + p.skipped) for p in summary.pairs)
    assert stored(tmp_path / "probe.db") == (intervals, folds, results)
    assert leftovers(tmp_path) == []


def _ts(result: ProbeResult) -> int:
    return result.ts_ms


def _row(iv: StateInterval) -> tuple[object, ...]:
    return (iv.agent, iv.endpoint, iv.start_ms, iv.end_ms, iv.state.value, iv.cause, iv.outage_start_ms)


def test_a_bad_line_after_many_staged_batches_stores_nothing(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, tmp_path / "probe.db")).config
    lines = jsonl(series("u" * 40)).splitlines(keepends=True)
    lines.insert(35, '{"ts": "yesterday", "endpoint": "api", "outcome": "up"}\n')
    path = tmp_path / "in.jsonl"
    path.write_text("".join(lines))
    done = cli("import", str(path), "-c", str(tmp_path / "probe-agent.yaml"))
    assert done.exit_code == 2 and "line 36: ts: not an ISO 8601 timestamp" in done.stderr
    assert not (tmp_path / "probe.db").exists()
    assert leftovers(tmp_path) == []
    with pytest.raises(ImportRefused) as refused:  # the library: the store open all along
        import_lines(config, tmp_path / "probe.db", lines, batch=4)
    assert [p.line for p in refused.value.problems] == [36]
    conn = open_db(tmp_path / "probe.db", readonly=True)
    try:
        assert list(queries.iter_results(conn)) == []
    finally:
        conn.close()
    assert leftovers(tmp_path) == []


def _staged(config: Config, lines: Iterable[str], workers: int) -> tuple[object, ...]:
    try:
        with parse_import(lines, "jsonl", config, now_ms=NOW, workers=workers) as parsed:
            return parsed.pairs, parsed.read, parsed.duplicates, list(parsed.staged.rows())
    except ImportRefused as exc:
        return exc.headline, [(p.line, p.message) for p in exc.problems]


def test_parsing_in_processes_stages_and_refuses_exactly_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers parse chunks (7 lines here) and this process stages their answers in file order: the same staged
    rows, counts and line numbers, and the same problems, as parsing it all here."""
    monkeypatch.setattr("probe_agent.import_parallel.CHUNK_LINES", 7)
    config = load_config(write_config(tmp_path, tmp_path / "probe.db")).config
    good = jsonl(series("uuddduuu" * 3) + series("uddu" * 4, endpoint="web", start=T0 + 1_000)).splitlines(True)
    good.insert(9, good[4])  # an identical repeat
    good.insert(20, "\n")  # a blank line still counts as a line
    random.Random(7).shuffle(good)
    one = _staged(config, good, workers=1)
    assert one[1:3] == (41, 1) and one == _staged(config, good, workers=2)

    bad = list(good)
    bad[3] = '{"ts": "2026-01-01T00:00:00Z", "endpoint": "api"}\n'  # no outcome
    bad[17] = res(T0, "up", endpoint="db").to_json_line() + "\n"  # not configured
    bad[30] = bad[30].replace('"outcome":"up"', '"outcome":"down"').replace('"outcome":"degraded"', '"outcome":"down"')
    bad.append(bad[31].replace('"detail":""', '"detail":"other"'))  # conflicts with line 32
    refused = _staged(config, bad, workers=1)
    assert refused == _staged(config, bad, workers=2)
    assert [line for line, _ in refused[1]] == [None, 4, 43]  # type: ignore[index]

    def undecodable() -> Iterator[str]:  # a file that is not UTF-8 after its 10th line, as it reads
        yield from [*bad[:8], "not JSON\n", bad[9]]  # line 9: in the chunk the decoding error cuts short
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    cut = _staged(config, undecodable(), workers=1)
    assert cut == _staged(config, undecodable(), workers=2)
    assert [line for line, _ in cut[1]] == [None, 4, 9]  # type: ignore[index]


def _lines(n: int) -> Iterator[str]:
    """``n`` up results of two endpoints, made one at a time (so the input itself takes no memory)."""
    for i in range(n):
        yield res(T0 + (i // 2) * MIN + (i % 2) * 7_000, "up", endpoint=("api", "web")[i % 2]).to_json_line() + "\n"


def _peak(config: Config, db: Path, n: int) -> int:
    tracemalloc.start()
    try:
        summary = import_lines(config, db, _lines(n), batch=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.imported == n
    return peak


def test_memory_is_held_by_a_batch_not_by_the_file(tmp_path: Path) -> None:
    """Python memory at its peak (tracemalloc: every object import makes) for 10 times the lines stays about
    the same: what grows with the file is in the staging file and the store, never in lists or dicts. Holding
    the file (``list(file)``, a dict of results per pair) makes the peak grow with it, about 10 times."""
    config = load_config(write_config(tmp_path, tmp_path / "probe.db")).config
    import_lines(config, tmp_path / "warm.db", _lines(10), batch=50)  # lazy imports and caches, not counted
    small = _peak(config, tmp_path / "small.db", 400)
    large = _peak(config, tmp_path / "large.db", 4_000)
    assert large < 1.5 * small, (small, large)


def _import_on(tmp_path: Path, *, terminal: bool, env: dict[str, str]) -> tuple[str, str]:
    """The real command in a child process, its stderr on a pseudo-terminal (or a pipe): (stdout+tty, stderr)."""
    cmd = [sys.executable, "-m", "probe_agent", "import", str(tmp_path / "r.jsonl"), "-c", str(tmp_path / "c.yaml")]
    env = {**os.environ, **env, "COLUMNS": "200", "LINES": "40"}
    env.pop("PROBE_AGENT_CONFIG", None)
    if not terminal:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=True)
        return done.stdout, done.stderr
    main_fd, child_fd = pty.openpty()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=child_fd, stderr=child_fd, env=env)
    os.close(child_fd)
    out = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main_fd)
    assert child.wait(timeout=120) == 0, out
    return out.decode(errors="replace"), ""


def _write_inputs(tmp_path: Path, n: int, db: str) -> None:
    (tmp_path / "c.yaml").write_text(
        json.dumps(
            {
                "agent": {"id": "ams", "database": str(tmp_path / db)},
                "endpoints": [{"id": "api", "tcp": "127.0.0.1:9"}, {"id": "web", "tcp": "127.0.0.1:9"}],
            }
        )
    )
    (tmp_path / "r.jsonl").write_text("".join(_lines(n)))


def test_progress_with_rate_and_eta_on_a_terminal_and_nothing_on_a_pipe(tmp_path: Path) -> None:
    _write_inputs(tmp_path, 2_000, "plain.db")
    shown, _ = _import_on(tmp_path, terminal=True, env={"NO_COLOR": "1", "TERM": "xterm"})
    # The plain line: each pass with its count, rate and (while it runs, with a total) ETA.
    assert "import r.jsonl: reading: " in shown and " bytes (" in shown and ", ETA " in shown
    assert "import r.jsonl: checking: 2,000 of 2,000 results (" in shown
    assert "import r.jsonl: storing: 2,000 of 2,000 results (" in shown and "/s)" in shown
    assert "imported 2000 of 2000 results" in shown

    _write_inputs(tmp_path, 2_000, "rich.db")
    drawn, _ = _import_on(tmp_path, terminal=True, env={"NO_COLOR": "", "TERM": "xterm-256color"})
    assert "\x1b[" in drawn  # rich's bar: colours and cursor moves
    assert "import r.jsonl: storing" in drawn and "/s" in drawn

    _write_inputs(tmp_path, 2_000, "piped.db")
    stdout, stderr = _import_on(tmp_path, terminal=False, env={"TERM": "xterm-256color"})
    assert stderr == ""
    assert stdout.startswith("imported 2000 of 2000 results") and "\x1b[" not in stdout and "\r" not in stdout
    assert leftovers(tmp_path) == []


def test_a_pair_changed_between_checking_and_storing_stops_there_keeping_the_pairs_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer stores a result of ams/web after the check and before the store (from the ``stage`` hook,
    through its own connection): ams/api (committed alone: one pair per transaction here) stays, ams/web's group
    rolls back, and the error names what was stored. Importing the file again completes it."""
    monkeypatch.setattr("probe_agent.importing.COMMIT_RESULTS", 1)
    config = load_config(write_config(tmp_path, tmp_path / "probe.db")).config
    lines = jsonl(series("uuu") + series("uuu", endpoint="web", step=30_000)).splitlines(keepends=True)

    @contextmanager
    def meddle(what: str, total: int) -> Iterator[Callable[[int], None]]:
        if what == "storing":
            other = open_db(tmp_path / "probe.db")
            records.import_batch(other, [res(T0 + 10 * MIN, "up", endpoint="web")], now_ms=NOW)
            other.close()
        yield lambda n: None

    conn = open_db(tmp_path / "probe.db")
    try:
        with parse_import(lines, "jsonl", config, now_ms=NOW) as parsed, pytest.raises(ImportRefused) as stopped:
            store_import(conn, config, parsed, now_ms=NOW, stage=meddle)
        assert stopped.value.headline.startswith("import stopped: ams/web changed while importing. Pairs already")
        assert "stored: ams/api." in stopped.value.headline
        assert {(r.endpoint, r.ts_ms) for r in queries.iter_results(conn)} == {
            ("api", T0),
            ("api", T0 + MIN),
            ("api", T0 + 2 * MIN),
            ("web", T0 + 10 * MIN),
        }
        again = import_lines(config, tmp_path / "probe.db", lines, batch=10)
        assert (again.imported, again.skipped) == (3, 3)
    finally:
        conn.close()
