"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a loopback port, with
aiohttp's websocket client: no browser download, no driver package. Every wait is bounded; `close` always ends
the process (terminate, then kill).

    browser = await Chromium.launch(tmp_path / "profile")
    page = await browser.new_page()
    await page.goto("http://127.0.0.1:PORT/dashboard")
    value = await page.evaluate("document.title")
    await browser.close()
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--disable-default-apps", "--no-proxy-server", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,1800")
_LISTENING = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:\d+/devtools/browser/\S+)")
TIMEOUT_S = 20.0


class BrowserError(RuntimeError):
    """Chromium could not be found or started, or a DevTools call failed."""


def binary() -> str:
    """The Chromium to run: $GATEWAY_CHROMIUM, else `chromium` (or `chromium-browser`) on the PATH."""
    for name in (os.environ.get("GATEWAY_CHROMIUM"), "chromium", "chromium-browser"):
        path = shutil.which(name) if name else None
        if path:
            return path
    raise BrowserError("chromium not found on the PATH (nor $GATEWAY_CHROMIUM): the dashboard test needs Debian's "
                       "`chromium` package: apt-get install -y chromium (.ci/run installs it when missing)")


class Chromium:
    def __init__(self, proc: asyncio.subprocess.Process, http: aiohttp.ClientSession,
                 ws: aiohttp.ClientWebSocketResponse, log: collections.deque[str]) -> None:
        self.proc = proc
        self.http = http
        self.ws = ws
        self.log = log
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def launch(cls, profile: Path, timeout: float = 30.0) -> Chromium:
        """Start Chromium with a fresh profile in `profile`; BrowserError (with its output) when it does not
        announce its DevTools endpoint within `timeout` seconds."""
        exe = binary()
        profile.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(exe, *FLAGS, f"--user-data-dir={profile}", "about:blank",
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE,
                                                    start_new_session=True)  # its renderers end with it
        log: collections.deque[str] = collections.deque(maxlen=50)
        assert proc.stderr is not None
        stderr = proc.stderr

        async def endpoint() -> str:
            while True:
                line = (await stderr.readline()).decode(errors="replace")
                if not line:
                    raise BrowserError(f"{exe} exited (status {await proc.wait()}) before listening:\n" + "".join(log))
                log.append(line)
                found = _LISTENING.search(line)
                if found:
                    return found.group(1)

        http = None
        try:
            url = await asyncio.wait_for(endpoint(), timeout)
            http = aiohttp.ClientSession()
            ws = await http.ws_connect(url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        except BaseException as exc:
            await _end(proc)
            if http is not None:
                await http.close()
            if isinstance(exc, TimeoutError):
                raise BrowserError(f"{exe} did not start within {timeout} s:\n" + "".join(log)) from None
            raise
        browser = cls(proc, http, ws, log)
        browser._drain = asyncio.get_running_loop().create_task(browser._drain_stderr(stderr))
        return browser

    async def _drain_stderr(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():  # a full pipe would stall the browser
            self.log.append(line.decode(errors="replace"))

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = msg.json()
                if "id" in data:
                    fut = self._calls.pop(data["id"], None)
                    if fut is not None and not fut.done():
                        if "error" in data:
                            fut.set_exception(BrowserError(f"DevTools error: {data['error']}"))
                        else:
                            fut.set_result(data.get("result", {}))
                    continue
                for waiter in list(self._waiters):
                    method, session, fut = waiter
                    if data.get("method") == method and session in (None, data.get("sessionId")):
                        self._waiters.remove(waiter)
                        if not fut.done():
                            fut.set_result(data.get("params", {}))
        finally:
            for fut in [*self._calls.values(), *(w[2] for w in self._waiters)]:
                if not fut.done():
                    fut.set_exception(BrowserError("the DevTools connection closed:\n" + "".join(self.log)))

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
                   timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """One DevTools command (to a page when `session` is its flattened session id); its result."""
        call_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = fut
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send_json(message)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise BrowserError(f"{method}: no answer within {timeout} s") from None
        finally:
            self._calls.pop(call_id, None)

    def expect(self, method: str, session: str | None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next event `method` (of page `session`); register it before causing the event."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session, fut))
        return fut

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        return page

    async def close(self) -> None:
        """Close the connection and end the process (bounded: terminate, then kill)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self._reader.cancel()
        await _end(self.proc)
        self._drain.cancel()
        await self.http.close()


class Page:
    """One tab, through its flattened DevTools session."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = TIMEOUT_S
                   ) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session, timeout)

    async def _until_loaded(self, fut: asyncio.Future[dict[str, Any]], what: str, timeout: float) -> None:
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise BrowserError(f"{what}: the page did not load within {timeout} s") from None

    async def goto(self, url: str, timeout: float = TIMEOUT_S) -> None:
        """Navigate and wait for the load event (of the page redirects end on)."""
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        result = await self.send("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        await self._until_loaded(loaded, url, timeout)

    async def evaluate(self, expression: str, timeout: float = TIMEOUT_S) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise); BrowserError if it throws."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                      "returnByValue": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression[:80]}: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    async def evaluate_and_load(self, expression: str, timeout: float = TIMEOUT_S) -> None:
        """Run `expression` (a click, a form submit) and wait for the page it navigates to."""
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        await self.evaluate(expression, timeout)
        await self._until_loaded(loaded, expression[:60], timeout)

    async def wait_for(self, predicate: str, timeout: float = TIMEOUT_S) -> Any:
        """Poll the JavaScript `predicate` every 20 ms until it is truthy (its value) or `timeout` passes."""
        ms = int(timeout * 1000)
        script = (f"new Promise((ok, fail) => {{ const end = Date.now() + {ms}; (function poll() {{"
                  f" let v; try {{ v = ({predicate}); }} catch (e) {{ v = undefined; }}"
                  f" if (v) ok(v); else if (Date.now() > end) fail(new Error('timed out waiting for: ' + "
                  f"{predicate!r})); else setTimeout(poll, 20); }})(); }})")
        return await self.evaluate(script, timeout + 5)

    async def screenshot(self) -> bytes:
        """A PNG of the whole page."""
        result = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, 30)
        return base64.b64decode(result["data"])


async def _end(proc: asyncio.subprocess.Process) -> None:
    """End the browser and its helper processes: its own process group (it leads one: start_new_session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), 5)
            break
        except TimeoutError:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # helpers that outlived the browser
