"""The Apprise channel against a real loopback receiver: Apprise's ``json://`` plugin POSTs the notification as
JSON to an aiohttp sink. No internet."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from probe_agent.notify import apprise_channel
from probe_agent.notify.apprise_channel import quiet_apprise_logging, secret_parts, send_apprise
from tests.notify.sinks import HttpSink
from tests.probes.servers import closed_port, serve_app

CANARY = "CanaryAppriseSecret7731"


@pytest.fixture(autouse=True)
def _fresh_loggers() -> Iterator[None]:
    """Each test starts without the redacting filter on Apprise's (and urllib3's) loggers, and leaves none."""
    import apprise  # noqa: F401  # its import makes the child loggers the filter goes on

    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in apprise_channel._LOGGERS]
    loggers = [logging.getLogger(n) for n in {*apprise_channel._LOGGERS, *names}]
    saved = {lg.name: (list(lg.filters), lg.level) for lg in loggers}

    def reset() -> None:
        for lg in loggers:
            for f in list(lg.filters):
                lg.removeFilter(f)

    reset()
    yield
    reset()
    for lg in loggers:
        filters, level = saved[lg.name]
        for f in filters:
            lg.addFilter(f)
        lg.setLevel(level)


async def test_a_json_url_receives_title_body_and_attachment() -> None:
    sink = HttpSink()
    async with serve_app(sink.app()) as server:
        url = f"json://127.0.0.1:{server.port}/hooks/alerts"
        delivery = await send_apprise(
            [url], "endpoint_down: api", "api is down since 12:00", attachment=("claim.html", b"<p>hi</p>", "text/html")
        )
    assert delivery.ok and not delivery.retry
    assert delivery.answer == "apprise: sent to 1 of 1 URLs"
    assert len(sink.requests) == 1
    request = sink.requests[0]
    assert (request.method, request.path) == ("POST", "/hooks/alerts")
    payload = sink.json()
    assert payload["title"] == "endpoint_down: api"
    assert payload["message"] == "api is down since 12:00"
    [attached] = payload["attachments"]
    assert attached["filename"] == "claim.html"
    assert base64.b64decode(attached["base64"]) == b"<p>hi</p>"


async def test_every_url_of_the_list_gets_it() -> None:
    first, second = HttpSink(), HttpSink()
    async with serve_app(first.app()) as one, serve_app(second.app()) as two:
        urls = [f"json://127.0.0.1:{one.port}/", f"json://127.0.0.1:{two.port}/"]
        delivery = await send_apprise(urls, "t", "b")
    assert delivery.ok and delivery.answer == "apprise: sent to 2 of 2 URLs"
    assert (len(first.requests), len(second.requests)) == (1, 1)


async def test_a_receiver_answering_500_is_a_failure_to_retry_and_leaks_no_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_apprise_logging([], level=logging.DEBUG)  # Apprise at its most talkative: every record is checked
    sink = HttpSink(status=500)
    async with serve_app(sink.app()) as server:
        url = f"json://bot:{CANARY}@127.0.0.1:{server.port}/hook/{CANARY}x?token={CANARY}y"
        with caplog.at_level(logging.DEBUG):
            delivery = await send_apprise([url], "title", "body")
    assert len(sink.requests) == 1
    assert not delivery.ok and delivery.retry
    assert delivery.answer == "apprise: sent to 0 of 1 URLs; failed: #1 (json)"
    apprise_records = [r for r in caplog.records if r.name.startswith("apprise")]
    assert any("500" in r.getMessage() for r in apprise_records), "Apprise said nothing: the check proves nothing"
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in (record.exc_text or "")
    assert CANARY not in caplog.text


async def test_a_closed_port_fails_with_retry_and_no_credential_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    url = f"json://user:{CANARY}@127.0.0.1:{closed_port()}/"
    quiet_apprise_logging([url], level=logging.DEBUG)
    with caplog.at_level(logging.DEBUG):
        delivery = await send_apprise([url], "title", "body")
    assert not delivery.ok and delivery.retry
    assert CANARY not in delivery.answer
    assert any(r.name.startswith("apprise") for r in caplog.records)
    assert CANARY not in caplog.text


async def test_an_unknown_scheme_is_not_retried_and_its_url_not_shown() -> None:
    sink = HttpSink()
    async with serve_app(sink.app()) as server:
        urls = [f"json://127.0.0.1:{server.port}/", f"nosuchservice://{CANARY}@example.invalid/", CANARY]
        delivery = await send_apprise(urls, "t", "b")
    assert not delivery.ok and not delivery.retry
    assert delivery.answer == "apprise: sent to 1 of 3 URLs; not an Apprise URL: #2 (nosuchservice), #3"
    assert len(sink.requests) == 1


async def test_no_urls_is_a_configuration_mistake() -> None:
    delivery = await send_apprise([], "t", "b")
    assert not delivery.ok and not delivery.retry


def test_secret_parts_cover_tokens_in_host_path_and_query() -> None:
    parts = secret_parts("tgram://123456789:AAbbCCdd@/-100200300/?to=ops%40example.org")
    assert {"123456789", "AAbbCCdd", "-100200300", "ops%40example.org", "ops@example.org"} <= parts
    assert "tgram" not in parts and "to" not in parts  # a scheme or a short key is no credential


async def test_the_filter_redacts_arguments_and_tracebacks_and_takes_rotated_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = f"slack://{CANARY}A/{CANARY}B/{CANARY}C/"
    new = "ntfy://user:RotatedSecret88@ntfy.example.org/alerts"
    quiet_apprise_logging([old])
    quiet_apprise_logging([new])  # a reload: the new secrets replace the old
    # A first send loads Apprise's plugins, which import requests and urllib3: their child loggers
    # (urllib3.connectionpool) are made then, after the start-up call above, and must carry the filter too.
    await send_apprise([f"json://127.0.0.1:{closed_port()}/"], "title", "body")
    with caplog.at_level(logging.DEBUG):
        try:
            raise ConnectionError("to RotatedSecret88 at ntfy.example.org")
        except ConnectionError:
            logging.getLogger("apprise").exception("sending with %s", "RotatedSecret88")
        logging.getLogger("urllib3.connectionpool").warning("POST /alerts?auth=RotatedSecret88")
    assert "RotatedSecret88" not in caplog.text
    assert "sending with ***" in caplog.text and "ConnectionError: to *** at ***" in caplog.text
    assert f"{CANARY}A" not in secret_parts(new)
