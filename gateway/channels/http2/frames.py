"""The HTTP/2 frame codec (RFC 9113 §4 and §6), sans I/O: bytes in, frames out, and frames out as bytes.

One codec for every party that speaks raw HTTP/2 here: the native client connection
(:mod:`gateway.channels.http2.native`), the sandbox server (:mod:`gateway.sandbox.h2server`) and the tests that
play either side. It knows frame layout only: no streams, windows or connection state, no HPACK (the header
blocks it cuts and joins are opaque bytes), and it imports nothing but :mod:`struct`, so the sandbox and the tests
can use it without the client.

Reading is built for the push hot path: :meth:`FrameReader.feed` cuts every complete frame of a read in one call
and hands back plain tuples ``(type, flags, stream id, payload)`` for the caller to switch on, so the per-frame
cost is a header unpack and a payload slice; parsing a payload (SETTINGS, WINDOW_UPDATE, GOAWAY, padding) is a
separate call only for the frames that need it.
"""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (§6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)

# Flags: END_STREAM on DATA/HEADERS, ACK on SETTINGS/PING share a bit.
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20

# Error codes (§7).
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED = 0x0, 0x1, 0x3, 0x5
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x7, 0x8, 0x9

# SETTINGS parameters (§6.5.2).
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE = (
    0x1, 0x2, 0x3, 0x4, 0x5
)

#: The window every stream and the connection start with, and the frame size every peer accepts (§6.5.2).
DEFAULT_WINDOW = 65535
DEFAULT_MAX_FRAME = 16384
MAX_WINDOW = 0x7FFFFFFF
MAX_FRAME_LIMIT = 16777215

#: One received frame: (type, flags, stream id, payload).
Frame = tuple[int, int, int, bytes]

HEADER_SIZE = 9
# The 9-byte frame header in one unpack: a 24-bit length and the 8-bit type share the first word.
_HEADER = struct.Struct(">IBI")
U32 = struct.Struct(">I")
_U32_PAIR = struct.Struct(">II")
_SETTING = struct.Struct(">HI")


class FrameError(ValueError):
    """A frame whose payload breaks its layout (bad padding, wrong length): a connection error for the peer."""


# -- reading ------------------------------------------------------------------------------------------------------


def parse_frames(data: bytes) -> tuple[list[Frame], int]:
    """Every complete frame at the start of `data`, and how many bytes they took (the rest is a frame cut short)."""
    frames: list[Frame] = []
    add = frames.append
    unpack = _HEADER.unpack_from
    pos = 0
    n = len(data)
    while n - pos >= 9:
        type_length, flags, sid = unpack(data, pos)
        end = pos + 9 + (type_length >> 8)
        if end > n:
            break
        add((type_length & 0xFF, flags, sid & 0x7FFFFFFF, data[pos + 9:end]))
        pos = end
    return frames, pos


class FrameReader:
    """Cuts a byte stream into frames: :meth:`feed` each read and get back the frames it completed.

    A frame cut short waits in a buffer that grows by appending, and is parsed again only once enough bytes are
    there to complete it, so a large frame arriving in many reads costs linear time."""

    __slots__ = ("_need", "_rest")

    def __init__(self) -> None:
        self._rest = bytearray()
        self._need = 0  # bytes `_rest` must hold before it can yield a frame

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`, in order."""
        rest = self._rest
        if rest:
            rest += data
            if len(rest) < self._need:
                return []
            data = bytes(rest)
            rest.clear()
        frames, used = parse_frames(data)
        if used < len(data):
            rest += memoryview(data)[used:]
            self._need = 9 + (_HEADER.unpack_from(rest)[0] >> 8) if len(rest) >= 9 else 9
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held for the next read."""
        return len(self._rest)


def unpad(payload: bytes) -> bytes:
    """The content of a PADDED DATA or HEADERS payload (§6.1): without the pad length octet and the padding."""
    if not payload or payload[0] >= len(payload):
        raise FrameError("bad padding")
    return payload[1:len(payload) - payload[0]]


def header_fragment(flags: int, payload: bytes) -> bytes:
    """The header block fragment of a HEADERS payload: padding and the priority fields removed (§6.2)."""
    if flags & PADDED:
        payload = unpad(payload)
    if flags & PRIORITY_FLAG:
        payload = payload[5:]
    return payload


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """A SETTINGS payload as (parameter, value) pairs in order; a trailing partial entry is ignored."""
    return list(_SETTING.iter_unpack(payload[:len(payload) - len(payload) % 6]))


def window_increment(payload: bytes) -> int:
    """The increment of a WINDOW_UPDATE payload (the reserved bit cleared)."""
    if len(payload) != 4:
        raise FrameError("WINDOW_UPDATE payload is not 4 octets")
    return int(U32.unpack(payload)[0]) & 0x7FFFFFFF


def error_code(payload: bytes) -> int:
    """The error code of a RST_STREAM payload."""
    if len(payload) != 4:
        raise FrameError("RST_STREAM payload is not 4 octets")
    return int(U32.unpack(payload)[0])


def parse_goaway(payload: bytes) -> tuple[int, int, bytes]:
    """A GOAWAY payload: (last stream id, error code, debug data)."""
    if len(payload) < 8:
        raise FrameError("GOAWAY payload shorter than 8 octets")
    last, code = _U32_PAIR.unpack_from(payload)
    return last & 0x7FFFFFFF, code, payload[8:]


# -- writing ------------------------------------------------------------------------------------------------------


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    """One frame: the 9-byte header and `payload`."""
    return _HEADER.pack((len(payload) << 8) | ftype, flags, sid & 0x7FFFFFFF) + payload


def settings_payload(pairs: list[tuple[int, int]]) -> bytes:
    """A SETTINGS payload from (parameter, value) pairs."""
    return b"".join(_SETTING.pack(k, v) for k, v in pairs)


def settings(pairs: list[tuple[int, int]]) -> bytes:
    """A SETTINGS frame announcing `pairs`."""
    return frame(SETTINGS, 0, 0, settings_payload(pairs))


#: The acknowledgement of the peer's SETTINGS.
SETTINGS_ACK = frame(SETTINGS, ACK, 0)


def window_update(sid: int, increment: int) -> bytes:
    """WINDOW_UPDATE opening stream `sid`'s window (0: the connection's) by `increment`."""
    return frame(WINDOW_UPDATE, 0, sid, U32.pack(increment))


def rst_stream(sid: int, code: int) -> bytes:
    """RST_STREAM ending stream `sid` with error `code`."""
    return frame(RST_STREAM, 0, sid, U32.pack(code))


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    """GOAWAY: streams above `last_stream_id` were not processed."""
    return frame(GOAWAY, 0, 0, _U32_PAIR.pack(last_stream_id, code) + debug)


def ping(opaque: bytes, *, ack: bool = False) -> bytes:
    """PING carrying 8 octets of `opaque` data (echoed back with ACK)."""
    return frame(PING, ACK if ack else 0, 0, opaque)


def header_frames(sid: int, block: bytes, max_frame: int, *, end_stream: bool) -> list[bytes]:
    """A header block as HEADERS and as many CONTINUATION frames as `max_frame` requires (§6.10)."""
    es = END_STREAM if end_stream else 0
    if len(block) <= max_frame:
        return [frame(HEADERS, END_HEADERS | es, sid, block)]
    out = [frame(HEADERS, es, sid, block[:max_frame])]
    rest = block[max_frame:]
    while rest:
        chunk, rest = rest[:max_frame], rest[max_frame:]
        out.append(frame(CONTINUATION, 0 if rest else END_HEADERS, sid, chunk))
    return out
