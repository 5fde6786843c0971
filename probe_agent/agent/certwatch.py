"""``cert_expiring``: one endpoint's peer certificate is close to its expiry; resolved when it is replaced.

The threshold is the endpoint's ``cert_expiry_warning`` (days; the same setting that makes such results
degraded), or ``DEFAULT_DAYS`` when that is not set (then the results stay up: only the notification tells). An
episode is per (endpoint, certificate): it opens at the first result whose verified certificate has less than the
threshold left, and it is resolved (``cert_expiring_resolved``) by the first result with another certificate
(renewed or replaced: the fingerprint differs), or with the same one once it is no longer under the threshold (the
setting was lowered). A failed probe (no handshake, an expired certificate refused by verification) changes
nothing. The event's id comes from the endpoint and the certificate's expiry (``episode_start_ms`` is its
``notAfter``), so after a restart the same certificate finds the same id and the outbox keeps it once; a
certificate renewed while the agent was stopped is not told as resolved (the episode lived in memory).
"""

from __future__ import annotations

from probe_agent.config.notify_schema import EventType
from probe_agent.config.schema import Endpoint
from probe_agent.model import DAY_MS, PeerCert, ProbeResult, iso
from probe_agent.notify.event import Event

DEFAULT_DAYS = 14


class CertWatch:
    """One endpoint's certificate episode; ``observe`` every result (in order), it returns the events."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.open: PeerCert | None = None

    def observe(self, endpoint: Endpoint, result: ProbeResult) -> list[Event]:
        cert = result.peer_cert
        if cert is None:
            return []
        threshold = endpoint.cert_expiry_warning or DEFAULT_DAYS
        left_days = (cert.not_after_ms - result.ts_ms) / DAY_MS
        expiring = left_days < threshold
        events: list[Event] = []
        opened = self.open
        if opened is not None and (opened != cert or not expiring):
            self.open = None
            events.append(self._resolved(endpoint.id, opened, cert, result.ts_ms))
        if expiring and self.open is None:
            self.open = cert
            events.append(self._expiring(endpoint.id, cert, result.ts_ms, left_days, threshold))
        return events

    def _expiring(self, endpoint: str, cert: PeerCert, now_ms: int, left_days: float, threshold: int) -> Event:
        when = "expired" if left_days < 0 else f"expires in {left_days:.1f} days"
        return Event(
            EventType.CERT_EXPIRING,
            self.agent,
            ("endpoint", endpoint),
            cert.not_after_ms,
            now_ms,
            f"{endpoint}: its TLS certificate {when} ({iso(cert.not_after_ms)}), seen by {self.agent}",
            {
                "fingerprint_sha256": cert.sha256,
                "not_after": iso(cert.not_after_ms),
                "days_left": round(left_days, 2),
                "threshold_days": threshold,
            },
        )

    def _resolved(self, endpoint: str, old: PeerCert, new: PeerCert, now_ms: int) -> Event:
        if new.sha256 == old.sha256:
            why = "no longer under the threshold"
        elif new.not_after_ms > old.not_after_ms:
            why = "renewed"
        else:
            why = "replaced"
        return Event(
            EventType.CERT_EXPIRING_RESOLVED,
            self.agent,
            ("endpoint", endpoint),
            old.not_after_ms,
            now_ms,
            f"{endpoint}: the TLS certificate expiring {iso(old.not_after_ms)} was {why}; "
            f"the one served now expires {iso(new.not_after_ms)} (seen by {self.agent})",
            {
                "fingerprint_sha256": old.sha256,
                "not_after": iso(old.not_after_ms),
                "now_fingerprint_sha256": new.sha256,
                "now_not_after": iso(new.not_after_ms),
                "why": why,
            },
        )
