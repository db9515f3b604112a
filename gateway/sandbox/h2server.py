"""A minimal, fast HTTP/2 server core for the push sandboxes (raw asyncio Protocol on the client's frame codec).

Its frames are :mod:`gateway.channels.http2.frames`, the codec the native client uses (a malformed frame is a
GOAWAY with PROTOCOL_ERROR); it only decodes HPACK (jh2's compiled decoder when present), and it encodes responses
as HPACK literals without touching a dynamic table, so it costs a fraction of what an h2-based client costs per
request: a benchmark measures the client, not this server (benchmarks/bench_push.py measures it alone first).

Fault injection, all switchable at run time on :class:`H2Server`:

* `initial_streams` advertised in the first SETTINGS, raised to `max_streams` after the first successful
  (handler-approved) response, as APNs does after the first authenticated request;
* `delay_s`: answer every request that much later (slow provider);
* `goaway_after`: after that many requests on a connection, send GOAWAY(last_stream_id = that request) and drop
  the unprocessed higher streams; the processed ones are still answered, then the connection closes;
* `refuse_next`: refuse the next N streams with RST_STREAM(REFUSED_STREAM) without processing them;
* `ignore_pings`: never answer PING (to test client health checks);
* :meth:`H2Server.goaway_all` sends GOAWAY on every connection now.

Strict where a real server is (node's http2 / nghttp2, tests/peers/apns_h2.js): responses honour the windows and
frame size the client advertises (SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, WINDOW_UPDATE per stream
and per connection), so a client that never reopens its windows stalls here as it would against APNs; nothing
is sent on a stream the client reset. Request bodies are granted `recv_window` per stream and
`conn_recv_window` per connection (large by default, so benchmarks measure the client, not flow control;
65535, the RFC default, makes a client's request bodies wait for WINDOW_UPDATE as nghttp2 does), and both windows
are reopened as bodies are read.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, cast

from gateway.channels.http2 import frames

try:  # jh2 ships a compiled HPACK decoder; hpack is the pure-Python one h2 uses
    from jh2._hazmat import Decoder as _Decoder
except ImportError:  # pragma: no cover
    from hpack import Decoder as _Decoder

_STATIC_STATUS = {200: 0x88, 204: 0x89, 206: 0x8A, 304: 0x8B, 400: 0x8C, 404: 0x8D, 500: 0x8E}


def _hpack_int(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(s: bytes) -> bytes:
    return _hpack_int(len(s), 7, 0) + s


def encode_response_headers(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    """HPACK block with no dynamic-table use: static :status where possible, literals otherwise."""
    code = _STATIC_STATUS.get(status)
    block = bytes((code,)) if code is not None else b"\x08" + _hpack_str(str(status).encode())
    for name, value in headers:
        block += b"\x00" + _hpack_str(name) + _hpack_str(value)
    return block


class Request:
    """One complete HTTP/2 request as the handler sees it. `duplicated`: some header name came twice (the
    `headers` dict keeps the last)."""

    __slots__ = ("body", "conn", "duplicated", "headers", "stream_id")

    def __init__(self, stream_id: int, headers: dict[bytes, bytes], body: bytes, conn: ServerConnection,
                 duplicated: bool = False) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.body = body
        self.conn = conn
        self.duplicated = duplicated

    @property
    def path(self) -> bytes:
        return self.headers.get(b":path", b"")

    @property
    def method(self) -> bytes:
        return self.headers.get(b":method", b"")


#: A handler answers (status, headers, body, authenticated). `authenticated` True lets the server raise the
#: connection's stream limit (APNs's behaviour after the first request with a valid token).
Reply = tuple[int, list[tuple[bytes, bytes]], bytes, bool]
Handler = Callable[[Request], Reply]


class _InStream:
    __slots__ = ("block", "body", "duplicated", "headers", "unacked")

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] | None = None
        self.duplicated = False
        self.block = b""
        self.body: list[bytes] = []
        self.unacked = 0  # body bytes read since this stream's window was last reopened


class ServerConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: H2Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()  # the client's connection preface, until all 24 octets are in
        self.preface = False
        self.reader = frames.FrameReader()
        self.decoder = _Decoder()
        self.streams: dict[int, _InStream] = {}
        self.answering = 0  # requests accepted and not yet answered
        self.limit = server.initial_streams
        self.raised = False
        self.requests = 0
        self.goaway_sent = False
        self.last_processed = 0
        self.highest = 0
        # what we may send: the client's connection window, its initial stream window and frame size, and per
        # stream how far past (or short of) that initial window it is (sent minus WINDOW_UPDATE credit)
        self.send_window = frames.DEFAULT_WINDOW
        self.peer_initial = frames.DEFAULT_WINDOW
        self.peer_max_frame = frames.DEFAULT_MAX_FRAME
        self.used: dict[int, int] = {}
        self.awaiting: set[int] = set()  # processed, answer not yet sent (delay_s)
        self.pending: dict[int, bytes] = {}  # response bodies waiting for window, in answer order
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.recv_unacked = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.server.connections.add(self)
        self.server.accepted += 1
        server = self.server
        preface = frames.settings([
            (frames.S_MAX_CONCURRENT_STREAMS, self.limit), (frames.S_INITIAL_WINDOW_SIZE, server.recv_window),
            (frames.S_HEADER_TABLE_SIZE, 4096),
        ])
        if server.conn_recv_window > frames.DEFAULT_WINDOW:
            preface += frames.window_update(0, server.conn_recv_window - frames.DEFAULT_WINDOW)
        self._write(preface)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)

    def _write(self, data: bytes) -> None:
        self.out.append(data)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def data_received(self, data: bytes) -> None:
        if not self.preface:
            head = self.head
            head += data
            if len(head) < len(frames.PREFACE):
                return
            if bytes(head[:len(frames.PREFACE)]) != frames.PREFACE:
                self._goaway(frames.PROTOCOL_ERROR, b"bad preface")
                return
            data = bytes(head[len(frames.PREFACE):])
            head.clear()
            self.preface = True
        try:
            for ftype, flags, sid, payload in self.reader.feed(data):
                self._frame(ftype, flags, sid, payload)
                if self.closed:
                    return
        except frames.FrameError as exc:
            self._goaway(frames.PROTOCOL_ERROR, str(exc).encode())
            return
        if self.recv_unacked >= min(self.server.conn_recv_window // 2, 1 << 20):
            self._write(frames.window_update(0, self.recv_unacked))
            self.recv_unacked = 0

    def _frame(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if ftype == frames.HEADERS:
            if flags & (frames.PADDED | frames.PRIORITY_FLAG):
                payload = frames.header_fragment(flags, payload)
            if sid <= self.highest and sid not in self.streams:
                return  # trailers for a stream we dropped
            self.highest = max(self.highest, sid)
            st = self.streams.get(sid)
            if st is None:
                st = self.streams[sid] = _InStream()
                if len(self.streams) + self.answering > self.server.peak_streams:
                    self.server.peak_streams = len(self.streams) + self.answering
                if len(self.streams) + self.answering > self.limit:
                    self.server.limit_violations += 1
            st.block += payload
            if flags & frames.END_HEADERS:
                self._headers_done(sid, st)
            if flags & frames.END_STREAM:
                self._complete(sid)
        elif ftype == frames.CONTINUATION:
            st = self.streams.get(sid)
            if st is None:
                return
            st.block += payload
            if flags & frames.END_HEADERS:
                self._headers_done(sid, st)
        elif ftype == frames.DATA:
            flow = len(payload)
            self.recv_unacked += flow
            st = self.streams.get(sid)
            if st is None:
                return
            if flags & frames.PADDED:
                payload = frames.unpad(payload)
            st.body.append(payload)
            if flags & frames.END_STREAM:
                self._complete(sid)
            else:
                st.unacked += flow
                if st.unacked >= min(self.server.recv_window // 2, 1 << 20):
                    self._write(frames.window_update(sid, st.unacked))
                    st.unacked = 0
        elif ftype == frames.SETTINGS:
            if not flags & frames.ACK:
                self._settings(payload)
        elif ftype == frames.PING:
            if not flags & frames.ACK:
                self.server.pings += 1
                if not self.server.ignore_pings:
                    self._write(frames.ping(payload, ack=True))
        elif ftype == frames.WINDOW_UPDATE:
            inc = frames.window_increment(payload)
            if sid == 0:
                self.send_window += inc
            elif sid in self.streams or sid in self.awaiting or sid in self.pending:
                self.used[sid] = self.used.get(sid, 0) - inc
            if self.pending:
                self._pump()
        elif ftype == frames.RST_STREAM:
            self.streams.pop(sid, None)
            self.awaiting.discard(sid)  # the client gave up: its answer is not sent
            self.pending.pop(sid, None)
            self.used.pop(sid, None)
            if self._drained():
                self._close()
        elif ftype == frames.GOAWAY:
            self.goaway_sent = True
            if not self.streams and not self.answering:
                self._close()

    def _settings(self, payload: bytes) -> None:
        """The client's SETTINGS: its stream window and frame size bound our DATA frames (the HPACK table size
        does not matter: responses never use the dynamic table)."""
        for key, value in frames.parse_settings(payload):
            if key == frames.S_INITIAL_WINDOW_SIZE:
                if value > frames.MAX_WINDOW:
                    self._goaway(frames.FLOW_CONTROL_ERROR, b"INITIAL_WINDOW_SIZE too large")
                    return
                self.peer_initial = value  # applies to every stream's window at once (RFC 9113 §6.9.2)
            elif key == frames.S_MAX_FRAME_SIZE and frames.DEFAULT_MAX_FRAME <= value <= frames.MAX_FRAME_LIMIT:
                self.peer_max_frame = value
        self._write(frames.SETTINGS_ACK)
        if self.pending:
            self._pump()

    def _headers_done(self, sid: int, st: _InStream) -> None:
        try:
            decoded = self.decoder.decode(st.block, raw=True)
        except Exception:
            self._goaway(frames.COMPRESSION_ERROR, b"hpack")
            return
        st.headers = {k: v for k, v, *_ in decoded}
        st.duplicated = len(st.headers) != len(decoded)
        st.block = b""

    def _complete(self, sid: int) -> None:
        st = self.streams.pop(sid, None)
        if st is None or st.headers is None:
            return
        server = self.server
        if self.goaway_sent:
            server.dropped += 1  # above last_stream_id: never processed
            return
        if server.refuse_next > 0:
            server.refuse_next -= 1
            server.refused += 1
            self._write(frames.rst_stream(sid, frames.REFUSED_STREAM))
            return
        self.requests += 1
        self.last_processed = sid
        server.requests += 1
        req = Request(sid, st.headers, b"".join(st.body) if st.body else b"", self, st.duplicated)
        reply = server.handler(req)
        self.answering += 1
        self.awaiting.add(sid)
        if server.delay_s > 0:
            self.loop.call_later(server.delay_s, self._respond, sid, reply)
        else:
            self._respond(sid, reply)
        if server.goaway_after is not None and self.requests >= server.goaway_after:
            self._goaway(frames.NO_ERROR, server.goaway_debug)

    def _respond(self, sid: int, reply: Reply) -> None:
        self.answering -= 1
        if self.closed:
            return
        if sid not in self.awaiting:  # reset by the client meanwhile
            if self._drained():
                self.loop.call_soon(self._close)
            return
        self.awaiting.discard(sid)
        status, headers, body, authed = reply
        block = encode_response_headers(status, headers)
        if body:
            self._write(frames.frame(frames.HEADERS, frames.END_HEADERS, sid, block))
            n = len(body)
            if (not self.pending and n <= self.send_window and n <= self.peer_initial - self.used.get(sid, 0)
                    and n <= self.peer_max_frame):
                self.send_window -= n  # the usual case: one frame, within every window
                self.used.pop(sid, None)
                self._write(frames.frame(frames.DATA, frames.END_STREAM, sid, body))
            else:
                self.pending[sid] = body
                self._pump()
        else:
            self.used.pop(sid, None)
            self._write(frames.frame(frames.HEADERS, frames.END_HEADERS | frames.END_STREAM, sid, block))
        if authed and not self.raised and not self.goaway_sent:
            self.raised = True
            if self.server.max_streams != self.limit:
                self.limit = self.server.max_streams
                self._write(frames.settings([(frames.S_MAX_CONCURRENT_STREAMS, self.limit)]))
        if self._drained():
            self.loop.call_soon(self._close)

    def _pump(self) -> None:
        """Send waiting response bodies, in answer order, as far as the client's windows allow."""
        for sid in list(self.pending):
            body = self.pending[sid]
            while body:
                n = min(len(body), self.send_window, self.peer_initial - self.used.get(sid, 0), self.peer_max_frame)
                if n <= 0:
                    break
                chunk, body = body[:n], body[n:]
                self.send_window -= n
                self.used[sid] = self.used.get(sid, 0) + n
                self._write(frames.frame(frames.DATA, 0 if body else frames.END_STREAM, sid, chunk))
            if body:
                self.pending[sid] = body
                if self.send_window <= 0:
                    return
            else:
                del self.pending[sid]
                self.used.pop(sid, None)
        if self._drained():
            self.loop.call_soon(self._close)

    def _goaway(self, code: int, debug: bytes = b"") -> None:
        """GOAWAY naming the last stream we processed; later streams are dropped unprocessed."""
        if self.goaway_sent:
            return
        self.goaway_sent = True
        self.server.goaways += 1
        self._write(frames.goaway(self.last_processed, code, debug))
        if self._drained():
            self.loop.call_soon(self._close)

    def _drained(self) -> bool:
        """GOAWAY sent and every processed request answered and sent: the connection may close."""
        return self.goaway_sent and not self.answering and not self.pending

    def _close(self) -> None:
        if self.transport is not None and not self.closed:
            self._flush()
            self.transport.close()


