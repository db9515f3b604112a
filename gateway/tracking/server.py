"""The tracking server: the open pixel, the click redirect and the unsubscribe page, on a lean HTTP/1.1 server.

`gateway serve --tracking HOST:PORT` runs it beside the worker; `gateway tracking` alone. A hit is answered at
once (the 43-byte GIF, uncacheable, or a 302 to the URL signed into the token); its event record goes into an
EventBuffer, written to the event stream in one pipeline per `batch_events` records or `flush_ms` after the first
buffered one, kept and retried while Redis is away, and flushed on shutdown (after the connections are closed and
in-flight unsubscribes have finished, so every answered hit's event is written). A forged, truncated or
unknown-key token gets a 400 naming the reason and is counted (`Verifier.rejected`); nothing is written for it.

Unsubscribe (`/u/{token}`): GET shows a page with a button (mail scanners follow GET links: a GET never
unsubscribes); POST does it, whether from that button or from a mailbox provider's RFC 8058 one-click
(`List-Unsubscribe=One-Click` body). The endpoint is opted out (OptOut ALL) or the address suppressed, as the
config says; a token's first POST writes `_email.unsubscribe`, a replay does nothing more.

Why not aiohttp (which served this first): profiling the pixel and redirect under load put most of each hit in
aiohttp's request machinery (Request and Response objects, the router, header multidicts, the access-log hooks)
while the work itself (verify the token, build the record, buffer it) is ~5 µs; one process answered ~13,000
hits/s where the issue asks 20,000 and five times a naive per-hit XADD handler. So the routes are served by an
asyncio Protocol (uvloop in the CLI) over the strict sans-I/O parser of gateway.tracking.http1: keep-alive,
pipelined requests answered in order (a POST's Redis work holds the requests behind it), hard limits on the
request line, headers and body, a deadline for each request (`request_timeout_s`, from its first byte: a
slowloris client is cut off) and for idle keep-alive connections (`keepalive_timeout_s`), and reading paused
while the client does not read its answers. Everything is on this one server (the unsubscribe routes are few and
simple), so there is one port and one parser to harden. Tests drive it with aiohttp's client and with raw sockets
(hostile input).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import unquote

import msgspec
import redis.asyncio as aioredis

from gateway import keys, redisconn
from gateway.config import GatewayConfig, TrackingConfig
from gateway.endpoints.store import EndpointNotFound, EndpointStore
from gateway.events import EventWriter, record_args
from gateway.kpi import attribution
from gateway.kpi.rollup import Tally
from gateway.suppression import SuppressionList
from gateway.tracking.http1 import HttpError, Request, location, parse_request, response
from gateway.tracking.records import engagement_record
from gateway.tracking.tokens import CLICK, OPEN, UNSUBSCRIBE, Token, TokenRejected, Verifier, keys_from_env

log = logging.getLogger("gateway.tracking")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}
_NO_CACHE = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in NO_CACHE.items())
_GIF_HEADERS = b"Content-Type: image/gif\r\n" + _NO_CACHE
_HTML_HEADERS = b"Content-Type: text/html; charset=utf-8\r\n" + _NO_CACHE
_TEXT_HEADERS = b"Content-Type: text/plain; charset=utf-8\r\n"
_JSON_HEADERS = b"Content-Type: application/json\r\n"
UNSUBSCRIBED_TTL_S = 90 * 86_400  # how long a used unsubscribe token is remembered (replays do nothing)


class EventBuffer:
    """Collects event records and writes them in batches: when `batch` are buffered or `flush_ms` after the
    first one. A failed write keeps its records (retried with backoff); `aclose` writes everything left.

    Before a batch is written, the campaign/journey attribution of its messages is read (one pipelined round
    trip, one MGET per application: gateway.kpi.attribution) into the records that lack it; after it, the KPI
    rollups of the batch are written (EventWriter.roll)."""

    def __init__(self, redis: aioredis.Redis, key: str, *, batch: int = 500, flush_ms: int = 50,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rollups: bool = True,
                 retention_days: int = 90) -> None:
        self._redis = redis
        self._writer = EventWriter(redis, key, rollups=rollups, retention_days=retention_days)
        self._batch = batch
        self._flush_s = flush_ms / 1000
        self._sleep = sleep
        self._buf: list[dict[str, Any]] = []  # event records (engagement_record)
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.written = 0
        self.failures = 0
        self.drained = asyncio.Event()  # set whenever a write leaves nothing buffered

    def add(self, record: dict[str, Any]) -> None:
        """Buffer one record (never waits)."""
        self._buf.append(record)
        self.drained.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._buf) >= self._batch:
            self._wake.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_s, self._wake.set)

    @property
    def pending(self) -> int:
        return len(self._buf)

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
        batch = self._buf[:self._batch]
        await self._attribute(batch)
        args: list[Any] = []
        tally = Tally()
        for record in batch:
            args += record_args(record)
            tally.add_record(record)
        pipe = self._redis.pipeline(transaction=False)
        await self._writer.queue(pipe, args)
        await pipe.execute()
        del self._buf[:len(batch)]  # only what was written; records added meanwhile stay
        self.written += len(batch)
        await self._writer.roll(tally)
        if not self._buf:
            self.drained.set()

    async def _attribute(self, batch: list[dict[str, Any]]) -> None:
        """Add the send's campaign/journey attributes to the records of `batch` whose message has them."""
        by_app: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for record in batch:
            attrs = record.get("attributes")
            if isinstance(attrs, dict) and attrs.get("message_id") and "campaign_id" not in attrs and \
                    "journey_id" not in attrs:
                by_app.setdefault(record["application"]["app_id"], {}).setdefault(attrs["message_id"], []).append(attrs)
        if not by_app:
            return
        pipe = self._redis.pipeline(transaction=False)
        for app, messages in by_app.items():
            pipe.mget([attribution.key(app, mid) for mid in messages])  # one slot: the application's
        for messages, values in zip(by_app.values(), await pipe.execute(), strict=True):
            for owners, raw in zip(messages.values(), values, strict=True):
                found = attribution.decode(raw)
                if found:
                    for attrs in owners:
                        attrs.update(found)

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
_ASK = _PAGE.format(title="Unsubscribe", body='<p>Stop receiving these emails?</p><form method="post">'
                    '<button type="submit">Unsubscribe</button></form>').encode()
