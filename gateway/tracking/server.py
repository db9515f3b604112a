"""The tracking server (aiohttp): the open pixel, the click redirect and the unsubscribe page.

`gateway serve --tracking HOST:PORT` runs it beside the worker; `gateway tracking` alone. A hit is answered at
once (the 43-byte GIF, uncacheable, or a 302 to the URL signed into the token); its event record goes into an
EventBuffer, written to the event stream in one pipeline per `batch_events` records or `flush_ms` after the first
buffered one, kept and retried while Redis is away, and flushed on shutdown. A forged, truncated or unknown-key
token gets a 400 naming the reason and is counted (`Verifier.rejected`); nothing is written for it.

Unsubscribe (`/u/{token}`): GET shows a page with a button (mail scanners follow GET links: a GET never
unsubscribes); POST does it, whether from that button or from a mailbox provider's RFC 8058 one-click
(`List-Unsubscribe=One-Click` body). The endpoint is opted out (OptOut ALL) or the address suppressed, as the
config says; a token's first POST writes `_email.unsubscribe`, a replay does nothing more.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from gateway import keys, redisconn
from gateway.config import GatewayConfig, TrackingConfig
from gateway.endpoints.store import EndpointNotFound, EndpointStore
from gateway.events import EventWriter, record_args
from gateway.suppression import SuppressionList
from gateway.tracking.records import engagement_record
from gateway.tracking.tokens import CLICK, OPEN, UNSUBSCRIBE, Token, TokenRejected, Verifier, keys_from_env

log = logging.getLogger("gateway.tracking")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}
UNSUBSCRIBED_TTL_S = 90 * 86_400  # how long a used unsubscribe token is remembered (replays do nothing)


class EventBuffer:
    """Collects event records and writes them in batches: when `batch` are buffered or `flush_ms` after the
    first one. A failed write keeps its records (retried with backoff); `aclose` writes everything left."""

    def __init__(self, redis: aioredis.Redis, key: str, *, batch: int = 500, flush_ms: int = 50,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._redis = redis
        self._writer = EventWriter(redis, key)
        self._batch = batch
        self._flush_s = flush_ms / 1000
        self._sleep = sleep
        self._buf: list[Any] = []  # script arguments, three per record
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.written = 0
        self.failures = 0
        self.drained = asyncio.Event()  # set whenever a write leaves nothing buffered

    def add(self, record: dict[str, Any]) -> None:
        """Buffer one record (never waits)."""
        self._buf += record_args(record)
        self.drained.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._buf) >= 3 * self._batch:
            self._wake.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_s, self._wake.set)

    @property
    def pending(self) -> int:
        return len(self._buf) // 3

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            while self._buf:
                try:
                    await self._write()
                    delay = 0.05
                except Exception as exc:  # Redis away (or refusing): keep the records, try again
                    self.failures += 1
                    log.warning("writing %d tracking events failed (%s); retrying in %.2fs", self.pending,
                                exc if isinstance(exc, (*redisconn.REDIS_DOWN, aioredis.ResponseError)) else repr(exc),
                                delay)
                    await self._sleep(delay)
                    delay = min(delay * 2, 5.0)

    async def _write(self) -> None:
        args = self._buf[:3 * self._batch]
        pipe = self._redis.pipeline(transaction=False)
        await self._writer.queue(pipe, args)
        await pipe.execute()
        del self._buf[:len(args)]  # only what was written; records added meanwhile stay
        self.written += len(args) // 3
        if not self._buf:
            self.drained.set()

    async def aclose(self) -> None:
        """Write every buffered record (retrying while Redis is down), then stop."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        delay = 0.05
        while self._buf:
            try:
                await self._write()
            except redisconn.REDIS_DOWN as exc:
                log.warning("flushing %d tracking events at shutdown failed (%s); retrying", self.pending, exc)
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)


