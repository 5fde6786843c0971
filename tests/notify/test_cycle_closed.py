"""``cycle_closed``: the daemon's cycle-close job (``Housekeeping.close_cycles``) enqueues one event per closed cycle
in the transaction of the closed-cycle row; the real sender delivers it to an aiosmtpd sink with the HTML claim
report attached, and to a loopback webhook with the event alone.

October holds hourly up results (``tests/months.py``) and a 60-minute outage on Oct 15 08:00-09:00 (confirm 1): 60
of October's 44 640 minutes down, availability 99.865591 % < 99.9 %: the first tier, 5 % of the 1200.00 EUR fee,
60.00 EUR.
"""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import aiohttp

from probe_agent.agent.housekeeping import Housekeeping
from probe_agent.config import load_config
from probe_agent.model import dt_to_ms, iso
from probe_agent.notify.routes import Router
from probe_agent.notify.sender import Sender
from probe_agent.store.writer import StoreWriter
from tests.months import every, import_rows, rows_for, utc
from tests.notify.sink import webhook_sink
from tests.notify.sinks import SmtpSink

OUTAGE = utc(2026, 10, 15, 8)


def config(tmp_path: Path, hook_url: str, smtp_port: int) -> Path:
    cfg = tmp_path / "probe-agent.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            agent: {{id: ams-1, database: {tmp_path / "pa.db"}, timezone: UTC}}
            defaults: {{interval: 1h, timeout: 10s, retry_interval: 10s, confirm: 1}}
            endpoints:
              - {{id: web, http: "http://127.0.0.1:9/"}}
            services:
              - {{id: shop, endpoints: [web]}}
            notifications:
              channels:
                - {{id: hook, webhook: {{url: "{hook_url}"}}}}
                - id: mail
                  email: {{smtp: "127.0.0.1:{smtp_port}", starttls: false, from: agent@x.test, to: [ops@x.test]}}
              routes: [{{channels: [hook, mail], events: [cycle_closed]}}]
            api: {{public_url: "https://status.example.com/"}}
            slas:
              - id: gold
                services: [shop]
                target: 99.9%
                cycle: {{period: monthly, anchor_day: 1, timezone: UTC}}
                credits:
                  fee: "1200.00"
                  currency: EUR
                  tiers:
                    - {{below: 99.9%, credit: 5%}}
                    - {{below: 97%, credit: 10%}}
                  claim_window: 60d
            """
        )
    )
    return cfg


async def test_a_closed_cycle_sends_one_cycle_closed_with_the_credit_and_the_claim_report_by_email(
    tmp_path: Path,
) -> None:
    down = [(OUTAGE + timedelta(minutes=i), "down") for i in range(60)]
    rows = rows_for(every(utc(2026, 10, 1), utc(2026, 11, 1, 3), timedelta(hours=1)), down)
    now = [dt_to_ms(utc(2026, 11, 4, 0, 7))]  # the cycle ended Nov 1; close_after is 3 days
    with SmtpSink() as smtp:
        async with webhook_sink() as hook:
            cfg = config(tmp_path, hook.url, smtp.port)
            import_rows(tmp_path, cfg, rows)
            loaded = load_config(cfg)
            writer = StoreWriter(tmp_path / "pa.db", flush_interval=0.01)
            writer.start()
            try:
                jobs = Housekeeping(
                    tmp_path / "pa.db",
                    writer,
                    config=lambda: loaded.config,
                    now_ms=lambda: now[0],
                    agent="ams-1",
                    outbox=Router(loaded.config).outbox_rows,
                )
                sender = Sender(writer, agent="ams-1", config=lambda: loaded.config, now_ms=lambda: now[0])
                await jobs.close_cycles()
                await jobs.close_cycles()  # the next hour: closed already, nothing more
                async with aiohttp.ClientSession() as session:
                    await sender.step(session)
                stored = writer.run_sync(lambda c: c.execute("SELECT report, closed_ms FROM closed_cycles").fetchall())
                outbox = writer.run_sync(
                    lambda c: c.execute("SELECT channel, event_type, status FROM outbox ORDER BY id").fetchall()
                )
            finally:
                writer.close()
    assert outbox == [("hook", "cycle_closed", "sent"), ("mail", "cycle_closed", "sent")]
    ((report_text, closed_ms),) = stored
    report = json.loads(report_text)
    (event,) = hook.events()
    assert event["type"] == "cycle_closed" and event["sla"] == "gold" and event["cycle"] == "2026-10"
    assert event["time"] == iso(closed_ms) == iso(now[0])
    details = event["details"]
    assert details["credit"]["amount"] == "60.00" and details["credit"]["currency"] == "EUR"
    assert details["credit"]["percent"] == "5" and "99.9" in details["credit"]["rule"]
    assert (
        details["availability_percent"] == report["availability_percent"] == 99.865591
    )  # 1 - 60 / 44 640 = 0.998655913...
    assert details["target_percent"] == 99.9 and details["met"] is False
    assert details["claim_deadline"] == report["claim_deadline"] is not None
    assert details["cycle_start"] == "2026-10-01T00:00:00.000Z" and details["cycle_end"] == "2026-11-01T00:00:00.000Z"
    assert "attachment" not in event
    # api.public_url set: a link to the report in the JSON API (its trailing slash dropped)
    assert details["report_url"] == "https://status.example.com/api/v1/slas/gold/report?cycle=2026-10"
    (mail,) = smtp.mails
    message = mail.message()
    assert message["Subject"] == event["summary"]
    assert "60.00 EUR" in event["summary"]
    text = message.get_body(("plain",))
    assert text is not None and json.loads(text.get_content()) == event  # the same event, the same id
    (attached,) = list(message.iter_attachments())
    assert attached.get_filename() == "sla-report-gold-2026-10.html"
    assert attached.get_content_type() == "text/html"
    html = attached.get_content()
    html = html.decode() if isinstance(html, bytes) else html
    assert html.lstrip().lower().startswith("<!doctype html") and "gold" in html and "60.00" in html
