"""A client HTTP/2 connection with its own framing (RFC 9113), for the push pool's hot path.

h2/jh2 build a tree of objects per frame and run two state machines per stream; for a push (one HEADERS, one
DATA, one HEADERS back) that bookkeeping costs more than everything else the gateway does for the message.
This module keeps only what a client of APNs/FCM needs: per-stream response assembly, flow-control windows both
ways, SETTINGS (concurrency, initial window, frame size, HPACK table size), PING, RST_STREAM and GOAWAY. The bytes
of each frame are :mod:`gateway.channels.http2.frames` (the codec the sandbox server shares); HPACK is jh2's
compiled encoder/decoder (the `hpack` package otherwise). Server push is disabled in our SETTINGS; a
PUSH_PROMISE is a protocol error.

The connection life cycle the pool relies on (stream limit, GOAWAY draining, timeouts, PING, close) is
:class:`gateway.channels.http2.connection.BaseConnection`, shared with the h2/jh2 connection; this class adds the
framing. It is the default implementation (:mod:`gateway.channels.http2.impls`). The same integration tests run
against h2, jh2 and this one.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

from gateway.channels.http2.connection import RECV_WINDOW, BaseConnection, PoolHooks, Response, _StreamState
from gateway.channels.http2.frames import (
    ACK,
    CANCEL,
    CONTINUATION,
    DATA,
    DEFAULT_MAX_FRAME,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    MAX_FRAME_LIMIT,
    MAX_WINDOW,
    NO_ERROR,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    PUSH_PROMISE,
    RST_STREAM,
    S_ENABLE_PUSH,
    S_HEADER_TABLE_SIZE,
    S_INITIAL_WINDOW_SIZE,
    S_MAX_CONCURRENT_STREAMS,
    S_MAX_FRAME_SIZE,
    SETTINGS,
    SETTINGS_ACK,
    WINDOW_UPDATE,
    FrameError,
    FrameReader,
    error_code,
    frame,
    goaway,
    header_fragment,
    header_frames,
    parse_goaway,
    parse_settings,
    ping,
    rst_stream,
    settings,
    unpad,
    window_increment,
    window_update,
)

try:  # jh2's Rust HPACK; the pure-Python hpack package has the same encode/decode calls
    from jh2._hazmat import Decoder, Encoder
except ImportError:  # pragma: no cover
    from hpack import Decoder, Encoder

_SENSITIVE = frozenset({b"authorization", b"proxy-authorization"})  # never indexed, as h2 does


class _Stream(_StreamState):
    __slots__ = ("got_headers", "pending", "unacked", "window")

    def __init__(self, future: asyncio.Future[Response], deadline: float, window: int) -> None:
        self.future = future
        self.status = 0
        self.headers = []
        self.body = []
        self.deadline = deadline
        self.window = window  # how much request body we may still send on this stream
        self.pending = b""  # request body waiting for window
        self.got_headers = False
        self.unacked = 0  # response bytes received since we last opened this stream's window


class NativeConnection(BaseConnection[_Stream]):
    """One HTTP/2 client connection (see the module docstring)."""

    def __init__(self, pool: PoolHooks) -> None:
        super().__init__(pool)
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.next_sid = 1
        self.remote_max_streams = 1 << 31
        self.remote_initial_window = DEFAULT_WINDOW
        self.max_frame = DEFAULT_MAX_FRAME
        self.send_window = DEFAULT_WINDOW
        self.recv_unacked = 0
        self.reader = FrameReader()
        self.out: list[bytes] = []
        self._blocked: collections.deque[int] = collections.deque()  # streams with body waiting for window
        self._continuing: int | None = None  # stream whose header block awaits CONTINUATION
        self._hblock = b""
        self._hflags = 0

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)
        t.write(PREFACE + settings([(S_ENABLE_PUSH, 0), (S_INITIAL_WINDOW_SIZE, RECV_WINDOW)])  # big stream windows
                + window_update(0, RECV_WINDOW - DEFAULT_WINDOW))
        self._started()

    def data_received(self, data: bytes) -> None:
        self._last_recv = self.loop.time()
        try:
            for ftype, flags, sid, payload in self.reader.feed(data):
                self._frame(ftype, flags, sid, payload)
        except (_ProtocolError, FrameError) as exc:
            self._abort(str(exc))
            return
        if self.recv_unacked >= RECV_WINDOW // 2:
            self.out.append(window_update(0, self.recv_unacked))
            self.recv_unacked = 0
        if self.out:
            self._schedule_flush()

    # -- requests ---------------------------------------------------------------------------------------------

    def start_request(
        self, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
    ) -> asyncio.Future[Response]:
        sid = self.next_sid
        self.next_sid += 2
        fut: asyncio.Future[Response] = self.loop.create_future()
        st = _Stream(fut, self.loop.time() + timeout, self.remote_initial_window)
        self.streams[sid] = st
        block = self.encoder.encode([(k, v, k in _SENSITIVE) for k, v in headers])
        out = self.out
        if len(block) <= self.max_frame:  # the usual case, without the codec's list of frames
            out.append(frame(HEADERS, END_HEADERS if body else END_HEADERS | END_STREAM, sid, block))
        else:
            out.extend(header_frames(sid, block, self.max_frame, end_stream=not body))
        if body:
            st.pending = body
            if self._blocked or not self._send_body(sid, st):
                self._blocked.append(sid)  # bodies go out in request order as windows open
        self._schedule_flush()
        return fut

    def _send_body(self, sid: int, st: _Stream) -> bool:
        """Send as much of the pending body as the windows allow; True when all of it went."""
        body = st.pending
        while body:
            n = min(len(body), self.send_window, st.window, self.max_frame)
            if n <= 0:
                st.pending = body
                return False
            chunk, body = body[:n], body[n:]
            self.send_window -= n
            st.window -= n
            self.out.append(frame(DATA, 0 if body else END_STREAM, sid, chunk))
        st.pending = b""
        return True

    def _unblock(self) -> None:
        blocked = self._blocked
        while blocked:
            sid = blocked[0]
            st = self.streams.get(sid)
            if st is not None and st.pending and not self._send_body(sid, st):
                return
            blocked.popleft()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.out:
            data = b"".join(self.out)
            self.out.clear()
            if self.transport is not None and not self.closed:
                self.transport.write(data)

    # -- frames -----------------------------------------------------------------------------------------------

    def _frame(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if self._continuing is not None and ftype != CONTINUATION:
            raise _ProtocolError("frame interleaved in a header block")
        if ftype == HEADERS or ftype == CONTINUATION:
            if ftype == HEADERS:
                if flags & (PADDED | PRIORITY_FLAG):
                    payload = header_fragment(flags, payload)
                self._hflags = flags
                block = payload
            elif self._continuing != sid:
                raise _ProtocolError("unexpected CONTINUATION")
            else:
                block = self._hblock + payload
            if not flags & END_HEADERS:
                self._continuing = sid
                self._hblock = block
                return
            self._continuing = None
            self._hblock = b""
            try:  # decoded even for streams we gave up on, to keep the HPACK table in step
                decoded = self.decoder.decode(block, raw=True)
            except Exception as exc:
                raise _ProtocolError("HPACK decoding failed") from exc
            st = self.streams.get(sid)
            if st is not None:
                self._on_headers(sid, st, decoded, self._hflags)
        elif ftype == DATA:
            flow = len(payload)  # padding counts against the windows too
            self.recv_unacked += flow
            st = self.streams.get(sid)
            if flags & PADDED:
                payload = unpad(payload)
            if st is None:
                return
            if payload:
                st.body.append(payload)
            if flags & END_STREAM:
                self._finish(sid)
            else:
                # The stream's window is ours to reopen as well as the connection's: without this a response
                # longer than the initial stream window stalls (RFC 9113 §6.9).
                st.unacked += flow
                if st.unacked >= RECV_WINDOW // 2:
                    self.out.append(window_update(sid, st.unacked))
                    st.unacked = 0
        elif ftype == SETTINGS:
            if not flags & ACK:
                self._on_settings(payload)
        elif ftype == WINDOW_UPDATE:
            inc = window_increment(payload)
            if sid == 0:
                self.send_window += inc
            else:
                st = self.streams.get(sid)
                if st is None:
                    return
                st.window += inc
            self._unblock()
        elif ftype == RST_STREAM:
            self._reset(sid, error_code(payload))
        elif ftype == PING:
            if flags & ACK:
                self._ping_sent_at = None
            else:
                self.out.append(ping(payload, ack=True))
        elif ftype == GOAWAY:
            last, _code, debug = parse_goaway(payload)
            self._goaway(last, debug)
        elif ftype == PUSH_PROMISE:
            raise _ProtocolError("PUSH_PROMISE although push is disabled")
        # PRIORITY and unknown frame types are ignored (RFC 9113 §5.5)

    def _on_headers(self, sid: int, st: _Stream, decoded: list[Any], flags: int) -> None:
        if not st.got_headers:
            status = 0
            hdrs = st.headers
            for name, value, *_ in decoded:
                if name == b":status":
                    status = int(value)
                else:
                    hdrs.append((name, value))
            if 100 <= status < 200:
                hdrs.clear()  # informational: the real response follows
                return
            st.status = status
            st.got_headers = True
        else:
            st.headers.extend((name, value) for name, value, *_ in decoded)  # trailers
        if flags & END_STREAM:
            self._finish(sid)

    def _on_settings(self, payload: bytes) -> None:
        for key, value in parse_settings(payload):
            if key == S_HEADER_TABLE_SIZE:
                self.encoder.header_table_size = value
            elif key == S_MAX_CONCURRENT_STREAMS:
                self.remote_max_streams = value
            elif key == S_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _ProtocolError("INITIAL_WINDOW_SIZE too large")
                delta = value - self.remote_initial_window
                self.remote_initial_window = value
                for st in self.streams.values():
                    st.window += delta
            elif key == S_MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME <= value <= MAX_FRAME_LIMIT:
                    raise _ProtocolError("bad MAX_FRAME_SIZE")
                self.max_frame = value
        self.out.append(SETTINGS_ACK)
        self._update_limit()
        self._unblock()

    # -- what the base class asks of a framing ----------------------------------------------------------------

    def _remote_max_streams(self) -> int:
        return self.remote_max_streams

    def _cancel_stream(self, sid: int) -> None:
        self.out.append(rst_stream(sid, CANCEL))

    def _send_ping(self) -> None:
        self.out.append(ping(b"gwhealth"))

    def _send_goaway(self) -> None:
        self.out.append(goaway(0, NO_ERROR))
        self._flush()


class _ProtocolError(Exception):
    """The server broke the protocol: the connection is aborted and its in-flight requests are MaybeSent."""