class Unsubscriber:
    """Does what an unsubscribe means, once per token."""

    def __init__(self, redis: aioredis.Redis, action: str) -> None:
        self.redis = redis
        self.action = action
        self.endpoints = EndpointStore(redis)
        self.suppression = SuppressionList(redis)

    async def __call__(self, token: Token) -> str | None:
        """Apply `token`'s unsubscribe; the address it concerned, or None when this token was used already."""
        marker = keys.app_key(token.app, "unsub", token.message_id, token.endpoint_id or token.address.lower())
        if not await self.redis.set(marker, b"1", nx=True, ex=UNSUBSCRIBED_TTL_S):
            return None
        try:
            address = token.address
            endpoint = await self.endpoints.get(token.app, token.endpoint_id) if token.endpoint_id else None
            if endpoint is not None:
                address = endpoint.Address or ""
            if self.action == "opt_out" and endpoint is not None:
                try:
                    await self.endpoints.opt_out(token.app, token.endpoint_id, "ALL")
                except EndpointNotFound:  # deleted meanwhile: suppressing the address still holds
                    if address:
                        await self.suppression.add(token.app, address, "MANUAL", "unsubscribed")
            elif address:
                await self.suppression.add(token.app, address, "MANUAL", "unsubscribed")
        except BaseException:
            await self.redis.delete(marker)  # not done: a retry must be able to do it
            raise
        return address


_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head><body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=_PAGE.format(title=html.escape(title), body=body),
                        content_type="text/html", headers=NO_CACHE)


class TrackingServer:
    """The aiohttp application: /o/{token}, /c/{token}, /u/{token} and /healthz."""

    def __init__(self, cfg: TrackingConfig, key_map: dict[str, bytes], redis: aioredis.Redis, events_key: str,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.verifier = Verifier(key_map)
        self.buffer = EventBuffer(redis, events_key, batch=cfg.batch_events, flush_ms=cfg.flush_ms)
        self.unsubscriber = Unsubscriber(redis, cfg.unsubscribe_action)
        self._clock = clock

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/o/{token}", self.open)
        app.router.add_get("/c/{token}", self.click)
        app.router.add_get("/u/{token}", self.unsubscribe_page)
        app.router.add_post("/u/{token}", self.unsubscribe)
        app.router.add_get("/healthz", self.health)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _app: web.Application) -> None:
        await self.buffer.aclose()

    def _token(self, request: web.Request, kind: str) -> Token:
        try:
            return self.verifier.verify(request.match_info["token"], kind)
        except TokenRejected as exc:
            log.info("rejected tracking token (%s) from %s", exc.reason, request.remote)
            raise web.HTTPBadRequest(text=f"invalid tracking token: {exc.reason}\n") from None

    def _record(self, request: web.Request, token: Token, address: str = "") -> None:
        self.buffer.add(engagement_record(
            token, now_ms=int(self._clock() * 1000), ip=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""), address=address))

    async def open(self, request: web.Request) -> web.Response:
        token = self._token(request, OPEN)
        self._record(request, token)
        return web.Response(body=GIF, content_type="image/gif", headers=NO_CACHE)

    async def click(self, request: web.Request) -> web.Response:
        token = self._token(request, CLICK)
        self._record(request, token)
        return web.Response(status=302, headers={"Location": token.url, **NO_CACHE})

    async def unsubscribe_page(self, request: web.Request) -> web.Response:
        self._token(request, UNSUBSCRIBE)
        return _page("Unsubscribe", '<p>Stop receiving these emails?</p><form method="post">'
                     '<button type="submit">Unsubscribe</button></form>')

    async def unsubscribe(self, request: web.Request) -> web.Response:
        token = self._token(request, UNSUBSCRIBE)
        address = await self.unsubscriber(token)
        if address is not None:
            self._record(request, token, address)
        return _page("Unsubscribed", "<p>You have been unsubscribed and will receive no more of these emails.</p>")

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"pending_events": self.buffer.pending, "written_events": self.buffer.written,
                                  "rejected_tokens": dict(self.verifier.rejected)})


def server_from_config(cfg: GatewayConfig, redis: aioredis.Redis) -> TrackingServer:
    """The tracking server of `cfg.tracking` (ConfigError when the section or its keys are missing)."""
    from gateway.errors import ConfigError
    if cfg.tracking is None:
        raise ConfigError("no [tracking] section in the config")
    return TrackingServer(cfg.tracking, keys_from_env(cfg.tracking.key_env), redis, cfg.stream.events_key)


async def start_tracking(cfg: GatewayConfig, redis: aioredis.Redis, host: str, port: int,
                         ) -> tuple[web.AppRunner, int]:
    """Serve the tracking server at HOST:PORT; returns the runner (`await runner.cleanup()`) and the port."""
    runner = web.AppRunner(server_from_config(cfg, redis).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
