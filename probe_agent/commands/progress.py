"""Progress of long work on a terminal (``import``, ``export``): count, rate and, when the total is known, ETA.

Shown on standard error only when it is a terminal, so nothing reaches a pipe or a log; with ``NO_COLOR`` set (or
``TERM=dumb``) as a plain line rewritten in place, else as rich's progress bar. Updates are throttled (rich
refreshes a few times a second; the plain line at most every half second), so counting costs nothing noticeable.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from probe_agent.units import duration_text

Advance = Callable[[int], None]


def _wanted(stream: TextIO) -> bool:
    return stream.isatty()


def _plain(stream: TextIO) -> bool:
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


@contextmanager
def progress(what: str, unit: str, total: int | None = None, stream: TextIO | None = None) -> Iterator[Advance]:
    """A context whose value ``advance(n)`` counts ``n`` more ``unit``s of ``what`` (``total``: for the ETA)."""
    out = stream if stream is not None else sys.stderr
    if not _wanted(out):
        yield lambda n: None
        return
    if _plain(out):
        with _plain_progress(what, unit, total, out) as advance:
            yield advance
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Units per second since the start (as the plain line counts it): shown from the first update on, where
        rich's own speed needs several samples first."""

        def render(self, task: Task) -> Text:
            elapsed = task.elapsed or 0.0
            return Text(f"{task.completed / elapsed:,.0f}/s" if elapsed > 0 else "")

    counted = MofNCompleteColumn() if total else TextColumn("{task.completed:,.0f}")
    # With a total: percent done and the ETA beside the rate; without one, the count and the rate.
    columns: list[ProgressColumn] = [TextColumn(what), BarColumn(), counted, TextColumn(unit)]
    if total:
        columns.append(TaskProgressColumn())
    columns += [Rate(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(file=out), transient=True) as bar:
        task = bar.add_task(what, total=total)
        # Counted here and handed to rich at most every 50 ms: ``bar.advance`` takes a lock and keeps samples, which
        # per line of a million-line import was seconds of work.
        pending, handed_at = 0, 0.0

        def advance(n: int) -> None:
            nonlocal pending, handed_at
            pending += n
            now = time.monotonic()
            if now - handed_at >= 0.05:
                bar.advance(task, pending)
                pending, handed_at = 0, now

        yield advance
        bar.advance(task, pending)


@contextmanager
def _plain_progress(what: str, unit: str, total: int | None, out: TextIO) -> Iterator[Advance]:
    started = time.monotonic()
    done = 0
    shown_at = 0.0

    def show(final: bool = False) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        rate = done / elapsed
        text = f"{what}: {done:,}" + (f" of {total:,}" if total else "") + f" {unit} ({rate:,.0f}/s"
        if total and rate > 0 and not final:
            text += f", ETA {duration_text(int((total - done) / rate * 1000) // 1000 * 1000)}"
        out.write("\r" + text + ")" + ("\n" if final else ""))
        out.flush()

    def advance(n: int) -> None:
        nonlocal done, shown_at
        done += n
        now = time.monotonic()
        if now - shown_at >= 0.5:
            shown_at = now
            show()

    yield advance
    show(final=True)
