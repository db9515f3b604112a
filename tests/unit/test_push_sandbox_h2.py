"""The sandbox HTTP/2 server honours the client's flow control as a real server does (no sockets: a fake
transport and hand-made client frames)."""

from __future__ import annotations

import struct

from hpack import Encoder as PyEncoder

from gateway.channels.http2.frames import (
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PREFACE,
    PROTOCOL_ERROR,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
    parse_goaway,
)
from gateway.sandbox.h2server import H2Server, Reply, Request, ServerConnection
from tests.unit.test_push_h2native import FakeTransport, frames

BODY = bytes(range(256)) * 400  # 102,400 bytes: over the default windows and the default frame size


def answer(req: Request) -> Reply:
    return 410, [(b"content-type", b"application/json")], BODY, False


def request(sid: int) -> bytes:
    block = PyEncoder().encode([(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"x"),
                                (b":path", b"/3/device/aa")])
    return frame(HEADERS, END_HEADERS | END_STREAM, sid, bytes(block))


class Client:
    def __init__(self) -> None:
        self.t = FakeTransport()
        self.conn = ServerConnection(H2Server(answer))
        self.conn.connection_made(self.t)  # type: ignore[arg-type]
        self.seen = 0

    def send(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        self.conn.data_received(data)
        self.conn._flush()
        out = frames(bytes(self.t.data[self.seen:]))
        self.seen = len(self.t.data)
        return out


def data_of(sent: list[tuple[int, int, int, bytes]], sid: int) -> list[tuple[int, bytes]]:
    return [(flags, payload) for ftype, flags, s, payload in sent if ftype == DATA and s == sid]


async def test_response_bodies_stay_within_the_clients_windows_and_frame_size() -> None:
    c = Client()
    c.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 1000)))  # stream window 1000
    got = data_of(c.send(request(1)), 1)
    assert sum(len(p) for _, p in got) == 1000 and not any(f & END_STREAM for f, _ in got)
    got += data_of(c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20))), 1)
    assert sum(len(p) for _, p in got) == 65535  # now the connection window binds
    assert all(len(p) <= 16384 for _, p in got)  # SETTINGS_MAX_FRAME_SIZE default
    got += data_of(c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20))), 1)
    assert b"".join(p for _, p in got) == BODY and got[-1][0] & END_STREAM


async def test_a_reset_stream_gets_no_more_data() -> None:
    c = Client()
    c.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 1000)))
    c.send(request(1))
    assert data_of(c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 0x8))
                          + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20))
                          + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20))), 1) == []


async def test_request_bodies_reopen_the_windows_the_server_granted() -> None:
    server = H2Server(answer, recv_window=65535, conn_recv_window=65535)
    conn = ServerConnection(server)
    t = FakeTransport()
    conn.connection_made(t)  # type: ignore[arg-type]
    block = PyEncoder().encode([(b":method", b"POST"), (b":path", b"/3/device/aa")])
    conn.data_received(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, bytes(block))
                       + frame(DATA, 0, 1, b"x" * 16384) * 2)
    conn._flush()
    updates = {s: struct.unpack(">I", p)[0] for ftype, _, s, p in frames(bytes(t.data)) if ftype == WINDOW_UPDATE}
    assert updates == {0: 32768, 1: 32768}


async def test_a_malformed_frame_is_a_goaway_with_protocol_error_and_the_request_is_not_processed() -> None:
    c = Client()
    c.send(PREFACE + frame(SETTINGS, 0, 0))
    block = PyEncoder().encode([(b":method", b"POST"), (b":scheme", b"https"), (b":path", b"/3/device/aa")])
    sent = c.send(frame(HEADERS, END_HEADERS, 1, bytes(block))
                  + frame(DATA, PADDED | END_STREAM, 1, b"\x09{}"))  # more padding than payload (RFC 9113 §6.1)
    assert [parse_goaway(p)[:2] for ftype, _, _, p in sent if ftype == GOAWAY] == [(0, PROTOCOL_ERROR)]
    assert c.conn.server.requests == 0 and data_of(sent, 1) == []
