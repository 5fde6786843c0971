"""The agent's own connectivity canaries, and the rule that keeps its outages out of targets' downtime.

When a target fails, the agent probes its controls (one verdict is cached for ``control_cache``); if every control
fails too, the failure says nothing about the target and becomes ``unknown`` (error kind ``controls_failed``). A
resolver's temporary error (``dns_temporary``) is ``unknown`` unless a ``dns`` control resolves at that moment. With
no controls configured the agent cannot tell its own outage from the target's: failures stay ``down`` and the
daemon says so at start-up.

A verdict only speaks for failures that began before its round of control probes started: a target probe that
started later may have met a network that failed in between (a cached "controls up" reused then turned 15 s of the
agent's own outage into three false incidents). Such a failure waits for (or starts) a newer round; the cache
still saves rounds when many targets fail at once, which is what it is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from probe_agent.config.schema import Endpoint
from probe_agent.model import ErrorKind, Outcome, ProbeResult

Prober = Callable[[Endpoint], Awaitable[ProbeResult]]


@dataclass(frozen=True)
class ControlsVerdict:
    any_up: bool  # at least one control passed
    dns_up: bool  # at least one dns control passed
    detail: str
    checked_at: float  # monotonic seconds: when the round finished (the cache counts from here)
    started_at: float = -float("inf")  # monotonic seconds: when the round's control probes started


class Controls:
    """Probes the controls on demand, at most once per ``cache_s`` however many targets fail at once."""

    def __init__(
        self,
        controls: Sequence[Endpoint],
        prober: Prober,
        *,
        cache_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controls = tuple(controls)
        self._prober = prober
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._verdict: ControlsVerdict | None = None
        self._pending: asyncio.Future[ControlsVerdict] | None = None
        self._pending_started = -float("inf")

    @property
    def configured(self) -> bool:
        return bool(self.controls)

    @property
    def latest(self) -> ControlsVerdict | None:
        """The verdict of the latest finished round (None before the first): ``agent_impaired`` reads it."""
        return self._verdict

    def now(self) -> float:
        """The monotonic clock the verdicts are stamped with: take a probe's start from it for ``judge``."""
        return self._monotonic()

    async def verdict(self, since: float = -float("inf")) -> ControlsVerdict:
        """A verdict from a round of control probes that started at or after ``since`` (monotonic seconds): a
        cached one if still fresh, the round under way if it started late enough, else a new round."""
        while True:
            cached = self._verdict
            if (
                cached is not None
                and cached.started_at >= since
                and self._monotonic() - cached.checked_at < self._cache_s
            ):
                return cached
            if self._pending is None:
                return await self._new_round()
            pending, started = self._pending, self._pending_started
            if started >= since:  # many targets failing at once share one round of control probes
                return await asyncio.shield(pending)
            # A round that started before this failure began cannot speak for it: let it finish, then look again.
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)

    async def _new_round(self) -> ControlsVerdict:
        loop = asyncio.get_running_loop()
        self._pending = loop.create_future()
        self._pending_started = started = self._monotonic()
        try:
            results = await asyncio.gather(*(self._prober(c) for c in self.controls))
            passed = [
                r for r, c in zip(results, self.controls, strict=True) if r.outcome in (Outcome.UP, Outcome.DEGRADED)
            ]
            dns_up = any(
                r.outcome in (Outcome.UP, Outcome.DEGRADED)
                for r, c in zip(results, self.controls, strict=True)
                if c.dns is not None
            )
            failed = [f"{r.endpoint}: {r.error_kind or r.outcome}" for r in results if r not in passed]
            detail = f"{len(passed)}/{len(results)} controls up" + (f" ({'; '.join(failed)})" if failed else "")
            verdict = ControlsVerdict(bool(passed), dns_up, detail, self._monotonic(), started)
            self._verdict = verdict
            self._pending.set_result(verdict)
            return verdict
        except BaseException as exc:
            self._pending.set_exception(exc)
            self._pending.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._pending = None

    async def judge(self, result: ProbeResult, started: float = -float("inf")) -> ProbeResult:
        """Apply the controls rule to one target result (up/degraded/unknown results pass through). ``started``:
        when the target's probe started, on ``now()``'s clock; only a verdict from a round started since speaks
        for it (the default accepts any, for callers that probe the controls right after the target anyway)."""
        if result.outcome is not Outcome.DOWN:
            return result
        if result.error_kind is ErrorKind.DNS_TEMPORARY:
            has_dns_control = any(c.dns is not None for c in self.controls)
            verdict = await self.verdict(started) if has_dns_control else None
            if verdict is None or not verdict.dns_up:
                why = verdict.detail if verdict else "no dns control configured to tell"
                return _unknown(
                    result, f"resolver temporary failure, not the target's ({why})", ErrorKind.DNS_TEMPORARY
                )
            return result
        if not self.controls:
            return result
        verdict = await self.verdict(started)
        if verdict.any_up:
            return result
        return _unknown(
            result, f"every control failed too: the agent's own network ({verdict.detail})", ErrorKind.CONTROLS_FAILED
        )


def _unknown(result: ProbeResult, why: str, kind: ErrorKind) -> ProbeResult:
    original = result.error_kind.value if result.error_kind else "down"
    return replace(
        result,
        outcome=Outcome.UNKNOWN,
        error_kind=kind,
        detail=f"{why}; target said {original}: {result.detail}"[:500],
    )
