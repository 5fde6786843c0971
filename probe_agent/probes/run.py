"""``run_probe``: one probe of one endpoint, under a hard deadline, always returning a classified result.

Outcome rules:
- a passing check is ``up``; ``degraded`` if it took longer than ``degraded_after`` (strictly) or carries a
  warning (a certificate expiring within ``cert_expiry_warning`` days);
- a failure is ``down`` with its error kind, except local failures (``agent_error``), which are ``unknown``;
- ``dns_temporary`` is ``down`` here; the daemon's controls rule decides whether it becomes ``unknown``;
- the deadline (``timeout``) covers everything: resolution, connect, TLS, request, body, redirects. Where it
  expired decides the kind: resolving -> ``dns_temporary``, connecting -> ``connect_timeout``, after ->
  ``read_timeout``;
- any exception this package does not recognise (a bug) is logged with its traceback and reported as
  ``unknown``/``agent_error``: one bad check must never kill the daemon.

What probes of one event loop share (http sessions, the DNS cache) is its ``ProbeClient`` (client.py), passed as
``client``; without one, ``run_probe`` makes a short-lived one for this probe alone (one-shot callers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import MappingProxyType

from probe_agent.config.schema import Endpoint
from probe_agent.model import ErrorKind, Outcome, ProbeResult, now_ms
from probe_agent.probes.attempt import Attempt, current_attempt
from probe_agent.probes.classify import classify, classify_timeout, outcome_for
from probe_agent.probes.client import ProbeClient
from probe_agent.probes.dns import probe_dns
from probe_agent.probes.http import probe_http
from probe_agent.probes.tcp import probe_tcp
from probe_agent.probes.tls import probe_tls

log = logging.getLogger(__name__)

_PROBES: dict[str, Callable[[Endpoint, Attempt], Awaitable[None]]] = {
    "tcp": probe_tcp,
    "tls": probe_tls,
    "dns": probe_dns,
}
_MAX_DETAIL = 300


async def run_probe(
    endpoint: Endpoint,
    *,
    agent: str,
    resolvers: Sequence[str] = (),
    wall_clock_ms: Callable[[], int] = now_ms,
    monotonic: Callable[[], float] = time.monotonic,
    recheck: bool = False,
    client: ProbeClient | None = None,
) -> ProbeResult:
    """Probe ``endpoint`` once. Never raises for the target's failure (or for a bug: see the module doc).

    ``ts_ms`` is ``wall_clock_ms()`` at the start; ``latency_ms`` the ``monotonic()`` duration in ms (never
    negative). ``resolvers`` are nameserver addresses (``ip`` or ``ip:port``); empty means the system resolver.
    ``client`` is the event loop's ``ProbeClient`` (None: a short-lived one for this probe). Cancellation (the
    daemon stopping) propagates.
    """
    if client is None and endpoint.kind == "http":
        owned = ProbeClient()
        try:
            return await _run(endpoint, agent, resolvers, wall_clock_ms, monotonic, recheck, owned)
        finally:
            # Shielded: a cancellation here must not leave the session half closed (and warning at exit).
            await asyncio.shield(owned.close())
    return await _run(endpoint, agent, resolvers, wall_clock_ms, monotonic, recheck, client)


async def _run(
    endpoint: Endpoint,
    agent: str,
    resolvers: Sequence[str],
    wall_clock_ms: Callable[[], int],
    monotonic: Callable[[], float],
    recheck: bool,
    client: ProbeClient | None,
) -> ProbeResult:
    ts_ms = wall_clock_ms()
    start = monotonic()
    attempt = Attempt(monotonic=monotonic, wall_clock_ms=wall_clock_ms, resolvers=tuple(resolvers))
    if endpoint.dns_cache == "ttl" and client is not None:
        attempt.dns_cache = client.dns_cache
    kind: ErrorKind | None = None
    detail = ""
    token = current_attempt.set(attempt)
    try:
        timeout_ms = endpoint.timeout
        timeout_s = timeout_ms / 1000
        attempt.deadline_loop_s = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                if endpoint.http is not None:
                    assert client is not None  # run_probe made one
                    await probe_http(endpoint, attempt, client)
                else:
                    await _PROBES[endpoint.kind](endpoint, attempt)
        except TimeoutError:
            kind, detail = classify_timeout(attempt.stage, timeout_ms)
    except Exception as exc:
        classified = classify(exc, endpoint.host or "")
        if classified is None:
            log.error("probe of %s failed with an unexpected error", endpoint.id, exc_info=exc)
            kind, detail = ErrorKind.AGENT_ERROR, f"agent error: {type(exc).__name__}: {exc}"
        else:
            kind, detail = classified
    finally:
        current_attempt.reset(token)
    latency_ms = max(monotonic() - start, 0.0) * 1000.0
    if kind is not None:
        outcome = outcome_for(kind)
    else:
        outcome = Outcome.UP
        notes = attempt.notes + attempt.warnings
        if attempt.warnings:
            outcome = Outcome.DEGRADED
        limit = endpoint.degraded_after
        if limit is not None and latency_ms > limit:
            outcome = Outcome.DEGRADED
            notes.append(f"slower than degraded_after ({latency_ms:.0f} ms > {limit} ms)")
        detail = "; ".join(notes)
    return ProbeResult(
        ts_ms=ts_ms,
        agent=agent,
        endpoint=endpoint.id,
        outcome=outcome,
        latency_ms=latency_ms,
        status_code=attempt.status_code,
        error_kind=kind,
        detail=_clip(detail),
        phases=MappingProxyType({k: round(v, 3) for k, v in attempt.phases.items()}),
        tls_days_left=attempt.tls_days_left,
        peer_cert=attempt.peer_cert,
        recheck=recheck,
    )


def _clip(text: str) -> str:
    flat = " ".join(text.split())  # one line: details end up in tables and logs
    return flat if len(flat) <= _MAX_DETAIL else flat[: _MAX_DETAIL - 1] + "…"
