"""Signals and systemd: SIGHUP reloads (refusing broken configs), SIGTERM stops cleanly, sd_notify messages."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import yaml

from probe_agent.demo_targets import Targets
from tests.e2e.harness import (
    DaemonLauncher,
    DaemonProcess,
    StoreReader,
    agent_config,
    assert_tiled,
    wait_until,
    write_config,
)

STOP_TIMEOUT_S = 1.0
# After the in-flight probes are abandoned: flush the writer, close the run, tear down the interpreter.
EXIT_SLACK_S = 2.5


def refused(daemon: DaemonProcess, times: int) -> bool:
    return daemon.log().count("reload refused") >= times


async def results_keep_arriving(store: StoreReader, daemon: DaemonProcess, *endpoints: str) -> None:
    before = {ep: len(store.results(ep)) for ep in endpoints}
    await wait_until(
        lambda: all(len(store.results(ep)) >= before[ep] + 2 for ep in endpoints),
        timeout=6,
        what=f"new results for {endpoints}",
        daemon=daemon,
    )


@pytest.mark.fault(
    "SIGHUP with broken configs (bad YAML, unknown key, a rotated secret in a bad value, missing file)",
    expected="reload refused, probing goes on, the secret never logged",
)
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_sighup_refuses_broken_configs_then_applies_an_edited_one(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, targets: Targets
) -> None:
    path = tmp_path / "c.yaml"
    keep = {"id": "keep", "http": targets.url("/healthy")}
    old = {"id": "old", "http": targets.url("/switch")}
    # Removed while a probe of it is in flight: /slow answers after 1.5 s, every 2 s.
    targets.script.slow_s = 1.5
    in_flight = {"id": "in-flight", "http": targets.url("/slow"), "interval": "2s", "timeout": "1800ms"}
    write_config(path, agent_config(db, [keep, old, in_flight]))
    daemon = await launcher.start(path)
    await wait_until(lambda: store.results("keep") and store.results("old"), timeout=15, what="probing", daemon=daemon)

    # A secret (rotated in since start-up, so the log's redaction has never seen it) inside a value that fails
    # validation: the refusal must not echo it.
    canary = "htp://host/h?token=rotated-canary-7f3a"
    (tmp_path / "url-secret").write_text(canary)
    leaky = {"id": "leaky", "http": f"file:{tmp_path / 'url-secret'}"}
    broken = {
        "invalid YAML": "agent: {id: t1\nendpoints: [\n",
        "an unknown key": path.read_text().replace("heartbeat:", "hartbeat:"),
        "a secret in an invalid value": None,
        "a missing file": None,
    }
    broken["a secret in an invalid value"] = yaml.safe_dump(agent_config(db, [keep, old, in_flight, leaky]))
    for n, (what, text) in enumerate(broken.items(), start=1):
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        daemon.signal(signal.SIGHUP)
        await wait_until(partial(refused, daemon, n), timeout=5, what=f"refusal of {what}", daemon=daemon)
        await results_keep_arriving(store, daemon, "keep", "old")
    assert len(store.rows("SELECT * FROM config_activations")) == 1, "a refused config never took effect"
    assert "rotated-canary" not in daemon.log() and "url: '***' is not an http" in daemon.log()

    new = {"id": "new", "http": targets.url("/healthy")}
    write_config(path, agent_config(db, [keep, new]))
    await wait_until(lambda: store.results("in-flight"), timeout=5, what="a slow result", daemon=daemon)
    requests = targets.counts["slow"]
    await wait_until(lambda: targets.counts["slow"] > requests, timeout=5, what="a slow request", daemon=daemon)
    daemon.signal(signal.SIGHUP)  # 1.5 s before that request is answered
    await wait_until(lambda: store.results("new"), timeout=6, what="the added endpoint probed", daemon=daemon)
    ((applied_ms,),) = store.rows("SELECT effective_ms FROM config_activations ORDER BY id LIMIT 1 OFFSET 1")
    await results_keep_arriving(store, daemon, "keep", "new")
    await asyncio.sleep(1.0)  # the slow probe in flight at the reload has finished by now
    assert await daemon.stop() == 0
    assert "reloaded; probing 2 endpoints" in daemon.log()
    assert "raised" not in daemon.log() and "Traceback" not in daemon.log()
    assert "in-flight: probe finished after the endpoint was removed" in daemon.log(), "the race was exercised"

    old_results = store.results("old")
    assert max(r.ts_ms for r in old_results) < applied_ms, "the removed endpoint stopped being probed"
    old_timeline = store.intervals("old")
    assert old_timeline and {i.state for i in old_timeline} == {"up"}, "its history is kept"
    assert_tiled(old_timeline)
    last = old_results[-1].ts_ms
    assert old_timeline[-1].end_ms == min(last + 1000 + 800, applied_ms), "closed at the reload, not later"
    assert store.fold_states()["old"]["last"]["open"] is False
    assert_tiled(store.intervals("keep"))
    # The probe in flight at the reload stored nothing: its endpoint's timeline had already ended.
    assert max(r.ts_ms for r in store.results("in-flight")) < applied_ms
    assert all(i.end_ms <= applied_ms for i in store.intervals("in-flight"))
    assert store.fold_states()["in-flight"]["last"]["open"] is False


@pytest.mark.slow
@pytest.mark.fault("SIGTERM with a probe in flight", expected="clean stop within stop_timeout, every interval closed")
@pytest.mark.timeout(45)
async def test_sigterm_stops_cleanly_within_the_stop_timeout_and_closes_every_interval(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, targets: Targets
) -> None:
    slow = {"id": "slow", "http": targets.url("/slow"), "interval": "6s", "timeout": "5500ms"}
    doc = agent_config(
        db, [{"id": "ok", "http": targets.url("/healthy")}, slow], agent={"stop_timeout": f"{STOP_TIMEOUT_S}s"}
    )
    daemon = await launcher.start(write_config(tmp_path / "c.yaml", doc))
    await wait_until(lambda: len(store.results("ok")) >= 2, timeout=15, what="probing", daemon=daemon)
    # /slow answers after 5 s: once its request arrived, a probe is in flight for the whole stop timeout.
    await wait_until(lambda: targets.counts.get("slow"), timeout=10, what="a slow probe in flight", daemon=daemon)

    sent_ms = daemon.signal(signal.SIGTERM)
    started = time.monotonic()
    code = await daemon.wait(STOP_TIMEOUT_S + EXIT_SLACK_S + 5)
    took = time.monotonic() - started
    assert code == 0
    assert STOP_TIMEOUT_S - 0.1 <= took <= STOP_TIMEOUT_S + EXIT_SLACK_S, f"stopped after {took:.2f}s"
    assert "cancelling 1 probe(s) still running" in daemon.log()

    (run,) = store.runs()
    assert run.clean == 1 and run.stopped_ms is not None
    assert daemon.exited_ms is not None and sent_ms <= run.stopped_ms <= daemon.exited_ms
    stop = run.stopped_ms
    assert all(i.end_ms <= stop for i in store.intervals())
    ok_results, ok_timeline = store.results("ok"), store.intervals("ok")
    assert_tiled(ok_timeline)
    assert ok_timeline[-1].end_ms == min(ok_results[-1].ts_ms + 1000 + 800, stop)
    assert store.results("slow") == [], "the abandoned probe stored nothing"
    for endpoint, snap in store.fold_states().items():
        if snap["last"] is not None:
            assert snap["last"]["open"] is False, endpoint
        assert snap["frontier"] is None or snap["frontier"] <= stop, endpoint
        assert snap["cur"] is None or snap["cur"][1] <= stop, endpoint
        assert all(end <= stop for _, end, _ in snap["pending"]), endpoint


# -- sd_notify ----------------------------------------------------------------------------------------------


@dataclass
class NotifyListener:
    """A unix datagram socket standing in for systemd's notify socket: ``(monotonic s, lines)`` per message."""

    path: Path
    messages: list[tuple[float, list[str]]] = field(default_factory=list)

    def seen(self, line: str) -> list[float]:
        return [at for at, lines in self.messages if line in lines]

    def after(self, line: str, since: float) -> list[float]:
        return [at for at in self.seen(line) if at >= since]

    def values(self, key: str) -> list[str]:
        return [ln.split("=", 1)[1] for _, lines in self.messages for ln in lines if ln.startswith(f"{key}=")]