_DONE = _PAGE.format(title="Unsubscribed",
                     body="<p>You have been unsubscribed and will receive no more of these emails.</p>").encode()
_ROUTES = {b"/o/": OPEN, b"/c/": CLICK, b"/u/": UNSUBSCRIBE}
#: (status, extra header lines, body) of an answer
Answer = tuple[int, bytes, bytes]


class TrackingServer:
    """The routes /o/{token}, /c/{token}, /u/{token} (GET and POST) and /healthz, and their listener (`start`)."""

    def __init__(self, cfg: TrackingConfig, key_map: dict[str, bytes], redis: aioredis.Redis, events_key: str,
                 *, clock: Callable[[], float] = time.time, rollups: bool = True, retention_days: int = 90) -> None:
        self.cfg = cfg
        self.verifier = Verifier(key_map)
        self.buffer = EventBuffer(redis, events_key, batch=cfg.batch_events, flush_ms=cfg.flush_ms, rollups=rollups,
                                  retention_days=retention_days)
        self.unsubscriber = Unsubscriber(redis, cfg.unsubscribe_action)
        self._clock = clock

    def answer(self, req: Request, ip: str) -> Answer | Awaitable[Answer]:
        """The answer to `req` from `ip`: at once, or (an unsubscribe POST) when its Redis work is done."""
        target = req.target.partition(b"?")[0]
        kind = _ROUTES.get(target[:3])
        if kind is None:
            if target == b"/healthz":
                if req.method != b"GET":
                    return 405, b"Allow: GET\r\n", b""
                return 200, _JSON_HEADERS, msgspec.json.encode({
                    "pending_events": self.buffer.pending, "written_events": self.buffer.written,
                    "rejected_tokens": dict(self.verifier.rejected)})
            return 404, _TEXT_HEADERS, b"not found\n"
        if req.method != b"GET" and not (kind == UNSUBSCRIBE and req.method == b"POST"):
            return 405, b"Allow: GET, POST\r\n" if kind == UNSUBSCRIBE else b"Allow: GET\r\n", b""
        raw = target[3:].decode("ascii")
        try:
            token = self.verifier.verify(unquote(raw) if "%" in raw else raw, kind)
        except TokenRejected as exc:
            log.info("rejected tracking token (%s) from %s", exc.reason, ip)
            return 400, _TEXT_HEADERS, f"invalid tracking token: {exc.reason}\n".encode()
        if kind == OPEN:
            self._record(token, ip, req.user_agent)
            return 200, _GIF_HEADERS, GIF
        if kind == CLICK:
            self._record(token, ip, req.user_agent)
            return 302, b"Location: " + location(token.url) + b"\r\n" + _NO_CACHE, b""
        if req.method == b"GET":
            return 200, _HTML_HEADERS, _ASK
        return self._unsubscribe(token, ip, req.user_agent)

    async def _unsubscribe(self, token: Token, ip: str, user_agent: str) -> Answer:
        address = await self.unsubscriber(token)
        if address is not None:
            self._record(token, ip, user_agent, address)
        return 200, _HTML_HEADERS, _DONE

    def _record(self, token: Token, ip: str, user_agent: str, address: str = "") -> None:
        self.buffer.add(engagement_record(token, now_ms=int(self._clock() * 1000), ip=ip, user_agent=user_agent,
                                          address=address))

    async def start(self, host: str, port: int) -> Listener:
        """Listen on host:port (port 0: any free one)."""
        listener = Listener(self)
        await listener.start(host, port)
        return listener


