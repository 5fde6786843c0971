"""Secret canaries of the notification channels: an SMTP password and an Apprise URL, both from ``file:`` secret
references, appear in no log, database row (the outbox included), error message or command output, with the daemon
(a real process) running against receivers that fail: an SMTP server that refuses the login after STARTTLS, and an
Apprise ``json://`` URL (with the canary as its password) to a sink that answers 500.

The daemon trusts the test CA through ``SSL_CERT_FILE`` (Python's default context reads it), so the login really
happens, and is refused: the password left the agent only towards the receiver it is for.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from tests.e2e.harness import DaemonLauncher, StoreReader, agent_config, closed_port, wait_until, write_config
from tests.notify.sinks import HttpSink, SmtpSink
from tests.probes.servers import LOOPBACK, serve_app

SMTP_CANARY = "smtp-canary-3e9a41"
APPRISE_CANARY = "apprise-canary-c07d55"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe_agent.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.fault(
    "SMTP password and Apprise URL in the config, failing receivers",
    expected="neither canary in the database, outbox errors, notify list/test, logs",
)
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_no_artefact_carries_an_smtp_password_or_an_apprise_url(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, observe: Callable[[str], None]
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK, "localhost").configure_cert(server_tls)
    http = HttpSink(status=500)
    with SmtpSink(password="the-right-one", tls=server_tls, require_starttls=True) as smtp:
        async with serve_app(http.app()) as server:
            (tmp_path / "smtp-password").write_text(SMTP_CANARY + "\n")
            (tmp_path / "apprise-url").write_text(f"json://agent:{APPRISE_CANARY}@{LOOPBACK}:{server.port}/hook\n")
            doc = agent_config(db, [{"id": "dead", "tcp": f"127.0.0.1:{closed_port()}"}])
            doc["notifications"] = {
                "channels": [
                    {
                        "id": "mail",
                        "email": {
                            "smtp": f"{LOOPBACK}:{smtp.port}",
                            "username": "agent",
                            "password": f"file:{tmp_path / 'smtp-password'}",
                            "from": "agent@example.org",
                            "to": ["ops@example.org"],
                        },
                    },
                    {"id": "alerts", "apprise": f"file:{tmp_path / 'apprise-url'}"},
                ],
                "routes": [{"channels": ["mail", "alerts"]}],
            }
            cfg = write_config(tmp_path / "c.yaml", doc)
            env = {**os.environ, "SSL_CERT_FILE": str(ca_file)}
            daemon = await launcher.start(cfg, env={"SSL_CERT_FILE": str(ca_file)})
            await wait_until(
                lambda: store.rows("SELECT count(*) FROM outbox WHERE attempts >= 1") == [(2,)],
                timeout=40,
                what="both channels refused",
                daemon=daemon,
            )
            assert await daemon.stop() == 0
            texts_notify = {
                "notify list": cli("notify", "list", "--format", "json", "-c", str(cfg), env=env),
                "notify list --failed": cli("notify", "list", "--pending", "-c", str(cfg), env=env),
                "notify test mail": await asyncio.to_thread(cli, "notify", "test", "mail", "-c", str(cfg), env=env),
                "notify test alerts": await asyncio.to_thread(cli, "notify", "test", "alerts", "-c", str(cfg), env=env),
                "config show": cli("config", "show", "-c", str(cfg), env=env),
            }
    # The secrets reached the receivers they are for, and were refused there.
    assert ("LOGIN", False) in smtp.logins or ("PLAIN", False) in smtp.logins, smtp.logins
    assert http.requests and "Authorization" in http.requests[0].headers
    errors = store.rows("SELECT channel, last_error FROM outbox ORDER BY channel")
    assert [channel for channel, _ in errors] == ["alerts", "mail"] and all(e for _, e in errors)
    for name in ("notify test mail", "notify test alerts"):
        assert texts_notify[name].returncode == 1, texts_notify[name].stdout + texts_notify[name].stderr
    texts = {"daemon log": daemon.log(), **{k: v.stdout + v.stderr for k, v in texts_notify.items()}}
    files = [p for p in [db, *db.parent.glob(db.name + "-*")] if p.is_file()]
    canaries = (SMTP_CANARY, APPRISE_CANARY)
    leaks = [p.name for p in files for c in canaries if c.encode() in p.read_bytes()]
    leaks += [name for name, text in texts.items() for c in canaries if c in text]
    observe(f"{len(files)} files and {len(texts)} outputs grepped; outbox errors {errors}; {len(leaks)} leaks")
    assert leaks == []
