"""The daemon's time labels: wall-clock UTC names the moment, the monotonic clock measures the time between labels.

One anchor, a (wall, monotonic) pair, is taken at start-up; every label is the anchor's wall time plus the
monotonic time elapsed since (integer ms). So the spacing of results, and with it every duration the timeline is
made of, comes from the monotonic clock, and labels never go backwards. Each label is compared with the wall clock;
a disagreement of more than ``tolerance_ms`` (1 s) is a **step**, logged at warning level and flagged in the note of
every label given while it lasts:

- **Backward** (the wall clock is behind the labels): labels keep running on the monotonic clock, ahead of the wall
  clock, so no result is refused or squeezed and no outage loses its length. They stay ahead until the wall clock
  catches up (steps forward again, or is past everything stored at a later start-up).
- **Forward** (the wall clock is ahead): labels keep running on the monotonic clock for ``settle_ms`` (5 min). A
  step that comes back within that time (``+1 h`` and back) costs nothing; one that holds is the clock's correction:
  the labels jump to the wall clock, and the time skipped (the step's size, no more) is ``no_data`` on every
  timeline, since no result speaks for it (never down time: an outage in progress stays one incident across it).
- **Start-up** with the wall clock at or behind the latest time stored for this agent (its last run's end, its
  folds' last results): labelling starts 1 ms after that time, so every result is stored and ordered after the
  previous run's; this is a backward step as above.

The elapsed time is ``CLOCK_BOOTTIME`` where the OS has it (Linux): it keeps counting while the machine is
suspended, so a suspend is time that passed (``no_data``: no result speaks for it), not a step. Elsewhere it is
``time.monotonic``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from probe_agent.model import iso, now_ms
from probe_agent.units import duration_human

log = logging.getLogger("probe_agent.agent")

TOLERANCE_MS = 1_000  # wall clock and labels this close agree: NTP slews both clocks alike, only steps part them
SETTLE_MS = 300_000  # a forward step the wall clock keeps this long is its correction, and the labels follow it


wall_clock_ms = now_ms  # the wall clock this module's LabelClock reads by default (model.now_ms)


def elapsed_ns() -> int:
    """A clock that never steps, in ns: boot time (counts suspend) where available, else monotonic."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime_ns(boottime)
    return time.monotonic_ns()


@dataclass(frozen=True, slots=True)
class Label:
    """``ts_ms``: the label (epoch ms); ``note``: empty while the wall clock agrees with it, else what the step is
    (stored in the result's detail, so an exported result says why its ts is not the wall clock's reading)."""

    ts_ms: int
    note: str = ""


class LabelClock:
    """Labels for results, heartbeats and run ends; see the module doc for the rules.

    ``wall_ms`` and ``elapsed_ns`` are the seams (tests step the first, advance the second). ``start`` anchors it;
    reading it before ``start`` anchors it at the wall clock.
    """

    def __init__(
        self,
        wall_ms: Callable[[], int] = wall_clock_ms,
        elapsed_ns: Callable[[], int] = elapsed_ns,
        *,
        tolerance_ms: int = TOLERANCE_MS,
        settle_ms: int = SETTLE_MS,
    ) -> None:
        self.wall_ms = wall_ms
        self._elapsed_ns = elapsed_ns
        self.tolerance_ms = tolerance_ms
        self.settle_ms = settle_ms
        self._anchor: tuple[int, int] | None = None  # (label ms, elapsed ns) at the anchor
        self._step: int | None = None  # wall - label of the step in progress (ms), None while they agree
        self._step_seen_ns = 0  # elapsed ns when that step was first seen
        self._last = 0  # the latest label given: labels never go backwards
        self.steps = 0  # steps detected since start (for status and tests)

    def start(self, floor_ms: int | None = None) -> int:
        """Anchor at the wall clock, or at ``floor_ms + 1`` if the wall clock is not after ``floor_ms`` (the latest
        time already stored for this agent). Returns the first label."""
        wall, now_ns = self.wall_ms(), self._elapsed_ns()
        label = wall if floor_ms is None or wall > floor_ms else floor_ms + 1
        self._anchor = (label, now_ns)
        self._last = label
        self._step = None
        if label != wall:
            self._step, self._step_seen_ns = wall - label, now_ns
            self.steps += 1
            log.warning(
                "wall clock (%s) is %s behind the latest time stored for this agent (%s): labelling from %s on "
                "the monotonic clock, ahead of the wall clock until it catches up",
                iso(wall),
                duration_human(label - 1 - wall),
                iso(label - 1),
                iso(label),
            )
        return label

    def now_ms(self) -> int:
        """The current label (epoch ms)."""
        return self.read().ts_ms

    def read(self) -> Label:
        """The current label and its note; detects steps, and follows a forward one that held ``settle_ms``."""
        if self._anchor is None:
            self.start()
        assert self._anchor is not None
        wall, now_ns = self.wall_ms(), self._elapsed_ns()
        anchor_ms, anchor_ns = self._anchor
        derived = anchor_ms + (now_ns - anchor_ns) // 1_000_000
        offset = wall - derived
        note = ""
        if abs(offset) <= self.tolerance_ms:
            if self._step is not None:
                log.warning("wall clock agrees with the labels again (%s off); step over", _signed(offset))
                self._step = None
        else:
            if self._step is None or abs(offset - self._step) > self.tolerance_ms:
                self._step, self._step_seen_ns = offset, now_ns
                self.steps += 1
                log.warning(
                    "wall clock stepped %s by %s (it reads %s, the monotonic clock says %s): labels stay on the "
                    "monotonic clock%s",
                    "forward" if offset > 0 else "back",
                    duration_human(abs(offset)),
                    iso(wall),
                    iso(derived),
                    f" and follow the step if it holds {self.settle_ms // 1000} s" if offset > 0 else "",
                )
            if offset > 0 and now_ns - self._step_seen_ns >= self.settle_ms * 1_000_000:
                log.warning(
                    "wall clock kept its %s step forward for %s: labels follow it from %s; the %s skipped are no_data",
                    duration_human(offset),
                    duration_human(self.settle_ms),
                    iso(wall),
                    duration_human(offset),
                )
                self._anchor = (wall, now_ns)
                self._step = None
                derived = wall
                note = (
                    f"wall clock stepped forward {duration_human(offset)}; labels followed it (the time skipped is "
                    "no_data)"
                )
            else:
                side = "ahead of" if offset > 0 else "behind"
                note = f"wall clock {duration_human(abs(offset))} {side} this ts, which is on the monotonic clock"
        self._last = max(self._last, derived)
        return Label(self._last, note)

    def read_at(self, at_ns: int) -> Label:
        """The label of an earlier moment, ``at_ns`` on ``elapsed_ns``' clock: a probe process's mark of its probe's
        start (``CLOCK_BOOTTIME`` and ``CLOCK_MONOTONIC`` are system-wide on Linux, so a mark taken in another process
        is on this clock). Reads the clock now (so steps are detected and followed here, once, for every process)
        and labels the mark on the current anchor, with the current note; never after the current label, and a
        mark from before the anchor (a probe in flight when a forward step was followed) is labelled at the anchor."""
        now = self.read()
        assert self._anchor is not None
        anchor_ms, anchor_ns = self._anchor
        ts = anchor_ms + max(at_ns - anchor_ns, 0) // 1_000_000
        return Label(min(ts, now.ts_ms), now.note)


def _signed(offset_ms: int) -> str:
    return ("+" if offset_ms >= 0 else "-") + duration_human(abs(offset_ms))
