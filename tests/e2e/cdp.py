"""Headless Chromium driven through the DevTools protocol (CDP), for the console's test.

Debian's `chromium`, started by the test with `--remote-debugging-port=0`: the browser
prints the websocket it listens on, and one page target is driven over it with the
`websockets` client uvicorn already brings. No Playwright or Selenium: a few CDP
commands (navigate, evaluate, screenshot, accessibility tree) are all the test needs.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Headless, sandbox-free (containers), quiet (no updater, sync or sign-in traffic), and
# every host but 127.0.0.1 unresolvable: a page that needs the internet shows it.
OFFLINE_HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class Page:
    """One tab: commands answered in order, events kept for the test to read."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == self._next_id:
                assert "error" not in message, (method, message["error"])
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JS expression (awaited when it is a promise)."""
        answer = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    def wait_for(self, expression: str, what: str, *, within_s: float = 20.0) -> None:
        """Polls a JS expression until it is truthy (in JS: an element counts)."""
        deadline = time.monotonic() + within_s
        while True:
            if self.evaluate(f"Boolean({expression})"):
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.problems()}"
            time.sleep(0.1)

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def problems(self) -> list[str]:
        """Errors the page logged: exceptions, CSP violations, failed loads."""
        found = []
        for event in self.events:
            if event.get("method") == "Runtime.exceptionThrown":
                found.append(json.dumps(event["params"]["exceptionDetails"])[:500])
            if event.get("method") == "Log.entryAdded":
                entry = event["params"]["entry"]
                if entry["level"] == "error":
                    found.append(f"{entry.get('source')}: {entry['text']}")
        return found


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A headless Chromium that reaches nothing but 127.0.0.1, and its one page."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        *OFFLINE_HEADLESS,
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
        "about:blank",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = _endpoint(process)
        port = endpoint.split(":")[2].split("/")[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        with connect(page_url, max_size=None) as socket:
            page = Page(socket)
            for domain in ("Page", "Runtime", "Log"):
                page.send(f"{domain}.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _endpoint(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = _LISTENING.search(line)
        if found:
            return found.group(1)
        assert line or process.poll() is None, "chromium exited before listening"
    raise AssertionError("chromium did not print its DevTools endpoint")


def distinct_colours(png: bytes) -> int:
    """How many different pixels an 8-bit RGB(A) PNG has (a blank page has one)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, offset = [], 8
    while offset < len(png):
        length = int.from_bytes(png[offset : offset + 4], "big")
        chunks.append((png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    header = chunks[0][1]
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour_type, interlace = header[8], header[9], header[12]
    assert (depth, interlace) == (8, 0), "an unexpected PNG format"
    assert colour_type in (2, 6), "an unexpected PNG format"
    size = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    return len(_pixels(raw, width, height, size))


def _pixels(raw: bytes, width: int, height: int, size: int) -> set[bytes]:
    """Undoes the PNG row filters (RFC 2083, 6.3) and collects each pixel once."""
    stride = width * size
    previous = bytearray(stride)
    seen: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - size] if i >= size else 0
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        seen.update(bytes(line[i : i + size]) for i in range(0, stride, size))
        previous = line
    return seen


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
