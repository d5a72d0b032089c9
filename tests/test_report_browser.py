"""A generated report in real headless Chromium: it renders, logs no errors, every image decodes, and it is not blank.

Chromium is driven over the DevTools protocol with a small standard-library websocket client, so the
test needs no extra package. Installing Chromium belongs to set-up (`./dev.sh browser`; `.ci/run` and `./dev.sh test`
under TTS_STRICT_DEPS=1 do it): without one the test skips and says how to install it, and fails under the switch.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from bench.report import write_report
from bench.report.synthetic import write_synthetic_run
from optional_deps import missing

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,900", "--remote-debugging-port=0", "--remote-allow-origins=*"]


BROWSERS = ("chromium", "chromium-browser", "google-chrome")  # dev.sh's BROWSERS installs and finds the same


def find_browser() -> str | None:
    """Path of the first of `BROWSERS` on PATH, or None."""
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary on PATH; without one the test skips (fails under TTS_STRICT_DEPS=1)."""
    found = find_browser()
    if found is None:
        missing(f"no Chromium on PATH (looked for {', '.join(BROWSERS)}); install it with `./dev.sh browser` "
                "(apt-get install -y chromium, as root or with sudo) to run the browser test")
    return found


class DevTools:
    """Just enough of a websocket client (RFC 6455, unfragmented text frames) to speak the DevTools protocol."""

    def __init__(self, url: str) -> None:
        host_port, path = url.removeprefix("ws://").split("/", 1)
        host, port = host_port.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        assert b" 101 " in response.split(b"\r\n", 1)[0], response[:200]
        self.buffer = response.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _recv(self) -> dict[str, Any]:
        payload = b""
        while True:
            head = self._read(2)
            fin, length = head[0] & 0x80, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload += self._read(length)
            if fin:
                return json.loads(payload)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                                  if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        while True:
            message = self._recv()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def browser(chromium: str, tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"
    proc = subprocess.Popen([chromium, *CHROME_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            out.append(json.dumps(p.get("exceptionDetails", {}))[:300])
        elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(json.dumps(p.get("args", []))[:300])
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"].get("text", "")[:300])
    return out


def open_page(browser: DevTools, page: Path) -> None:
    """Navigate to `page` with runtime, log and page events on, and wait until it has loaded."""
    browser.call("Runtime.enable")
    browser.call("Log.enable")
    browser.call("Page.enable")
    browser.call("Page.navigate", url=page.as_uri())
    deadline = time.monotonic() + 30
    while browser.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)["result"]["value"] != "complete":
        assert time.monotonic() < deadline, "the report did not finish loading"
        time.sleep(0.1)


def state_of(browser: DevTools, **expressions: str) -> dict[str, Any]:
    """Each JavaScript expression evaluated in the page, read back under its name."""
    js = "JSON.stringify({" + ", ".join(f"{name}: {expr}" for name, expr in expressions.items()) + "})"
    return json.loads(browser.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"])


def test_report_renders_in_chromium(browser: DevTools, tmp_path: Path) -> None:
    report = write_report([write_synthetic_run(tmp_path / "results" / "run")], tmp_path / "report")
    open_page(browser, report)

    state = state_of(browser, h1="document.querySelector('h1') && document.querySelector('h1').innerText",
                     images="[...document.images].map(i => [i.complete, i.naturalWidth, i.alt])",
                     audio="document.querySelectorAll('audio').length", height="document.body.scrollHeight",
                     headline="(document.querySelector('table.headline') || {innerText: ''}).innerText",
                     verdicts="[...document.querySelectorAll('ul.verdicts li')].map(li => li.innerText)")
    assert state["h1"].startswith("TTS benchmark report")
    assert len(state["images"]) >= 9 and state["audio"] == 7
    broken = [alt for complete, width, alt in state["images"] if not (complete and width > 0)]
    assert not broken, f"images that did not decode: {broken}"
    assert state["height"] > 3000
    assert "tts_core:advanced@cpu-all" in state["headline"] and "pays" in state["headline"]
    assert any("identical here" in v for v in state["verdicts"]) and any("costs" in v for v in state["verdicts"])

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "screenshot.png").write_bytes(shot)
    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / "screenshot.png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1])[::97], axis=0)) > 10, "the screenshot is blank"
    assert _errors(browser.events) == []


def test_a_serving_report_opens_on_its_answer_in_chromium(browser: DevTools, tmp_path: Path) -> None:
    """In the first screen of a serving run's report: the highest load within the bound per contender, and its chart
    decoded; nothing of the rounds (no headline, no verdicts) comes before it."""
    from bench.report.synthetic_serving import write_serving_run

    report = write_report([write_serving_run(tmp_path / "results" / "sv")], tmp_path / "report")
    open_page(browser, report)
    answer = "document.querySelector('#answer table')"
    state = state_of(browser, first="document.querySelector('main h2').innerText", answer=f"{answer}.innerText",
                     table_top=f"{answer}.getBoundingClientRect().top",
                     chart="(i => [i.complete, i.naturalWidth])(document.querySelector('#answer img'))",
                     headline="document.querySelectorAll('ul.verdicts, table.headline:not(#answer table)').length",
                     sections="[...document.querySelectorAll('section')].map(s => s.id)")
    assert state["first"] == "Highest load within the first-audio bound"
    assert state["answer"].splitlines()[1].startswith("tts_core-http:advanced@cpu-all")
    assert state["table_top"] < 900 and state["chart"][0] and state["chart"][1] > 0  # on the first screen; decoded
    assert state["headline"] == 0 and state["sections"][0] == "answer"
    (tmp_path / "serving.png").write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"]))
    assert _errors(browser.events) == []
