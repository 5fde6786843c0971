"""The fault register, loaded for every test by tests/conftest.py.

Tests marked ``@pytest.mark.fault(name, expected=...)`` make up the fault suite. A fault test lives where its
subject's tests live (config, files, store, daemon; ``tests/faults/`` holds the ones with no other home); the mark
is what makes it part of the suite. It may say what it saw with the ``observe`` fixture (figures: results lost,
seconds taken, the message printed). ``make faults`` runs every marked test (``-m fault``) with ``$FAULTS_MD`` set,
and this module writes that file: one row per fault with what was expected, what was observed in this run, and
pass or fail. A fault that did not run (skipped) is listed as such, never as passed. Faults marked ``long_fault``
too are left out of ``make test`` and run only by ``make faults`` (CI runs both).

Under pytest-xdist a test runs in a worker, so each of its reports carries its fault (a user property: name,
expected, observed) to the controller, and only the controller writes the file.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FaultRecord:
    name: str
    expected: str
    test: str
    observed: list[str] = field(default_factory=list)
    outcome: str = "not run"
    failure: str = ""


_OBSERVED = pytest.StashKey[list[str]]()
_PROPERTY = "fault"  # the user property each fault test's reports carry: its name, what was expected and observed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault(name, expected): part of the fault suite (make faults, FAULTS.md)")
    config.addinivalue_line("markers", "long_fault: a fault too long for make test; make faults runs it")
    config.pluginmanager.register(_Register(), "fault-register")


def _fault_property(item: pytest.Item) -> dict[str, object] | None:
    """What a fault test's report carries to the process that writes FAULTS.md (under pytest-xdist the test runs
    in a worker and its reports are all that reach the controller): plain strings and lists, which xdist sends."""
    mark = item.get_closest_marker("fault")
    if mark is None:
        return None
    name = str(mark.args[0]) if mark.args else item.name
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        name += f" ({callspec.id})"
    observed = list(item.stash.get(_OBSERVED, []))
    return {"name": name, "expected": str(mark.kwargs.get("expected", "")), "observed": observed}


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record what a fault test observed (shown in FAULTS.md); call it before the assertions that judge it."""
    observed = request.node.stash.setdefault(_OBSERVED, [])

    def add(text: str) -> None:
        if request.node.get_closest_marker("fault") is not None:
            observed.append(text)

    return add


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    prop = _fault_property(item)
    if prop is not None:
        report.user_properties = [*report.user_properties, (_PROPERTY, prop)]


class _Register:
    """The faults of this run, one record per test, folded from the reports of each test's phases: in the one
    process of a serial run, or on xdist's controller, which receives every worker's reports."""

    def __init__(self) -> None:
        self.records: dict[str, FaultRecord] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        prop = next((value for key, value in report.user_properties if key == _PROPERTY), None)
        if not isinstance(prop, dict):
            return
        record = self.records.setdefault(
            report.nodeid, FaultRecord(str(prop["name"]), str(prop["expected"]), report.nodeid)
        )
        record.observed = [str(text) for text in prop["observed"]]
        if report.skipped:
            record.outcome = "not run"
            record.failure = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "skipped"
        elif report.failed:
            record.outcome = "FAIL"
            record.failure = (report.longreprtext.strip().splitlines() or ["failed"])[-1][:300]
        elif report.when == "call" and record.outcome != "FAIL":
            record.outcome = "pass"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        target = os.environ.get("FAULTS_MD")
        if not target or hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes it
            return
        records = sorted(self.records.values(), key=lambda r: r.test)
        Path(target).write_text(_faults_md(records))


def _faults_md(records: list[FaultRecord]) -> str:
    passed = sum(r.outcome == "pass" for r in records)
    failed = sum(r.outcome == "FAIL" for r in records)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    lines = [
        "# Faults",
        "",
        "Written by `make faults` (every test marked `fault`); do not edit by hand. Each row is one fault injected in",
        "the last run: what the agent must do, what it did, and whether that held.",
        "",
        f"- run: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, commit {commit.stdout.strip() or 'unknown'}",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- faults: {len(records)}; passed {passed}, failed {failed}, not run {len(records) - passed - failed}",
        "",
        "| fault | expected | observed | result | test |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in records:
        observed = "; ".join(r.observed) or ("as expected" if r.outcome == "pass" else "")
        if r.failure:
            observed = f"{observed}; {r.failure}" if observed else r.failure
        cells = [r.name, r.expected, observed, r.outcome, f"`{r.test}`"]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"
