"""Body encoding for SMTP DATA (pure-Python twin of _mime.pyx; identical output).

`encode_part` picks the cheapest safe Content-Transfer-Encoding for a text part and returns its bytes in
canonical form (every line break CRLF, the last one included: byte-exact) and dot-stuffed, ready to go between the
MIME headers and the CRLF that starts the next boundary. `to_data` does the same normalization for a complete
message supplied as raw bytes (RawEmail), without its last line break, which DATA's final dot supplies.
"""

from __future__ import annotations

import binascii

MAX_LINE = 998  # RFC 5322 line limit, excluding CRLF


def _normalize(data: bytes, stuff: bool, drop_last: bool) -> bytes:
    """CRLF line endings, dot-stuffed lines (unless `stuff` is false: BDAT needs none), without the last line
    break when `drop_last`."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    if drop_last and lines[-1] == b"":
        lines.pop()
    if not stuff:
        return b"\r\n".join(lines)
    return b"\r\n".join(b"." + ln if ln[:1] == b"." else ln for ln in lines)


def encode_part(text: str, allow_8bit: bool, stuff: bool = True) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, encoded body) for one text part."""
    raw = text.encode("utf-8")
    ascii_only = len(raw) == len(text)
    if ascii_only or allow_8bit:
        longest = max((len(ln) for ln in raw.replace(b"\r", b"").split(b"\n")), default=0)
        if longest <= MAX_LINE:
            return (b"7bit" if ascii_only else b"8bit"), _normalize(raw, stuff, False)
    # base64 lines never start with "." and never exceed 76 characters; text is encoded in canonical form
    # (CRLF, RFC 2045 §6.8), so it decodes to what a 7bit or 8bit part of the same text carries.
    return b"base64", _wrap64(_normalize(raw, False, False))


def _wrap64(raw: bytes) -> bytes:
    chunks = [binascii.b2a_base64(raw[i : i + 57], newline=False) for i in range(0, len(raw), 57)]
    return b"\r\n".join(chunks)


def to_data(message: bytes, stuff: bool = True) -> bytes:
    """A complete RFC 5322 message as the DATA payload: CRLF line endings and dot-stuffing (BDAT: no stuffing)."""
    return _normalize(message, stuff, True)
