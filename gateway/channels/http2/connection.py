"""The life cycle every HTTP/2 client connection shares, whatever does its framing, and the response it returns.

:class:`BaseConnection` is what the pool sees of a connection: how many streams it may open now, response
completion, resets, GOAWAY draining, request timeouts, PING health and close. A framing subclasses it and adds
the bytes: :class:`gateway.channels.http2.native.NativeConnection` (our own frames) and
:class:`gateway.channels.http2.h2adapter.H2AdapterConnection` (h2 or jh2). A connection knows its pool only as
:class:`PoolHooks`, so this module, the framings and the pool import downhill only: pool → connection ← framings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from gateway import errors
from gateway.channels.http2.frames import REFUSED_STREAM

#: Initial connection and stream receive windows we grant the server (responses are small, but errors are JSON).
RECV_WINDOW = 1 << 24


class _StreamNotProcessed(Exception):
    """Internal: the server did not process this stream (GOAWAY above last id, REFUSED_STREAM): resend."""


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


class PoolHooks(Protocol):
    """What a connection needs of the pool that opened it: its loop, its timing, and three notifications."""

    loop: asyncio.AbstractEventLoop
    max_streams: int
    tick_interval: float
    ping_interval: float
    ping_timeout: float

    def _wake(self) -> None:
        """Streams became free: wake waiters."""

    def _connection_draining(self, conn: BaseConnection[Any]) -> None:
        """`conn` received GOAWAY: it takes no new streams."""

    def _connection_closed(self, conn: BaseConnection[Any]) -> None:
        """`conn` is gone."""


_S = TypeVar("_S", bound=_StreamState)


class BaseConnection(asyncio.Protocol, Generic[_S]):
    """What the pool sees of a connection, and the life cycle every framing shares: stream limit, response
    completion, reset, GOAWAY draining, timeouts, PING health, close. Subclasses do the framing (h2/jh2 in
    :class:`~gateway.channels.http2.h2adapter.H2AdapterConnection`, our own in
    :class:`~gateway.channels.http2.native.NativeConnection`)."""

    def __init__(self, pool: PoolHooks) -> None:
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
            if code == REFUSED_STREAM:
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


#: Makes a connection for a pool: what the pool is given instead of knowing the framings.
ConnectionFactory = Callable[[PoolHooks], BaseConnection[Any]]