class Listener:
    """The tracking server's sockets and connections; `cleanup()` stops them and flushes the event buffer."""

    def __init__(self, server: TrackingServer) -> None:
        self.server = server
        self.conns: set[_Connection] = set()
        self.port = 0
        self.now = 0.0  # the loop's clock, refreshed by the sweep (deadlines need no better than a tick)
        self.date = b""
        self._srv: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        cfg = server.cfg
        self.request_timeout = cfg.request_timeout_s
        self.keepalive_timeout = cfg.keepalive_timeout_s
        self._tick = min(0.5, cfg.request_timeout_s / 4, cfg.keepalive_timeout_s / 4)

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._refresh(loop)
        self._srv = await loop.create_server(lambda: _Connection(self), host, port, reuse_address=True, backlog=1024)
        self.port = int(self._srv.sockets[0].getsockname()[1])
        self._sweeper = loop.create_task(self._sweep())

    def _refresh(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time()
        self.date = email.utils.formatdate(usegmt=True).encode()

    async def _sweep(self) -> None:
        """Close connections past their deadline (a request not complete in time, an idle keep-alive)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            self._refresh(loop)
            for conn in [c for c in self.conns if c.deadline < self.now and c.task is None]:
                conn.expire()

    async def cleanup(self) -> None:
        """Stop listening, let in-flight unsubscribes finish, close every connection, then write every buffered
        event (retrying while Redis is down)."""
        if self._srv is not None:
            self._srv.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.tasks:
            await asyncio.wait(list(self.tasks))
        for conn in list(self.conns):
            conn.close()
        if self._srv is not None:
            await self._srv.wait_closed()
            self._srv = None
        await self.server.buffer.aclose()


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive and answered in order."""

    __slots__ = ("buf", "deadline", "ip", "listener", "paused", "task", "transport")

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.task: asyncio.Task[Answer] | None = None  # an unsubscribe in flight: the requests behind it wait
        self.paused = False
        self.deadline = listener.now + listener.request_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else ""
        self.listener.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.conns.discard(self)
        self.transport = None

    def pause_writing(self) -> None:  # the client is not reading its answers: stop reading its requests
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.task is None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if not self.buf:  # a new request starts: it has request_timeout_s to arrive whole
            self.deadline = self.listener.now + self.listener.request_timeout
        self.buf += data
        if self.task is None:
            self._process()
        elif len(self.buf) > 65536 and self.transport is not None:  # pipelined behind a POST: enough queued
            self.transport.pause_reading()

    def _process(self) -> None:
        listener = self.listener
        while self.transport is not None and self.buf:
            try:
                req, used = parse_request(self.buf)
            except HttpError as exc:
                self._send(exc.status, _TEXT_HEADERS, f"{exc.message}\n".encode(), keep_alive=False)
                return
            if req is None:
                return
            del self.buf[:used]
            try:
                answer = listener.server.answer(req, self.ip)
            except Exception:
                log.exception("tracking request failed")
                answer = (500, _TEXT_HEADERS, b"internal error\n")
            if not isinstance(answer, tuple):
                self.task = asyncio.ensure_future(answer)
                listener.tasks.add(self.task)
                self.task.add_done_callback(functools.partial(self._done, keep_alive=req.keep_alive))
                return
            self._send(*answer, keep_alive=req.keep_alive)
        if not self.buf:
            self.deadline = listener.now + listener.keepalive_timeout

    def _done(self, task: asyncio.Task[Answer], *, keep_alive: bool) -> None:
        self.listener.tasks.discard(task)
        self.task = None
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.error("tracking request failed", exc_info=task.exception())
            answer: Answer = (503, _TEXT_HEADERS, b"try again later\n")
        else:
            answer = task.result()
        self._send(*answer, keep_alive=keep_alive)
        if self.transport is not None:
            self.transport.resume_reading()
            self._process()

    def _send(self, status: int, headers: bytes, body: bytes, *, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(response(status, headers, body, keep_alive, self.listener.date))
        if not keep_alive:
            self.close()

    def expire(self) -> None:
        """Past the deadline: a partial request gets 408, an idle connection is just closed."""
        if self.buf:
            self._send(408, _TEXT_HEADERS, b"request not received in time\n", keep_alive=False)
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.listener.conns.discard(self)


def server_from_config(cfg: GatewayConfig, redis: aioredis.Redis) -> TrackingServer:
    """The tracking server of `cfg.tracking` (ConfigError when the section or its keys are missing)."""
    from gateway.errors import ConfigError
    if cfg.tracking is None:
        raise ConfigError("no [tracking] section in the config")
    return TrackingServer(cfg.tracking, keys_from_env(cfg.tracking.key_env), redis, cfg.stream.events_key,
                          rollups=cfg.events.rollups, retention_days=cfg.events.retention_days)


async def start_tracking(cfg: GatewayConfig, redis: aioredis.Redis, host: str, port: int) -> tuple[Listener, int]:
    """Serve the tracking server at HOST:PORT; returns the listener (`await listener.cleanup()`) and the port."""
    listener = await server_from_config(cfg, redis).start(host, port)
    return listener, listener.port
