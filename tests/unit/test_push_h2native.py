"""The native HTTP/2 client connection, driven frame by frame with a fake transport (no sockets)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from hpack import Decoder as PyDecoder
from hpack import Encoder as PyEncoder
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import errors
from gateway.channels.http2.connection import Response, _StreamNotProcessed
from gateway.channels.http2.frames import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PREFACE,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    Frame,
    frame,
    parse_frames,
)
from gateway.channels.http2.native import NativeConnection

REQ = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"x"), (b":path", b"/3/device/t"),
       (b"authorization", b"bearer jwt")]


class FakeTransport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> Any:
        return None


class FakePool:
    tick_interval = 3600.0
    ping_interval = 3600.0
    ping_timeout = 3600.0
    max_streams = 1000

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.woken = 0
        self.closed: list[Any] = []

    def _wake(self) -> None:
        self.woken += 1

    def _connection_closed(self, conn: Any) -> None:
        self.closed.append(conn)

    def _connection_draining(self, conn: Any) -> None:
        pass


def frames(data: bytes) -> list[Frame]:
    """Every frame the other side wrote (it writes whole frames only)."""
    out, used = parse_frames(data)
    assert used == len(data), "a frame was written cut short"
    return out


class Server:
    """The other end: reads what the client wrote, answers with crafted frames."""

    def __init__(self) -> None:
        self.enc = PyEncoder()
        self.dec = PyDecoder()
        self.seen = 0

    def read(self, t: FakeTransport) -> list[tuple[int, int, int, bytes]]:
        data = bytes(t.data[self.seen:])
        self.seen = len(t.data)
        if data.startswith(PREFACE):
            data = data[len(PREFACE):]
        return frames(data)

    def block(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        return bytes(self.enc.encode(headers))


async def connect() -> tuple[NativeConnection, FakeTransport, Server]:
    pool = FakePool()
    conn = NativeConnection(pool)  # type: ignore[arg-type]
    t = FakeTransport()
    conn.connection_made(t)  # type: ignore[arg-type]
    srv = Server()
    first = srv.read(t)
    assert first[0][0] == SETTINGS and (0x2, 0) in [struct.unpack(">HI", first[0][3][i:i + 6])
                                                     for i in range(0, len(first[0][3]), 6)]
    return conn, t, srv


async def test_request_frames_and_simple_answer() -> None:
    conn, t, srv = await connect()
    fut = conn.start_request(REQ, b'{"aps":{}}', 30)
    conn._flush()
    (h, d) = srv.read(t)
    assert (h[0], h[1], h[2]) == (HEADERS, END_HEADERS, 1)
    assert srv.dec.decode(h[3], raw=True) == REQ
    assert (d[0], d[1], d[2], d[3]) == (DATA, END_STREAM, 1, b'{"aps":{}}')
    conn.data_received(frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b":status", b"200"),
                                                                            (b"apns-id", b"abc")])))
    resp = fut.result()
    assert isinstance(resp, Response) and resp.status == 200 and resp.header(b"apns-id") == b"abc"
    assert conn.answered and conn.streams == {}


async def test_continuation_padding_informational_and_trailers() -> None:
    conn, t, srv = await connect()
    fut = conn.start_request(REQ, b"", 30)
    conn._flush()
    (h,) = srv.read(t)
    assert h[1] == END_HEADERS | END_STREAM  # no body: the HEADERS frame ends the stream
    info = srv.block([(b":status", b"100")])
    block = srv.block([(b":status", b"400"), (b"content-type", b"application/json")])
    body = b'{"reason":"BadDeviceToken"}'
    data = (frame(HEADERS, END_HEADERS, 1, info)
            + frame(HEADERS, 0, 1, block[:3]) + frame(CONTINUATION, END_HEADERS, 1, block[3:])
            + frame(DATA, PADDED, 1, bytes((4,)) + body[:10] + b"\0" * 4)
            + frame(DATA, 0, 1, body[10:])
            + frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b"x-trailer", b"1")])))
    conn.data_received(data)
    resp = fut.result()
    assert resp.status == 400 and resp.body == body
    assert resp.headers == [(b"content-type", b"application/json"), (b"x-trailer", b"1")]


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=200), max_size=12))
def test_answers_survive_any_split_of_the_byte_stream(cuts: list[int]) -> None:
    async def run() -> None:
        conn, t, srv = await connect()
        futs = [conn.start_request(REQ, b"x" * 30, 30)]
        conn._flush()
        srv.read(t)
        conn.limit = 10
        data = frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 10)) + frame(HEADERS, END_HEADERS, 1, srv.block(
            [(b":status", b"200"), (b"apns-id", b"id-1")])) + frame(DATA, END_STREAM, 1, b"")
        pos = 0
        for c in cuts:
            conn.data_received(data[pos:pos + c])
            pos += c
        conn.data_received(data[pos:])
        assert futs[0].result().status == 200
        conn._flush()
        assert (SETTINGS, ACK, 0, b"") in srv.read(t)
    asyncio.run(run())


async def test_flow_control_holds_the_body_until_windows_open() -> None:
    conn, t, srv = await connect()
    conn.data_received(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 10)))  # INITIAL_WINDOW_SIZE 10
    conn._flush()
    assert any(f[:2] == (SETTINGS, ACK) for f in srv.read(t))
    fut = conn.start_request(REQ, b"a" * 25, 30)
    fut2 = conn.start_request(REQ, b"b" * 5, 30)  # queued behind the first body, in order
    conn._flush()
    sent = [f for f in srv.read(t) if f[0] == DATA]
    assert [(f[2], len(f[3]), f[1]) for f in sent] == [(1, 10, 0)]
    conn.data_received(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)))
    conn._flush()
    sent = [f for f in srv.read(t) if f[0] == DATA]
    assert [(f[2], len(f[3]), f[1]) for f in sent] == [(1, 15, END_STREAM), (3, 5, END_STREAM)]
    assert not fut.done() and not fut2.done()


async def test_settings_raise_the_limit_after_the_first_answer() -> None:
    conn, _t, srv = await connect()
    conn.data_received(frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 50)))
    assert conn.limit == 1  # not before the first answer
    fut = conn.start_request(REQ, b"{}", 30)
    conn.data_received(frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b":status", b"200")])))
    assert fut.done() and conn.limit == 50
    conn.data_received(frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 5)))
    assert conn.limit == 5


async def test_goaway_bounces_unprocessed_streams_and_answers_the_rest() -> None:
    conn, _t, srv = await connect()
    conn.limit = 10
    futs = [conn.start_request(REQ, b"{}", 30) for _ in range(4)]  # streams 1, 3, 5, 7
    conn.data_received(frame(GOAWAY, 0, 0, struct.pack(">II", 3, 0) + b'{"reason":"Shutdown"}'))
    assert conn.closing and conn.free == 0 and conn.goaway_reason == b'{"reason":"Shutdown"}'
    for f in futs[2:]:
        with pytest.raises(_StreamNotProcessed):
            f.result()
    assert not futs[0].done()
    conn.data_received(frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b":status", b"200")]))
                       + frame(HEADERS, END_HEADERS | END_STREAM, 3, srv.block([(b":status", b"200")])))
    assert futs[0].result().status == 200 and futs[1].result().status == 200


async def test_rst_stream_refused_is_resendable_other_codes_are_maybe_sent() -> None:
    conn, _t, _srv = await connect()
    conn.limit = 10
    a, b = conn.start_request(REQ, b"{}", 30), conn.start_request(REQ, b"{}", 30)
    conn.data_received(frame(RST_STREAM, 0, 1, struct.pack(">I", 7)) + frame(RST_STREAM, 0, 3, struct.pack(">I", 2)))
    with pytest.raises(_StreamNotProcessed):
        a.result()
    with pytest.raises(errors.MaybeSent):
        b.result()


async def test_ping_is_answered_and_push_promise_aborts() -> None:
    conn, t, srv = await connect()
    conn.data_received(frame(PING, 0, 0, b"12345678"))
    conn._flush()
    assert (PING, ACK, 0, b"12345678") in srv.read(t)
    fut = conn.start_request(REQ, b"{}", 30)
    conn.data_received(frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2) + srv.block([(b":path", b"/")])))
    assert t.aborted
    conn.connection_lost(None)
    with pytest.raises(errors.MaybeSent):
        fut.result()


async def test_header_table_size_setting_is_followed() -> None:
    conn, t, srv = await connect()
    conn.limit = 10
    conn.start_request(REQ, b"", 30)
    conn.data_received(frame(SETTINGS, 0, 0, struct.pack(">HI", 1, 0)))  # the server wants no dynamic table
    conn.start_request(REQ, b"", 30)
    conn._flush()
    blocks = [f[3] for f in srv.read(t) if f[0] == HEADERS]
    assert srv.dec.decode(blocks[0], raw=True) == REQ
    srv.dec.max_allowed_table_size = 0  # the server's decoder now insists on the smaller table
    assert blocks[1][:1] == b"\x20"  # dynamic table size update to 0 leads the next block
    assert srv.dec.decode(blocks[1], raw=True) == REQ


@pytest.mark.parametrize("bad", [
    frame(DATA, PADDED, 1, b"\x09ab"),  # more padding than payload (RFC 9113 §6.1)
    frame(WINDOW_UPDATE, 0, 0, b"\x00\x01"),  # WINDOW_UPDATE carries 4 octets
    frame(RST_STREAM, 0, 1, b"\x00"),  # so does RST_STREAM
    frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01"),  # GOAWAY at least 8
], ids=["data-padding", "window-update", "rst-stream", "goaway"])
async def test_a_malformed_frame_aborts_the_connection(bad: bytes) -> None:
    conn, t, _srv = await connect()
    fut = conn.start_request(REQ, b"{}", 30)
    conn.data_received(bad)
    assert t.aborted
    conn.connection_lost(None)
    with pytest.raises(errors.MaybeSent):
        fut.result()
