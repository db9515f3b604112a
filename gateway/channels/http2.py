"""A small HTTP/2 client: one origin, a pool of connections, each an asyncio Protocol with our own framing
(:mod:`gateway.channels.h2native`, the default) or over h2 / jh2.

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
import importlib
import os
import ssl
from types import ModuleType
from typing import Any, Generic, Literal, TypeVar, cast

from gateway import errors

Impl = Literal["h2", "jh2", "native"]

#: Initial connection and stream receive windows we grant the server (responses are small, but errors are JSON).
_RECV_WINDOW = 1 << 24
_REFUSED_STREAM = 0x7  # RST_STREAM error code (RFC 9113 §7)


class _StreamNotProcessed(Exception):
    """Internal: the server did not process this stream (GOAWAY above last id, REFUSED_STREAM): resend."""


#: Closed streams are swept out of the h2 connection's table once per this many opened streams.
_SWEEP_EVERY = 256


class _Impl:
    """The classes of one HTTP/2 implementation (h2 or jh2 expose the same API)."""

    def __init__(self, name: Impl) -> None:
        self.name = name
        self.connection: ModuleType = importlib.import_module(f"{name}.connection")
        self.config: ModuleType = importlib.import_module(f"{name}.config")
        self.events: ModuleType = importlib.import_module(f"{name}.events")
        self.errors: ModuleType = importlib.import_module(f"{name}.errors")
        self.exceptions: ModuleType = importlib.import_module(f"{name}.exceptions")
        self.settings: ModuleType = importlib.import_module(f"{name}.settings")
        self.H2Connection = _connection_class(self.connection, self.errors.ErrorCodes.STREAM_CLOSED)


def _connection_class(module: ModuleType, stream_closed: int) -> type[Any]:
    """h2's (or jh2's) H2Connection with two changes.

    Counting: h2 counts open streams by walking every stream each time one is opened, so opening a stream costs
    O(streams in flight): at 1000 in flight that walk is most of the client's CPU. The pool already counts its
    streams (it never exceeds the server's limit), so this subclass answers from that count, and the caller
    sweeps closed streams out of h2's table every `_SWEEP_EVERY` opens, which the walk used to do.

    Stream errors stay stream errors: h2 turns a frame on a stream that already ended (HEADERS after its
    END_STREAM) into a connection error, discarding the other events of the same read and, with them, answers
    to other requests; the connection would then be closed with every stream in flight on it. The stream is
    finished for us either way, so it is reset (STREAM_CLOSED) and the connection carries on."""
    base: type[Any] = module.H2Connection
    stream_closed_error: type[Exception] = module.StreamClosedError
    rst_frame: type[Any] = module.RstStreamFrame

    class ClientH2Connection(base):  # type: ignore[misc]
        gw_open = 0

        @property
        def open_outbound_streams(self) -> int:
            return self.gw_open

        def gw_sweep(self) -> None:
            base.open_outbound_streams.fget(self)  # the original walk: drops closed streams

        def _receive_frame(self, frame: Any) -> list[Any]:
            try:
                events: list[Any] = super()._receive_frame(frame)
            except stream_closed_error as exc:
                rst = rst_frame(exc.stream_id)  # type: ignore[attr-defined]
                rst.error_code = stream_closed
                self._prepare_for_sending([rst])
                return list(exc._events)  # type: ignore[attr-defined]
            return events

    return ClientH2Connection


_IMPLS: dict[str, _Impl] = {}


def load_impl(name: Impl) -> _Impl:
    """The h2 or jh2 implementation, imported once."""
    impl = _IMPLS.get(name)
    if impl is None:
        impl = _IMPLS[name] = _Impl(name)
    return impl


def default_impl() -> Impl:
    """The native framing unless GATEWAY_HTTP2 names h2 or jh2 (native measured fastest: benchmarks/bench_push.py)."""
    name = os.environ.get("GATEWAY_HTTP2", "native")
    return name if name in ("h2", "jh2") else "native"  # type: ignore[return-value]


class _DrainTolerantMachine:
    """Wraps h2's connection state machine so frames for streams below GOAWAY's last_stream_id are still
    accepted after GOAWAY (h2 alone raises ProtocolError for them, losing answers the server did send)."""

    __slots__ = ("_recv_goaway", "_send_headers", "goaway", "inner")

    def __init__(self, inner: Any, inputs: Any) -> None:
        self.inner = inner
        self.goaway = False
        self._recv_goaway = inputs.RECV_GOAWAY
        self._send_headers = inputs.SEND_HEADERS

    @property
    def state(self) -> Any:
        return self.inner.state

    def process_input(self, input_: Any) -> list[Any]:
        if self.goaway:
            if input_ is self._send_headers:
                raise RuntimeError("no new streams on a connection that received GOAWAY")
            return []
        if input_ is self._recv_goaway:
            self.goaway = True
        result: list[Any] = self.inner.process_input(input_)
        return result


class Response:
    """One HTTP/2 response: status, headers (lowercase bytes names) and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class _StreamState:
    """What every implementation keeps per stream: the caller's future, its deadline and the response so far."""

    __slots__ = ("body", "deadline", "future", "headers", "status")

    def __init__(self, future: asyncio.Future[Response], deadline: float) -> None:
        self.future = future
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.deadline = deadline


class _Stream(_StreamState):
    __slots__ = ("pending",)

    def __init__(self, future: asyncio.Future[Response], deadline: float) -> None:
        self.future = future
        self.status = 0
        self.headers = []
        self.body = []
        self.deadline = deadline
        self.pending: memoryview | None = None  # request body bytes waiting for flow-control window


_S = TypeVar("_S", bound=_StreamState)


class BaseConnection(asyncio.Protocol, Generic[_S]):
    """What the pool sees of a connection, and the life cycle every framing shares: stream limit, response
    completion, reset, GOAWAY draining, timeouts, PING health, close. Subclasses do the framing (h2/jh2 in
    :class:`Connection`, our own in :class:`gateway.channels.h2native.NativeConnection`)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _S] = {}
        self.limit = 1  # one stream until the first response (APNs: until the first authenticated request)
        self.answered = False
        self.closing = False  # GOAWAY received or sent, or lost: no new streams
        self.closed = False
        self.goaway_reason: bytes | None = None
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self._flush_scheduled = False
        self._last_recv = self.loop.time()
        self._ping_sent_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- what a framing provides ------------------------------------------------------------------------------

    def start_request(
        self, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
    ) -> asyncio.Future[Response]:
        """Open a stream and queue its frames; the caller has checked `free > 0`."""
        raise NotImplementedError

    def _flush(self) -> None:
        """Write whatever frames are queued."""
        raise NotImplementedError

    def _remote_max_streams(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS."""
        raise NotImplementedError

    def _cancel_stream(self, sid: int) -> None:
        """Queue RST_STREAM(CANCEL) for a stream we gave up on."""
        raise NotImplementedError

    def _send_ping(self) -> None:
        """Queue a PING."""
        raise NotImplementedError

    def _send_goaway(self) -> None:
        """Queue GOAWAY and flush it."""
        raise NotImplementedError

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def _started(self) -> None:
        """The connection preface is written: start the health timer and let the pool use the connection."""
        self._timer = self.loop.call_later(self.pool.tick_interval, self._tick)
        if not self.ready.done():
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        if not self.ready.done():
            self.ready.set_exception(errors.ConnectError("connection closed during setup"))
        streams, self.streams = self.streams, {}
        for st in streams.values():
            if not st.future.done():
                st.future.set_exception(
                    errors.MaybeSent("HTTP/2 connection lost with the request in flight", detail="connection lost")
                )
        self.pool._connection_closed(self)

    # -- streams ----------------------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        """Streams this connection may still open now."""
        return 0 if self.closing else self.limit - len(self.streams)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _finish(self, sid: int) -> None:
        """The response on `sid` is complete: resolve its future."""
        st = self.streams.pop(sid, None)
        if st is None:
            return
        if not self.answered:
            self.answered = True
            self._update_limit()
        if not st.future.done():
            st.future.set_result(Response(st.status, st.headers, b"".join(st.body) if st.body else b""))
        self._stream_done()

    def _reset(self, sid: int, code: int) -> None:
        """The server reset `sid`: REFUSED_STREAM was never processed (resend), anything else may have been."""
        st = self.streams.pop(sid, None)
        if st is None:
            return
        if not st.future.done():
            if code == _REFUSED_STREAM:
                st.future.set_exception(_StreamNotProcessed("REFUSED_STREAM"))
            else:
                st.future.set_exception(errors.MaybeSent("stream reset by the server", detail=f"RST_STREAM {code}"))
        self._stream_done()

    def _goaway(self, last: int, debug: bytes | None) -> None:
        """GOAWAY: streams above `last` were never processed (resend); the rest keep waiting while we drain."""
        self.closing = True
        self.goaway_reason = debug
        for sid in [s for s in self.streams if s > last]:
            st = self.streams.pop(sid)
            if not st.future.done():
                st.future.set_exception(_StreamNotProcessed("GOAWAY"))
        self.pool._connection_draining(self)
        self._stream_done()

    def _update_limit(self) -> None:
        if not self.answered:
            return
        old = self.limit
        self.limit = max(1, min(self._remote_max_streams(), self.pool.max_streams))
        if self.limit > old:
            self.pool._wake()

    def _stream_done(self) -> None:
        if self.closing:
            if not self.streams and self.transport is not None and not self.closed:
                self.loop.call_soon(self._close_now)
        else:
            self.pool._wake()

    def _close_now(self) -> None:
        if self.transport is not None and not self.closed:
            self._flush()
            self.transport.close()

    # -- health -----------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        """Once per tick: fail overdue requests, ping when idle, close when a ping went unanswered."""
        now = self.loop.time()
        pool = self.pool
        overdue = []
        for sid, st in self.streams.items():
            if st.deadline > now:
                break  # streams are in opening order and share one timeout
            overdue.append(sid)
        for sid in overdue:
            st = self.streams.pop(sid)
            self._cancel_stream(sid)
            if not st.future.done():
                st.future.set_exception(errors.MaybeSent("no HTTP/2 response in time", detail="response timeout"))
        if self._ping_sent_at is not None and now - self._ping_sent_at >= pool.ping_timeout:
            self._abort("PING not acknowledged")
            return
        if self._ping_sent_at is None and now - self._last_recv >= pool.ping_interval:
            self._ping_sent_at = now
            self._send_ping()
        if overdue or self._ping_sent_at == now:
            self._schedule_flush()
        self._timer = self.loop.call_later(pool.tick_interval, self._tick)

    def _abort(self, why: str) -> None:
        self.closing = True
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        """Send GOAWAY and close once in-flight streams finish (they keep their answers)."""
        if self.closed:
            return
        self.closing = True
        self._send_goaway()
        if not self.streams and self.transport is not None:
            self.transport.close()


class Connection(BaseConnection[_Stream]):
    """One HTTP/2 connection over h2 or jh2. Created by :class:`Pool`; not used directly."""

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        impl = pool.impl
        cfg = impl.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self.h2 = impl.H2Connection(config=cfg)
        self._opened = 0
        self.h2.state_machine = self._machine = _DrainTolerantMachine(
            self.h2.state_machine, impl.connection.ConnectionInputs
        )
        self._handlers = {
            impl.events.ResponseReceived: self._on_response,
            impl.events.DataReceived: self._on_data,
            impl.events.StreamEnded: self._on_ended,
            impl.events.StreamReset: self._on_reset,
            impl.events.ConnectionTerminated: self._on_goaway,
            impl.events.RemoteSettingsChanged: self._on_settings,
            impl.events.WindowUpdated: self._on_window,
            impl.events.PingAckReceived: self._on_ping_ack,
            impl.events.TrailersReceived: self._on_trailers,
        }
        self._max_streams_code = impl.settings.SettingCodes.MAX_CONCURRENT_STREAMS
        self._window_code = impl.settings.SettingCodes.INITIAL_WINDOW_SIZE
        self._push_code = impl.settings.SettingCodes.ENABLE_PUSH
        self._cancel_code = impl.errors.ErrorCodes.CANCEL
        self._stream_closed_error: type[Exception] = impl.exceptions.StreamClosedError

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        h2 = self.h2
        h2.initiate_connection()
        # Advertise our stream window in a SETTINGS frame: h2 applies a value assigned to local_settings only
        # when the server acknowledges it, and sends the old one, so the server stayed at 65535 per stream while
        # h2 believed 16 MiB and never opened the window again (a response over 64 KiB stalled). h2 applies
        # this change on the server's ACK too, which arrives before any DATA sent under the new window.
        h2.update_settings({self._window_code: _RECV_WINDOW, self._push_code: 0})
        h2.increment_flow_control_window(_RECV_WINDOW)  # the connection window is not a setting
        t.write(self.h2.data_to_send())
        self._started()

    def data_received(self, data: bytes) -> None:
        self._last_recv = self.loop.time()
        try:
            events = self.h2.receive_data(data)
        except Exception as exc:  # a protocol violation by the server: nothing on this connection is trustworthy
            self._abort(f"HTTP/2 protocol error: {type(exc).__name__}")
            return
        handlers = self._handlers
        for ev in events:
            h = handlers.get(type(ev))
            if h is not None:
                h(ev)
        self._schedule_flush()

    # -- requests ---------------------------------------------------------------------------------------------

    def start_request(
        self, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
    ) -> asyncio.Future[Response]:
        """Open a stream and queue its frames; the caller has checked `free > 0`."""
        h2 = self.h2
        sid: int = h2.get_next_available_stream_id()
        fut: asyncio.Future[Response] = self.loop.create_future()
        st = _Stream(fut, self.loop.time() + timeout)
        self.streams[sid] = st
        h2.gw_open = len(self.streams) - 1  # h2 adds one for the stream being opened
        self._opened += 1
        if self._opened % _SWEEP_EVERY == 0:
            h2.gw_sweep()
        if body:
            h2.send_headers(sid, headers)
            self._send_body(sid, st, memoryview(body))
        else:
            h2.send_headers(sid, headers, end_stream=True)
        self._schedule_flush()
        return fut

    def _send_body(self, sid: int, st: _Stream, view: memoryview) -> None:
        h2 = self.h2
        try:
            window = h2.local_flow_control_window(sid)
            frame = h2.max_outbound_frame_size
            while view:
                n = min(len(view), window, frame)
                if n <= 0:
                    st.pending = view
                    return
                last = n == len(view)
                h2.send_data(sid, view[:n].tobytes(), end_stream=last)
                view = view[n:]
                window -= n
        except self._stream_closed_error:
            # The server closed this stream in the read that also opened its window (a RST_STREAM after the
            # WINDOW_UPDATE): its own event, later in the same batch, settles the request. The rest of the body
            # is moot, and the error must not escape into data_received, which would close the connection.
            pass
        st.pending = None

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    def _remote_max_streams(self) -> int:
        return int(self.h2.remote_settings.max_concurrent_streams)

    def _cancel_stream(self, sid: int) -> None:
        try:
            self.h2.reset_stream(sid, self._cancel_code)
        except Exception:
            pass

    def _send_ping(self) -> None:
        self.h2.ping(b"gwhealth")

    def _send_goaway(self) -> None:
        try:
            self.h2.close_connection()
            self._flush()
        except Exception:
            pass

    # -- events -----------------------------------------------------------------------------------------------

    def _on_response(self, ev: Any) -> None:
        st = self.streams.get(ev.stream_id)
        if st is None:
            return
        status = 0
        hdrs = st.headers
        for k, v in ev.headers:
            if k == b":status":
                status = int(v)
            else:
                hdrs.append((k, v))
        st.status = status

    def _on_trailers(self, ev: Any) -> None:
        st = self.streams.get(ev.stream_id)
        if st is not None:
            st.headers.extend(ev.headers)

    def _on_data(self, ev: Any) -> None:
        if ev.flow_controlled_length:
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        st = self.streams.get(ev.stream_id)
        if st is not None:
            st.body.append(ev.data)

    def _on_ended(self, ev: Any) -> None:
        self._finish(ev.stream_id)

    def _on_reset(self, ev: Any) -> None:
        self._reset(ev.stream_id, int(ev.error_code))

    def _on_goaway(self, ev: Any) -> None:
        self._goaway(ev.last_stream_id if ev.last_stream_id is not None else 0, ev.additional_data)

    def _on_settings(self, ev: Any) -> None:
        if self._max_streams_code in ev.changed_settings:
            self._update_limit()

    def _on_window(self, ev: Any) -> None:
        for sid, st in list(self.streams.items()):
            if st.pending is not None:
                self._send_body(sid, st, st.pending)
                if st.pending is not None:
                    break

    def _on_ping_ack(self, ev: Any) -> None:
        self._ping_sent_at = None


class Pool:
    """HTTP/2 connections to one origin (scheme://host:port), shared by every request to it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        impl: Impl | None = None,
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
        self.impl_name: Impl = impl or default_impl()
        self.impl = load_impl("jh2" if self.impl_name == "native" else self.impl_name)
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
            if self.ssl_context is not None:
                sslobj = proto.transport.get_extra_info("ssl_object") if proto.transport else None
                if sslobj is not None and sslobj.selected_alpn_protocol() not in (None, "h2"):
                    proto.transport.close()
                    raise errors.ConnectError(f"{self.host}:{self.port} did not negotiate HTTP/2 (ALPN)")
            self.opened += 1
            self.connections.append(proto)
        finally:
            self._connecting -= 1
            self._wake()

    def _protocol_factory(self) -> Any:
        if self.impl_name == "native":
            from gateway.channels.h2native import NativeConnection

            return lambda: NativeConnection(self)
        return lambda: Connection(self)

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