@contextlib.asynccontextmanager
async def notify_socket(path: Path) -> AsyncIterator[NotifyListener]:
    listener = NotifyListener(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()

    async def receive() -> None:
        while True:
            data = await loop.sock_recv(sock, 65536)
            listener.messages.append((time.monotonic(), data.decode().splitlines()))

    task = asyncio.create_task(receive())
    try:
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


WATCHDOG_USEC = 2_000_000


@pytest.mark.slow
@pytest.mark.timeout(45)
async def test_sd_notify_ready_status_watchdog_reload_and_stopping(
    tmp_path: Path, db: Path, store: StoreReader, launcher: DaemonLauncher, targets: Targets
) -> None:
    # The default 5 s heartbeat is longer than the 2 s watchdog: the daemon must pet it often enough anyway.
    doc = agent_config(db, [{"id": "ok", "http": targets.url("/healthy")}], agent={"heartbeat": "5s"})
    cfg = write_config(tmp_path / "c.yaml", doc)
    async with notify_socket(tmp_path / "notify.sock") as systemd:
        env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        daemon = await launcher.start(cfg, env=env)
        await wait_until(lambda: systemd.seen("READY=1"), timeout=15, what="READY=1", daemon=daemon)
        ready_at = systemd.seen("READY=1")[0]
        await wait_until(lambda: len(systemd.seen("WATCHDOG=1")) >= 4, timeout=10, what="WATCHDOG=1", daemon=daemon)
        assert f"MAINPID={daemon.pid}" in systemd.messages[0][1]
        assert any(v.startswith("probing 1 endpoints") for v in systemd.values("STATUS"))
        # systemd kills a unit that stays silent for WATCHDOG_USEC; sd_watchdog_enabled(3): notify every half.
        beats = [ready_at, *systemd.seen("WATCHDOG=1")]
        gaps = [b - a for a, b in itertools.pairwise(beats)]
        assert max(gaps) <= WATCHDOG_USEC / 2e6 + 0.3, f"watchdog gaps {gaps}"

        hup_at = time.monotonic()
        daemon.signal(signal.SIGHUP)
        await wait_until(
            lambda: systemd.after("READY=1", hup_at), timeout=5, what="READY=1 after the reload", daemon=daemon
        )
        (reloading,) = systemd.after("RELOADING=1", hup_at)
        assert reloading <= systemd.after("READY=1", hup_at)[0]

        term_at = time.monotonic()
        assert await daemon.stop() == 0
        assert systemd.after("STOPPING=1", term_at)
        assert not systemd.after("READY=1", term_at)
    assert "sd_notify to" not in daemon.log(), "no send failed"