class H2Server:
    """An HTTP/2 server (h2c, or TLS with ALPN h2) answering every request with `handler`."""

    def __init__(self, handler: Handler, *, initial_streams: int = 1, max_streams: int = 1000,
                 recv_window: int = 1 << 24, conn_recv_window: int = 1 << 30) -> None:
        self.handler = handler
        self.initial_streams = initial_streams
        self.max_streams = max_streams
        self.recv_window = recv_window
        self.conn_recv_window = conn_recv_window
        self.delay_s = 0.0
        self.goaway_after: int | None = None
        self.goaway_debug = b'{"reason":"Shutdown"}'
        self.refuse_next = 0
        self.ignore_pings = False
        self.connections: set[ServerConnection] = set()
        # statistics (tests assert on these)
        self.accepted = 0
        self.requests = 0
        self.dropped = 0
        self.refused = 0
        self.goaways = 0
        self.pings = 0
        self.peak_streams = 0
        self.limit_violations = 0
        self._server: asyncio.base_events.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> H2Server:
        """Listen; `port=0` picks a free port (read it from `.port`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerConnection(self), host, port, ssl=ssl_context, reuse_address=True, backlog=1024
        )
        sock = self._server.sockets[0]
        self.host, self.port = sock.getsockname()[:2]
        return self

    def goaway_all(self, debug: bytes = b'{"reason":"Shutdown"}') -> None:
        """Send GOAWAY on every open connection now (answers for streams already processed still go out)."""
        for c in list(self.connections):
            c._goaway(frames.NO_ERROR, debug)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self.connections):
                if c.transport is not None:
                    c.transport.close()
            await self._server.wait_closed()


def server_ssl_context(certfile: str, keyfile: str | None = None, *, client_ca: str | None = None) -> ssl.SSLContext:
    """TLS for a sandbox: ALPN h2; with `client_ca`, client certificates are required (APNs certificate auth)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["h2"])
    if client_ca is not None:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def peer_certificate(req: Request) -> dict[str, Any] | None:
    """The verified client certificate of the request's connection, if TLS with client auth."""
    t = req.conn.transport
    if t is None:
        return None
    cert: dict[str, Any] | None = t.get_extra_info("peercert")
    return cert
