"""The HTTP/2 client pool: connections to one origin, shared by every request to it.

The pool decides which connection carries a request, when to open another, and what to do with a request its
connection did not process. It does not know how a connection frames its bytes: it is given a
:data:`~gateway.channels.http2.connection.ConnectionFactory` (our own framing in
:mod:`gateway.channels.http2.native`, the default, or h2 / jh2 in :mod:`gateway.channels.http2.h2adapter`;
:mod:`gateway.channels.http2.impls` picks one by name).

What it guarantees, because APNs and FCM need it:

* A new connection carries **one stream** until its first response arrives; then it honours the server's
  SETTINGS_MAX_CONCURRENT_STREAMS (capped by `max_streams`), and follows every later SETTINGS change.
  APNs advertises 1 until the first authenticated request and raises it afterwards.
* When every connection is full, another is opened (up to `max_connections`); past that, callers wait
  (bounded by `acquire_timeout`, then :class:`~gateway.errors.PoolTimeout`, a transient delivery error: nothing
  was sent, so the dispatcher retries it).
* GOAWAY: streams above `last_stream_id` were never processed, so they are re-sent on another connection;
  streams at or below it keep waiting for their answers on the draining connection (h2 refuses frames after
  GOAWAY, so the connection's state machine is wrapped to keep accepting them). REFUSED_STREAM is retried the
  same way. Nothing is lost and nothing is sent twice.
* A connection lost with streams in flight fails those streams with :class:`~gateway.errors.MaybeSent`
  (the server may have acted on them); a response that does not arrive within `request_timeout` too.
* PING: an idle connection is pinged every `ping_interval`; no PING ACK within `ping_timeout` closes it.

Writes are coalesced: every stream opened in one loop iteration leaves in one `transport.write`.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable
from typing import Any, TypedDict

from gateway import errors
from gateway.channels.http2.connection import BaseConnection, ConnectionFactory, Response, _StreamNotProcessed


class PoolOptions(TypedDict, total=False):
    """The keyword options of :class:`Pool` besides its connection factory (for wrappers that pass them on)."""

    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    max_connections: int
    max_streams: int
    connect_timeout: float
    request_timeout: float
    acquire_timeout: float
    ping_interval: float
    ping_timeout: float
    max_resends: int


class Pool:
    """HTTP/2 connections to one origin (scheme://host:port), shared by every request to it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connection_factory: ConnectionFactory,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_connections: int = 4,
        max_streams: int = 1000,
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        acquire_timeout: float = 30.0,
        ping_interval: float = 60.0,
        ping_timeout: float = 10.0,
        max_resends: int = 3,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.connection_factory = connection_factory
        self.max_connections = max_connections
        self.max_streams = max_streams
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.acquire_timeout = acquire_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.tick_interval = min(1.0, ping_timeout / 2, request_timeout / 4)
        self.max_resends = max_resends
        self.loop = asyncio.get_running_loop()
        scheme = b"https" if ssl_context is not None else b"http"
        authority = host if port in (443, 80) else f"{host}:{port}"
        self._prefix = [(b":method", b"POST"), (b":scheme", scheme), (b":authority", authority.encode())]
        self.connections: list[BaseConnection[Any]] = []
        self._last: BaseConnection[Any] | None = None
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        #: connections opened over the pool's life (tests and metrics)
        self.opened = 0

    # -- public -----------------------------------------------------------------------------------------------

    async def request(
        self, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes, *, method: bytes = b"POST"
    ) -> Response:
        """Send one request and return its response.

        Raises ConnectError (could not connect: nothing sent), PoolTimeout (no free stream in time: nothing
        sent), MaybeSent (connection lost or response timeout after sending).
        """
        hdrs = [*self._prefix, (b":path", path), *headers] if method == b"POST" else [
            (b":method", method), self._prefix[1], self._prefix[2], (b":path", path), *headers
        ]
        refused = bounced = 0
        while True:
            conn = self._pick()
            if conn is None:
                conn = await self._acquire()
            fut = conn.start_request(hdrs, body, self.request_timeout)
            try:
                return await fut
            except _StreamNotProcessed as exc:
                # Never processed, so resending cannot duplicate. GOAWAY bounces are the connection's doing
                # and get a larger allowance than REFUSED_STREAM, which may be about this very request.
                if exc.args[0] == "GOAWAY":
                    bounced += 1
                else:
                    refused += 1
                if refused > self.max_resends or bounced > 4 * self.max_resends:
                    raise errors.ProviderUnavailable(
                        "HTTP/2 server kept refusing the stream", detail=str(exc)
                    ) from exc

    async def aclose(self) -> None:
        """Close every connection (GOAWAY) and wake waiters with ConnectError."""
        self._closed = True
        for c in list(self.connections):
            c.close()
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_exception(errors.ConnectError("pool closed"))

    @property
    def in_flight(self) -> int:
        return sum(len(c.streams) for c in self.connections)

    # -- internals --------------------------------------------------------------------------------------------

    def _pick(self) -> BaseConnection[Any] | None:
        c = self._last
        if c is not None and not c.closing and c.limit > len(c.streams):
            return c  # usually the connection the previous request went to
        for c in self.connections:
            if not c.closing and c.limit > len(c.streams):
                self._last = c
                return c
        return None

    async def _acquire(self) -> BaseConnection[Any]:
        deadline = self.loop.time() + self.acquire_timeout
        while True:
            if self._closed:
                raise errors.ConnectError("pool closed")
            conn = self._pick()
            if conn is not None:
                return conn
            # Open another connection only when none is being set up: a new one starts at one stream.
            if self._connecting == 0 and len(self.connections) < self.max_connections:
                await self._connect()
                continue
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise errors.PoolTimeout(f"no free HTTP/2 stream to {self.host}:{self.port} in time")
            w = self.loop.create_future()
            self._waiters.append(w)
            try:
                await asyncio.wait_for(w, remaining)
            except TimeoutError:
                raise errors.PoolTimeout(f"no free HTTP/2 stream to {self.host}:{self.port} in time") from None
            finally:
                if not w.done():
                    w.cancel()

    async def _connect(self) -> None:
        self._connecting += 1
        try:
            try:
                _, proto = await asyncio.wait_for(
                    self.loop.create_connection(
                        self._protocol_factory(),
                        self.host,
                        self.port,
                        ssl=self.ssl_context,
                        server_hostname=self.server_hostname if self.ssl_context is not None else None,
                    ),
                    self.connect_timeout,
                )
            except TimeoutError as exc:
                raise errors.ConnectError(f"connect to {self.host}:{self.port} timed out") from exc
            except ssl.SSLError as exc:
                raise errors.ConnectError(f"TLS handshake with {self.host}:{self.port} failed: {exc.reason}") from exc
            except OSError as exc:
                raise errors.ConnectError(f"cannot connect to {self.host}:{self.port}: {exc.strerror}") from exc
            transport = proto.transport
            if self.ssl_context is not None and transport is not None:
                sslobj = transport.get_extra_info("ssl_object")
                if sslobj is not None and sslobj.selected_alpn_protocol() not in (None, "h2"):
                    transport.close()
                    raise errors.ConnectError(f"{self.host}:{self.port} did not negotiate HTTP/2 (ALPN)")
            self.opened += 1
            self.connections.append(proto)
        finally:
            self._connecting -= 1
            self._wake()

    def _protocol_factory(self) -> Callable[[], BaseConnection[Any]]:
        factory = self.connection_factory
        return lambda: factory(self)

    def _wake(self) -> None:
        """Wake as many waiters as there are free streams (or one, to open a connection, when allowed)."""
        waiters = self._waiters
        if not waiters:
            return
        free = 0
        for c in self.connections:
            f = c.free
            if f > 0:
                free += f
        if free <= 0:
            if self._connecting or len(self.connections) >= self.max_connections:
                return
            free = 1
        while waiters and free > 0:
            w = waiters.popleft()
            if not w.done():
                w.set_result(None)
                free -= 1

    def _connection_draining(self, conn: BaseConnection[Any]) -> None:
        self._wake()  # waiters will find another connection or open one

    def _connection_closed(self, conn: BaseConnection[Any]) -> None:
        if self._last is conn:
            self._last = None
        try:
            self.connections.remove(conn)
        except ValueError:
            pass
        self._wake()


def client_ssl_context(
    *, cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None, verify: bool = True
) -> ssl.SSLContext:
    """A TLS context that offers ALPN h2, optionally with a client certificate (APNs certificate auth)."""
    ctx = ssl.create_default_context(cafile=cafile)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    if certfile is not None:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx
