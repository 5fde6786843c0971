"""Storm control and channel health for the sender. Pure: every method takes ``now_ms``; no I/O, no clock.

``RateLimit``: at most ``limit`` events a minute per (channel, event type). A minute starts with the first event of
its (channel, type) and lasts ``WINDOW_MS``. An event over the limit is held (its delivery stays pending in the
outbox, deferred to the minute's end); when the minute is over, ``expired`` hands back each (channel, type) with
what it held, and the sender marks those summarised and enqueues one message counting them, in one transaction.
The events admitted in a minute are remembered, so a retry of one is not counted again.

``ChannelHealth``: a channel is failing after ``after_attempts`` failed attempts in a row spanning at least
``after_ms`` (so a receiver's restart does not page anyone); the sender then raises ``agent_impaired`` (reason
``channel_failing``) on the other channels, and resolves it when the channel delivers again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW_MS = 60_000
IMPAIRED_AFTER_ATTEMPTS = 5
IMPAIRED_AFTER_MS = 2 * 60_000


@dataclass
class _Window:
    start_ms: int
    admitted: set[str] = field(default_factory=set)  # event ids
    held: dict[int, str] = field(default_factory=dict)  # outbox row id -> the event's summary


@dataclass(frozen=True)
class Held:
    """A minute that is over with events held: what the summary message counts."""

    channel: str
    event_type: str
    start_ms: int
    held: dict[int, str]  # outbox row id -> summary


class RateLimit:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[tuple[str, str], _Window] = {}

    def admit(self, channel: str, event_type: str, event_id: str, row_id: int, summary: str, now_ms: int) -> bool:
        """Whether to deliver this event now; False: it is held until ``window_end``. Call ``expired`` first, so a
        minute that is over is summarised before a new one starts."""
        key = (channel, event_type)
        window = self._windows.get(key)
        if window is None or now_ms >= window.start_ms + WINDOW_MS:
            window = self._windows[key] = _Window(now_ms)
        if event_id in window.admitted:
            return True
        if len(window.admitted) < self.limit:
            window.admitted.add(event_id)
            return True
        window.held[row_id] = summary
        return False

    def window_end(self, channel: str, event_type: str) -> int | None:
        window = self._windows.get((channel, event_type))
        return None if window is None else window.start_ms + WINDOW_MS

    def expired(self, now_ms: int) -> list[Held]:
        """The minutes over at ``now_ms`` that held events (they are forgotten: call once per summary written)."""
        out: list[Held] = []
        for key, window in list(self._windows.items()):
            if now_ms >= window.start_ms + WINDOW_MS:
                del self._windows[key]
                if window.held:
                    out.append(Held(key[0], key[1], window.start_ms, dict(window.held)))
        return out


@dataclass
class _Streak:
    since_ms: int
    attempts: int = 0
    raised: bool = False
    last_error: str = ""


class ChannelHealth:
    def __init__(self, after_attempts: int = IMPAIRED_AFTER_ATTEMPTS, after_ms: int = IMPAIRED_AFTER_MS) -> None:
        self.after_attempts = after_attempts
        self.after_ms = after_ms
        self._streaks: dict[str, _Streak] = {}

    def failed(self, channel: str, error: str, now_ms: int) -> int | None:
        """Count a failed attempt; returns the streak's start (ms) when the channel has just become failing."""
        streak = self._streaks.setdefault(channel, _Streak(now_ms))
        streak.attempts += 1
        streak.last_error = error
        if not streak.raised and streak.attempts >= self.after_attempts and now_ms - streak.since_ms >= self.after_ms:
            streak.raised = True
            return streak.since_ms
        return None

    def delivered(self, channel: str) -> int | None:
        """The channel delivered: its streak ends; returns the streak's start when it had been raised as failing."""
        streak = self._streaks.pop(channel, None)
        return streak.since_ms if streak is not None and streak.raised else None

    def last_error(self, channel: str) -> str:
        streak = self._streaks.get(channel)
        return streak.last_error if streak is not None else ""
