"""Every HTTP/2 client connection (h2, jh2 and the native framing), driven frame by frame with a fake transport
(no sockets): responses larger than the flow-control windows, and a stream's error confined to that stream."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from gateway import errors
from gateway.channels.http2.connection import BaseConnection
from gateway.channels.http2.frames import ACK, DATA, END_HEADERS, END_STREAM, HEADERS, RST_STREAM, SETTINGS, WINDOW_UPDATE, frame
from gateway.channels.http2.impls import connection_factory
from tests.push_support import HTTP2_IMPLS
from tests.unit.test_push_h2native import REQ, FakePool, FakeTransport, Server

STREAM_CLOSED = 0x5


@pytest.fixture(params=HTTP2_IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def settings_of(payload: bytes) -> dict[int, int]:
    return dict(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))


class Windows:
    """The windows the server may send DATA into, as the client's frames set them (RFC 9113 §6.9)."""

    def __init__(self) -> None:
        self.initial = 65535
        self.connection = 65535
        self.streams: dict[int, int] = {}

    def saw(self, sent: list[tuple[int, int, int, bytes]]) -> None:
        for ftype, flags, sid, payload in sent:
            if ftype == SETTINGS and not flags & ACK and 0x4 in settings_of(payload):
                new = settings_of(payload)[0x4]
                self.streams = {s: w + new - self.initial for s, w in self.streams.items()}
                self.initial = new
            elif ftype == WINDOW_UPDATE:
                inc = struct.unpack(">I", payload)[0]
                if sid == 0:
                    self.connection += inc
                else:
                    self.streams[sid] = self.stream(sid) + inc

    def stream(self, sid: int) -> int:
        return self.streams.get(sid, self.initial)

    def consume(self, sid: int, n: int) -> None:
        self.connection -= n
        self.streams[sid] = self.stream(sid) - n


async def connect(impl: str, *server_settings: tuple[int, int]) -> tuple[BaseConnection[Any], FakeTransport, Server, Windows]:
    """A connection past its preface: the server has sent its SETTINGS and acknowledged every one of ours."""
    conn = connection_factory(impl)(FakePool())  # type: ignore[arg-type]  # impl: a str from the fixture
    t = FakeTransport()
    conn.connection_made(t)  # type: ignore[arg-type]
    srv = Server()
    windows = Windows()
    sent = srv.read(t)
    windows.saw(sent)
    ours = [f for f in sent if f[0] == SETTINGS and not f[1] & ACK]
    payload = b"".join(struct.pack(">HI", k, v) for k, v in server_settings)
    conn.data_received(frame(SETTINGS, 0, 0, payload) + frame(SETTINGS, ACK, 0) * len(ours))
    conn._flush()
    windows.saw(srv.read(t))
    conn.limit = 10
    return conn, t, srv, windows


async def test_responses_larger_than_the_windows_complete(impl: str) -> None:
    """The server sends only what the windows the client opened allow: 200 kB on one stream (over the 64 KiB
    default), then 17 MiB (over the 16 MiB the client grants per stream and per connection)."""
    conn, t, srv, windows = await connect(impl)
    for sid, size in ((1, 200_000), (3, 17 << 20)):
        fut = conn.start_request(REQ, b"", 30)
        conn._flush()
        srv.read(t)
        body = bytes(range(251)) * (size // 251) + bytes(range(size % 251))
        conn.data_received(frame(HEADERS, END_HEADERS, sid, srv.block([(b":status", b"200")])))
        sent = 0
        while sent < size:
            n = min(16384, windows.connection, windows.stream(sid), size - sent)
            assert n > 0, f"the server's window is exhausted after {sent} bytes and the client never reopened it"
            conn.data_received(frame(DATA, END_STREAM if sent + n == size else 0, sid, body[sent:sent + n]))
            windows.consume(sid, n)
            sent += n
            conn._flush()
            windows.saw(srv.read(t))
        assert fut.result().body == body


async def test_a_reset_in_the_read_that_opens_the_window_fails_only_that_stream(impl: str) -> None:
    conn, t, srv, _ = await connect(impl, (0x4, 10))  # INITIAL_WINDOW_SIZE 10: the first body waits for window
    a = conn.start_request(REQ, b"a" * 25, 30)
    b = conn.start_request(REQ, b"b" * 5, 30)
    conn._flush()
    srv.read(t)
    # One read: the window of stream 1 opens, then the server resets it, and answers stream 3.
    conn.data_received(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)) + frame(RST_STREAM, 0, 1, struct.pack(">I", 0))
                       + frame(HEADERS, END_HEADERS | END_STREAM, 3, srv.block([(b":status", b"200")])))
    with pytest.raises(errors.MaybeSent):
        a.result()
    assert b.result().status == 200
    assert not t.aborted and not t.closed


async def test_a_frame_after_end_stream_resets_that_stream_not_the_connection(impl: str) -> None:
    conn, t, srv, _ = await connect(impl)
    a, b = conn.start_request(REQ, b"", 30), conn.start_request(REQ, b"", 30)
    conn._flush()
    srv.read(t)
    conn.data_received(frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b":status", b"200")]))
                       + frame(HEADERS, END_HEADERS | END_STREAM, 1, srv.block([(b"x-late", b"1")]))
                       + frame(HEADERS, END_HEADERS | END_STREAM, 3, srv.block([(b":status", b"200")])))
    assert a.result().status == 200 and b.result().status == 200
    assert not t.aborted
    conn._flush()
    if impl != "native":  # h2 resets it (STREAM_CLOSED); the native framing ignores frames of finished streams
        assert (RST_STREAM, 0, 1, struct.pack(">I", STREAM_CLOSED)) in srv.read(t)
    c = conn.start_request(REQ, b"", 30)  # the connection still carries new requests
    conn._flush()
    assert [f[2] for f in srv.read(t) if f[0] == HEADERS] == [5]
    conn.data_received(frame(HEADERS, END_HEADERS | END_STREAM, 5, srv.block([(b":status", b"200")])))
    assert c.result().status == 200
