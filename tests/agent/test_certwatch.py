"""``cert_expiring`` episodes per (endpoint, certificate), hand-counted on results made up for the purpose."""

from __future__ import annotations

from probe_agent.agent.certwatch import DEFAULT_DAYS, CertWatch
from probe_agent.config.notify_schema import EventType
from probe_agent.model import DAY_MS, Outcome, PeerCert, ProbeResult
from probe_agent.notify.event import Event, event_id
from tests.probes.servers import endpoint

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
OLD = PeerCert("aa" * 32, T0 + 10 * DAY_MS)  # 10 days left at T0
NEW = PeerCert("bb" * 32, T0 + 90 * DAY_MS)
SHORT = PeerCert("cc" * 32, T0 + 12 * DAY_MS)  # a replacement that is itself under 14 days


def result(ts: int, cert: PeerCert | None, outcome: Outcome = Outcome.UP) -> ProbeResult:
    return ProbeResult(ts, "a1", "target", outcome, latency_ms=1.0, peer_cert=cert)


def kinds(events: list[Event]) -> list[str]:
    return [str(e.type) for e in events]


def test_one_event_while_the_certificate_stays_then_resolved_when_renewed() -> None:
    ep = endpoint(tls="127.0.0.1:443")  # no cert_expiry_warning: the default, 14 days
    w = CertWatch("a1")
    first = w.observe(ep, result(T0, OLD))
    assert kinds(first) == ["cert_expiring"]
    (event,) = first
    assert event.subject == ("endpoint", "target") and event.time_ms == T0
    assert event.details == {
        "fingerprint_sha256": "aa" * 32,
        "not_after": "2023-11-24T22:13:20.000Z",
        "days_left": 10.0,
        "threshold_days": DEFAULT_DAYS,
    }
    assert event.summary == "target: its TLS certificate expires in 10.0 days (2023-11-24T22:13:20.000Z), seen by a1"
    # The id: (type, agent, endpoint, the certificate's notAfter): the same after a restart.
    assert event.id == event_id(EventType.CERT_EXPIRING, "a1", ("endpoint", "target"), T0 + 10 * DAY_MS)
    assert w.observe(ep, result(T0 + 60_000, OLD)) == []  # still the same certificate: nothing more
    assert w.observe(ep, result(T0 + 120_000, None, Outcome.DOWN)) == []  # a failed probe tells nothing
    (resolved,) = w.observe(ep, result(T0 + 180_000, NEW))
    assert str(resolved.type) == "cert_expiring_resolved" and resolved.episode_start_ms == OLD.not_after_ms
    assert resolved.details["why"] == "renewed" and resolved.details["now_fingerprint_sha256"] == "bb" * 32
    assert resolved.id != event.id
    assert w.observe(ep, result(T0 + 240_000, NEW)) == [] and w.open is None


def test_a_replacement_still_under_the_threshold_resolves_one_episode_and_opens_another() -> None:
    ep = endpoint(tls="127.0.0.1:443")
    w = CertWatch("a1")
    w.observe(ep, result(T0, OLD))
    events = w.observe(ep, result(T0 + 1000, SHORT))
    assert kinds(events) == ["cert_expiring_resolved", "cert_expiring"]
    assert events[0].details["why"] == "renewed" and events[1].details["fingerprint_sha256"] == "cc" * 32
    assert w.open == SHORT


def test_the_endpoints_cert_expiry_warning_is_the_threshold() -> None:
    w = CertWatch("a1")
    assert w.observe(endpoint(tls="127.0.0.1:443", cert_expiry_warning=7), result(T0, OLD)) == []  # 10 > 7
    (event,) = w.observe(
        endpoint(tls="127.0.0.1:443", cert_expiry_warning=30), result(T0, PeerCert("dd" * 32, T0 + 29 * DAY_MS))
    )
    assert event.details["threshold_days"] == 30 and event.details["days_left"] == 29.0
    # The threshold lowered by a reload: the same certificate no longer counts as expiring.
    (resolved,) = w.observe(
        endpoint(tls="127.0.0.1:443", cert_expiry_warning=7), result(T0 + 1000, PeerCert("dd" * 32, T0 + 29 * DAY_MS))
    )
    assert resolved.details["why"] == "no longer under the threshold"


def test_exactly_the_threshold_left_is_not_expiring() -> None:
    w = CertWatch("a1")
    at = PeerCert("ee" * 32, T0 + DEFAULT_DAYS * DAY_MS)
    assert w.observe(endpoint(tls="127.0.0.1:443"), result(T0, at)) == []
    assert kinds(w.observe(endpoint(tls="127.0.0.1:443"), result(T0 + 1, at))) == ["cert_expiring"]
