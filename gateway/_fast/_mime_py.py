"""Body encoding for SMTP DATA (pure-Python twin of _mime.pyx; identical output).

`encode_part` picks the cheapest safe Content-Transfer-Encoding for a text part and returns bytes that are
already CRLF-terminated and dot-stuffed, ready to go between the MIME headers and the next boundary.
`to_data` does the same normalization for a complete message supplied as raw bytes (RawEmail).
"""

from __future__ import annotations

import binascii

MAX_LINE = 998  # RFC 5322 line limit, excluding CRLF


def _normalize(data: bytes) -> bytes:
    """CRLF line endings, dot-stuffed lines, no trailing line break."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(b"." + ln if ln[:1] == b"." else ln for ln in lines)


def encode_part(text: str, allow_8bit: bool) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, encoded body) for one text part."""
    raw = text.encode("utf-8")
    ascii_only = len(raw) == len(text)
    if ascii_only or allow_8bit:
        longest = max((len(ln) for ln in raw.replace(b"\r", b"").split(b"\n")), default=0)
        if longest <= MAX_LINE:
            return (b"7bit" if ascii_only else b"8bit"), _normalize(raw)
    # base64 lines never start with "." and never exceed 76 characters.
    return b"base64", _wrap64(raw)


def _wrap64(raw: bytes) -> bytes:
    chunks = [binascii.b2a_base64(raw[i : i + 57], newline=False) for i in range(0, len(raw), 57)]
    return b"\r\n".join(chunks)


def to_data(message: bytes) -> bytes:
    """A complete RFC 5322 message as the DATA payload: CRLF line endings and dot-stuffing."""
    return _normalize(message)
