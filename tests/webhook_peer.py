"""An independent https webhook peer for the campaign webhook tests: an aiohttp server on 127.0.0.1 (a free port)
with a certificate from a throwaway CA (trustme), recording every request and answering as the test says."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import trustme
from aiohttp import web

ACCOUNT = "123456789012"


class Seen(NamedTuple):
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


async def accept(request: web.Request, body: bytes) -> web.StreamResponse:
    return web.Response(status=200, text="{}", content_type="application/json")


class WebhookPeer:
    """`behaviour` answers POSTs (default: 200 {}); HEAD answers with X-Amz-Pinpoint-AccountId = `head_account`
    (None: without the header). `stall` is released at teardown, so a stalled handler ends."""

    def __init__(self, tmp: Path) -> None:
        self.seen: list[Seen] = []
        self.behaviour: Behaviour = accept
        self.head_account: str | None = ACCOUNT
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()
        ca = trustme.CA()
        self.ca_file = str(tmp / "webhook-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self._ctx)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str = "/hook") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        async with self.arrived:
            self.arrived.notify_all()
        if request.method == "HEAD":
            headers = {"X-Amz-Pinpoint-AccountId": self.head_account} if self.head_account is not None else {}
            return web.Response(status=200, headers=headers)
        return await self.behaviour(request, body)

    async def stall(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """A webhook that never answers (until the test ends)."""
        await self.release.wait()
        return web.Response(status=200, text="{}")

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    async def start(self) -> WebhookPeer:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ctx)
        await site.start()
        addresses: list[Any] = self._runner.addresses
        self.port = int(addresses[0][1])
        if not self.port:
            raise RuntimeError("the webhook peer did not get a port")
        return self

    async def aclose(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
