"""``notify test CHANNEL`` (a test event now, the receiver's answer printed) and ``notify list`` (the outbox)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from probe_agent.commands.common import UsageProblem, emit, load
from probe_agent.commands.options import config_option, format_option, output_option
from probe_agent.commands.store import READING, open_store
from probe_agent.model import now_ms
from probe_agent.notify.dispatch import send_test
from probe_agent.render.notify import deliveries_table, delivery_rows
from probe_agent.store import outbox


@click.group("notify")
def notify_group() -> None:
    """Notifications: send a test event to a channel, list the deliveries of the outbox."""


@notify_group.command("test")
@click.argument("channel_id", metavar="CHANNEL")
@config_option
@format_option("table", "json")
def notify_test(channel_id: str, config_path: Path | None, fmt: str) -> None:
    """Send a test event to CHANNEL now (not through the outbox) and print the receiver's answer; exit 1 if it
    failed. --format json prints {"channel", "kind", "ok", "answer"}."""
    loaded = load(config_path)
    notifications = loaded.config.notifications
    try:
        channel = notifications.channel(channel_id)
    except KeyError:
        known = ", ".join(c.id for c in notifications.channels) or "none"
        raise UsageProblem(f"unknown channel '{channel_id}' (configured: {known})") from None
    delivery = asyncio.run(send_test(channel, loaded.config.agent.id, now_ms(), loaded.secrets))
    if fmt == "json":
        doc = {"channel": channel.id, "kind": channel.kind, "ok": delivery.ok, "answer": delivery.answer}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"{channel.id} ({channel.kind}): {'sent' if delivery.ok else 'failed'}: {delivery.answer}")
    if not delivery.ok:
        raise SystemExit(1)


@notify_group.command("list")
@click.option("--pending", "only", flag_value="pending", help="Only deliveries still to be made (or retried).")
@click.option("--failed", "only", flag_value="failed", help="Only deliveries that failed for good.")
@click.option(
    "--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many, newest first."
)
@config_option
@format_option("table", "json")
@output_option()
def notify_list(only: str | None, limit: int, config_path: Path | None, fmt: str, output: Path | None) -> None:
    """List notification deliveries, newest first: status (pending, sent, failed, summarised), attempts, errors."""
    config = load(config_path).config
    conn = open_store(Path(config.agent.database), readonly=True, wording=READING)
    try:
        entries = outbox.deliveries(conn, statuses=(only,) if only else (), limit=limit)
    finally:
        conn.close()
    rows = delivery_rows(entries)
    emit(json.dumps(rows, indent=2) if fmt == "json" else deliveries_table(rows), output)
