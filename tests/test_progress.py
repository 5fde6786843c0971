"""Progress on a terminal only (issue 13, item 7): nothing on a pipe, a plain line with NO_COLOR, rich's bar
otherwise; and import/export still read and write every result through the counting."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe_agent.cli import main
from probe_agent.commands.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_on_a_pipe() -> None:
    pipe = io.StringIO()
    with progress("export", "results", stream=pipe) as advance:
        advance(10)
    assert pipe.getvalue() == ""


def test_a_plain_line_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    tty = Terminal()
    with progress("import r.jsonl: reading", "bytes", total=2000, stream=tty) as advance:
        advance(500)  # the first update is shown at once
        advance(1500)
    lines = tty.getvalue().split("\r")
    assert lines[1].startswith("import r.jsonl: reading: 500 of 2,000 bytes (") and ", ETA " in lines[1]
    assert lines[-1].startswith("import r.jsonl: reading: 2,000 of 2,000 bytes (") and lines[-1].endswith("/s)\n")
    assert "\x1b[" not in tty.getvalue()  # no colour, no cursor codes


def test_rich_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = Terminal()
    with progress("export to out.jsonl", "results", stream=tty) as advance:
        for _ in range(3):
            advance(1)
    assert "export to out.jsonl" in tty.getvalue()


def test_import_and_export_through_the_counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_AGENT_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(f'agent: {{id: p1, database: "{tmp_path / "p.db"}"}}\nendpoints:\n  - {{id: web, tcp: "h:1"}}\n')
    lines = "".join(
        json.dumps({"ts": f"2026-11-01T00:{m:02d}:00Z", "endpoint": "web", "outcome": "up"}) + "\n" for m in range(50)
    )
    (tmp_path / "r.jsonl").write_text(lines)
    runner = CliRunner()
    done = runner.invoke(main, ["import", str(tmp_path / "r.jsonl"), "-c", str(path)])
    assert done.exit_code == 0 and done.output.startswith("imported 50 of 50 results")
    done = runner.invoke(main, ["export", "-c", str(path), "-o", str(tmp_path / "out.jsonl")])
    assert done.exit_code == 0
    exported = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(exported) == 50 and json.loads(exported[0])["ts"] == "2026-11-01T00:00:00.000Z"


def test_db_backup_shows_the_copy_growing_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from probe_agent.commands.db import _backup_with_progress
    from probe_agent.store.schema import open_db

    db = tmp_path / "a.db"
    conn = open_db(db)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4096,) for _ in range(256)])  # about 1 MiB
    conn.close()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = Terminal()
    monkeypatch.setattr("sys.stderr", tty)
    _backup_with_progress(db, tmp_path / "b.db")
    final = tty.getvalue().split("\r")[-1]
    copied = (tmp_path / "b.db").stat().st_size
    assert final.startswith(f"db backup to b.db: {copied:,} of {db.stat().st_size:,} bytes (") and final.endswith("\n")
    with pytest.raises(FileExistsError):
        _backup_with_progress(db, tmp_path / "b.db")
