"""The HTTP/2 frame codec alone (no connection, no sockets), and the package's import graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.http2 import frames
from gateway.channels.http2.frames import FrameError, FrameReader, frame, parse_frames

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ["frames", "connection", "native", "h2adapter", "pool", "impls"]


def modules_after_importing(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `module` alone."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_codec_imports_alone_without_asyncio_or_the_client() -> None:
    loaded = modules_after_importing("gateway.channels.http2.frames")
    assert "asyncio" not in loaded
    ours = {m for m in loaded if m.startswith("gateway")}
    assert ours == {"gateway", "gateway.channels", "gateway.channels.http2", "gateway.channels.http2.frames"}


@pytest.mark.parametrize("name", [*PACKAGE, "__init__"])
def test_every_module_of_the_package_imports_alone(name: str) -> None:
    """A fresh interpreter importing any one module first: an import circle would fail here."""
    module = "gateway.channels.http2" + ("" if name == "__init__" else f".{name}")
    assert module in modules_after_importing(module)


def test_the_package_re_exports_what_the_channels_use() -> None:
    code = ("from gateway.channels import http2; import gateway.channels.http2.pool as p; "
            "assert issubclass(http2.Pool, p.Pool); assert http2.Response.__module__.endswith('.connection'); "
            "assert callable(http2.client_ssl_context); print(sorted(http2.__all__) == sorted(http2._EXPORTS))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


STREAM = (frame(frames.SETTINGS, 0, 0, frames.settings_payload([(3, 100), (4, 1 << 20)]))
          + frame(frames.HEADERS, frames.END_HEADERS, 1, b"\x88" + b"h" * 40)
          + frame(frames.DATA, 0, 1, bytes(range(256)) * 80)  # longer than one read
          + frame(frames.DATA, frames.END_STREAM, 1, b"")
          + frame(frames.WINDOW_UPDATE, 0, 0, b"\x00\x00\x10\x00")
          + frame(frames.PING, frames.ACK, 0, b"12345678")
          + frame(frames.GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00debug"))


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_a_byte_stream_cut_anywhere_yields_the_same_frames(cuts: list[int]) -> None:
    whole, used = parse_frames(STREAM)
    assert used == len(STREAM) and len(whole) == 7
    reader = FrameReader()
    got = []
    pos = 0
    for cut in [*sorted(cuts), len(STREAM)]:
        got += reader.feed(STREAM[pos:cut])
        pos = cut
    assert got == whole
    assert reader.pending == 0


def test_an_incomplete_frame_waits_and_counts_as_pending() -> None:
    reader = FrameReader()
    big = frame(frames.DATA, frames.END_STREAM, 3, b"x" * 100_000)
    assert reader.feed(big[:5]) == []
    assert reader.pending == 5
    for i in range(5, len(big) - 1, 4096):
        assert reader.feed(big[i:min(i + 4096, len(big) - 1)]) == []
    assert reader.feed(big[-1:] + frame(frames.PING, 0, 0, b"8bytes!!")[:3]) == [(frames.DATA, frames.END_STREAM, 3, b"x" * 100_000)]
    assert reader.pending == 3


def test_the_reserved_bit_of_the_stream_id_is_ignored() -> None:
    raw = bytearray(frame(frames.RST_STREAM, 0, 5, b"\x00\x00\x00\x08"))
    raw[5] |= 0x80
    assert parse_frames(bytes(raw)) == ([(frames.RST_STREAM, 0, 5, b"\x00\x00\x00\x08")], 13)


def test_control_frames_round_trip() -> None:
    pairs = [(1, 0), (3, 1000), (4, 65535)]
    ((ftype, flags, sid, payload),), _ = parse_frames(frames.settings(pairs))
    assert (ftype, flags, sid) == (frames.SETTINGS, 0, 0) and frames.parse_settings(payload) == pairs
    assert frames.parse_settings(payload + b"\x00\x01") == pairs  # a trailing partial entry is ignored
    assert parse_frames(frames.SETTINGS_ACK)[0] == [(frames.SETTINGS, frames.ACK, 0, b"")]
    ((_, _, sid, payload),), _ = parse_frames(frames.window_update(7, 12345))
    assert sid == 7 and frames.window_increment(payload) == 12345
    ((_, _, sid, payload),), _ = parse_frames(frames.rst_stream(9, frames.REFUSED_STREAM))
    assert sid == 9 and frames.error_code(payload) == frames.REFUSED_STREAM
    ((ftype, _, _, payload),), _ = parse_frames(frames.goaway(11, frames.NO_ERROR, b'{"reason":"Shutdown"}'))
    assert ftype == frames.GOAWAY and frames.parse_goaway(payload) == (11, 0, b'{"reason":"Shutdown"}')
    assert parse_frames(frames.ping(b"abcdefgh", ack=True))[0] == [(frames.PING, frames.ACK, 0, b"abcdefgh")]


def test_a_header_block_over_the_frame_size_continues() -> None:
    block = bytes(range(256)) * 100  # 25,600 bytes
    sent = [f for raw in frames.header_frames(3, block, 16384, end_stream=True) for f in parse_frames(raw)[0]]
    assert [(t, fl) for t, fl, _, _ in sent] == [(frames.HEADERS, frames.END_STREAM), (frames.CONTINUATION, frames.END_HEADERS)]
    assert b"".join(p for *_, p in sent) == block
    ((t, fl, _, p),) = [parse_frames(raw)[0][0] for raw in frames.header_frames(3, b"abc", 16384, end_stream=False)]
    assert (t, fl, p) == (frames.HEADERS, frames.END_HEADERS, b"abc")


def test_padding_and_priority_are_removed_and_bad_padding_is_an_error() -> None:
    assert frames.unpad(b"\x03body\x00\x00\x00") == b"body"
    assert frames.header_fragment(frames.PADDED | frames.PRIORITY_FLAG, b"\x02" + b"\x00\x00\x00\x01\x10" + b"blk\x00\x00") == b"blk"
    assert frames.unpad(b"\x03abc") == b""  # all padding: allowed
    for bad in (b"", b"\x04abc", b"\x09ab"):
        with pytest.raises(FrameError):
            frames.unpad(bad)
    for short in (frames.window_increment, frames.error_code, frames.parse_goaway):
        with pytest.raises(FrameError):
            short(b"\x00\x00\x01")
