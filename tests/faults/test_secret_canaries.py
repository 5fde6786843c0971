"""Secret canaries: a secret in the config must appear in no artefact the agent writes, whatever path it takes.

The daemon probes a loopback target with a bearer token from the environment and a header from a ``file:`` secret,
then every artefact a user or operator can produce is grepped for both values: the database and its WAL (if a clean
stop left one), a backup,
exports in both formats, reports in every format, status, the config commands, and the daemon's own log. A webhook
channel signs with the environment secret and sends the file secret as a header to a receiver that refuses and
echoes the header back: the outbox's stored error, ``notify list`` and ``notify test`` must not carry it either.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import (
    DaemonLauncher,
    RecordingTarget,
    StoreReader,
    agent_config,
    closed_port,
    wait_until,
    write_config,
)
from tests.notify.sink import webhook_sink

ENV_CANARY = "env-canary-5f1d9c"
FILE_CANARY = "file-canary-77ab02"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe_agent.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.fault(
    "secrets in the config, every artefact grepped",
    expected="neither canary in the database, WAL, backup, exports, reports (all formats), status, config show, "
    "notify list and test, logs",
)
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_no_artefact_carries_a_secret(
    tmp_path: Path,
    db: Path,
    store: StoreReader,
    launcher: DaemonLauncher,
    recorder: RecordingTarget,
    observe: Callable[[str], None],
) -> None:
    (tmp_path / "header-secret").write_text(FILE_CANARY + "\n")
    doc = agent_config(
        db,
        [
            {
                "id": "api",
                "http": {
                    "url": recorder.url("api"),
                    "headers": {"Authorization": "Bearer ${API_TOKEN}", "X-Key": f"file:{tmp_path / 'header-secret'}"},
                },
            },
            {"id": "dead", "tcp": f"127.0.0.1:{closed_port()}"},
        ],
    )
    doc["slas"] = [
        {
            "id": "gold",
            "endpoints": ["api"],
            "target": "99.9%",
            "cycle": {"period": "monthly", "anchor_day": 1, "timezone": "UTC"},
            "credits": {"fee": "100.00", "currency": "EUR", "tiers": [{"below": "99.9%", "credit": "10%"}]},
        }
    ]
    async with webhook_sink(refuse=10**6, status=500) as sink:
        sink.echo = "X-Key"  # a careless receiver: its refusal repeats the header's (secret) value
        doc["notifications"] = {
            "channels": [
                {
                    "id": "hook",
                    "webhook": {
                        "url": sink.url,
                        "secret": "${API_TOKEN}",
                        "headers": {"X-Key": f"file:{tmp_path / 'header-secret'}"},
                    },
                }
            ],
            "routes": [{"channels": ["hook"]}],
        }
        cfg = write_config(tmp_path / "c.yaml", doc)
        env = {**os.environ, "API_TOKEN": ENV_CANARY}
        daemon = await launcher.start(cfg, env={"API_TOKEN": ENV_CANARY})
        await wait_until(lambda: len(store.results("api")) >= 3, timeout=20, what="probing", daemon=daemon)
        await wait_until(
            lambda: store.rows("SELECT 1 FROM outbox WHERE attempts >= 1"), timeout=20, what="a refusal", daemon=daemon
        )
        assert await daemon.stop() == 0
        texts_notify = {
            "notify list": cli("notify", "list", "--format", "json", "-c", str(cfg), env=env),
            "notify test": await asyncio.to_thread(cli, "notify", "test", "hook", "-c", str(cfg), env=env),
        }
    assert sink.received[0][0]["X-Key"] == FILE_CANARY  # the header carried the secret; nothing else may
    assert store.rows("SELECT last_error FROM outbox") == [("HTTP 500: try later (***)",)]

    out = tmp_path / "out"
    out.mkdir()
    texts = {"daemon log": daemon.log(), **{k: v.stdout + v.stderr for k, v in texts_notify.items()}}
    assert texts_notify["notify test"].returncode == 1 and "(***)" in texts_notify["notify test"].stdout
    for fmt in ("jsonl", "csv"):
        assert (
            cli("export", "-c", str(cfg), "--format", fmt, "--output", str(out / f"x.{fmt}"), env=env).returncode == 0
        )
    for fmt in ("table", "json", "csv", "markdown", "html"):
        done = cli("report", "-c", str(cfg), "--format", fmt, "--output", str(out / f"report.{fmt}"), env=env)
        assert done.returncode == 0, done.stderr
    for args in (["status"], ["credits"], ["incidents"], ["config", "show"], ["check", "--format", "json"]):
        done = cli(*args, "-c", str(cfg), env=env)
        texts[" ".join(args)] = done.stdout + done.stderr
    assert cli("db", "backup", str(out / "backup.db"), "-c", str(cfg), env=env).returncode == 0

    files = [p for p in [db, *db.parent.glob(db.name + "-*"), *out.iterdir()] if p.is_file()]
    leaks = [p.name for p in files if ENV_CANARY.encode() in p.read_bytes() or FILE_CANARY.encode() in p.read_bytes()]
    leaks += [name for name, text in texts.items() if ENV_CANARY in text or FILE_CANARY in text]
    observe(f"{len(files)} files and {len(texts)} command outputs grepped; {len(leaks)} leaks")
    assert len(recorder.requests) >= 3  # the probes ran, with the secrets in their headers
    assert leaks == []
