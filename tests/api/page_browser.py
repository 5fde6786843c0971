"""Headless chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port is opened),
for the status page's browser tests: an exact viewport (the headless window itself cannot be narrower than
500 px), scripts disabled for the page (``Emulation.setScriptExecutionDisabled``: the browser still answers the
protocol), the layout's widths without any script in the page (``Page.getLayoutMetrics``), focus and hover on an
element, its box, the DOM as HTML and screenshots.

Chromium runs offline (no network but loopback, no sync, no component updates, a throwaway profile) in its own
process group; every wait is bounded (``TIMEOUT_S`` for the whole session) and the group is killed at the end.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
TIMEOUT_S = 60


class BrowserError(Exception):
    pass


class Browser:
    """One chromium and one page (a target attached in flat mode). Use as a context manager."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self.deadline = time.monotonic() + TIMEOUT_S
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def fds_3_and_4() -> None:
            # Chromium reads commands on fd 3 and writes answers on fd 4; move both above 10 first, so neither
            # dup2 clobbers the other.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        home = profile / "home"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile / 'profile'}", "about:blank",
        ]  # fmt: skip
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=fds_3_and_4,  # only dup2 calls: safe to run between fork and exec
            pass_fds=(3, 4),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.out, self.inp = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def __enter__(self) -> Browser:
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)[
                "sessionId"
            ]
            self.call("Page.enable")
            self.call("DOM.enable")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        for fd in (self.out, self.inp):
            try:
                os.close(fd)
            except OSError:
                pass

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.out, data) :]

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"chromium did not answer within {TIMEOUT_S} s")
            ready, _, _ = select.select([self.inp], [], [], left)
            if ready:
                chunk = os.read(self.inp, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed the pipe")
                self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(frame)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> dict[str, Any]:
        """A command to the page's session (or the browser's), its result; raises ``BrowserError`` on an error."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        self._send(message)
        while True:
            answer = self._receive()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._receive())

    # --- what the tests use -----------------------------------------------------------------------------------

    def open(self, url: str, width: int, height: int, *, mobile: bool, scripts: bool = False) -> None:
        """Load ``url`` in a ``width`` x ``height`` CSS px viewport (scale 1), scripts off unless ``scripts``."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self.call("Emulation.setScriptExecutionDisabled", {"value": not scripts})
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def widths(self) -> tuple[float, float]:
        """(the content's width, the layout viewport's width) in CSS px: overflow when the first is larger."""
        metrics = self.call("Page.getLayoutMetrics")
        return float(metrics["cssContentSize"]["width"]), float(metrics["cssLayoutViewport"]["clientWidth"])

    def html(self) -> str:
        root = self.call("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        text: str = self.call("DOM.getOuterHTML", {"nodeId": root})["outerHTML"]
        return text

    def node(self, selector: str) -> int:
        root = self.call("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node: int = self.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise BrowserError(f"no element matches {selector}")
        return node

    def box(self, selector: str) -> tuple[float, float, float, float] | None:
        """(left, top, right, bottom) of the element's border box in CSS px, or None when it is not rendered."""
        try:
            quad = self.call("DOM.getBoxModel", {"nodeId": self.node(selector)})["model"]["border"]
        except BrowserError as exc:
            if "Could not compute box model" in str(exc):
                return None
            raise
        xs, ys = quad[0::2], quad[1::2]
        return min(xs), min(ys), max(xs), max(ys)

    def focus(self, selector: str) -> None:
        self.call("DOM.focus", {"nodeId": self.node(selector)})

    def hover(self, selector: str) -> None:
        self.call("DOM.scrollIntoViewIfNeeded", {"nodeId": self.node(selector)})
        box = self.box(selector)
        assert box is not None, f"{selector} is not rendered"
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        # The box is in document coordinates; the mouse in the viewport's.
        scroll = self.call("Page.getLayoutMetrics")["cssVisualViewport"]
        self.call(
            "Input.dispatchMouseEvent",
            {"type": "mouseMoved", "x": x - scroll["pageX"], "y": y - scroll["pageY"]},
        )

    def blur(self) -> None:
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 0, "y": 0})
        root = self.call("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        body = self.call("DOM.querySelector", {"nodeId": root, "selector": "h1"})["nodeId"]
        self.call("DOM.setAttributeValue", {"nodeId": body, "name": "tabindex", "value": "-1"})
        self.call("DOM.focus", {"nodeId": body})

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
