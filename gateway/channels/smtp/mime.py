"""Email content and its MIME bytes, assembled from a fixed skeleton (not `email.message`, which builds only
~500 messages/s): headers are formatted once per message by string joins and bodies are encoded by the compiled
`_fast.mime` module."""

from __future__ import annotations

import base64
import re
import time
from email.utils import formatdate

import msgspec

from gateway import _fast
from gateway.errors import ContentRejected

_mime = _fast.load("mime")

# Header values and addresses must never carry line breaks: that is header injection.
_BAD_HEADER = re.compile(r"[\r\n\x00]")
_ADDRESS = re.compile(r"^[^\s<>()\[\],;:\"\\@]+(?:\.[^\s<>()\[\],;:\"\\@]+)*@[^\s<>()\[\],;:\"\\@]+$|^\"[^\"\r\n]+\"@[^\s<>@]+$")
_ANGLE = re.compile(r"<([^<>\r\n]+)>\s*$")


class EmailContent(msgspec.Struct, kw_only=True):
    """One email to one recipient, as the composer built it."""

    sender: str | None  # envelope MAIL FROM, a bare address; None: the channel's default
    from_header: str | None  # display form for the From header, e.g. 'Shop <news@shop.example>'
    recipient: str  # envelope RCPT TO
    subject: str = ""
    text: str | None = None
    html: str | None = None
    reply_to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes | None = None  # RawEmail: a complete message supplied by the caller


def bare_address(value: str) -> str:
    """The addr-spec inside 'Name <addr>' (or the value itself), validated; raises ContentRejected."""
    if _BAD_HEADER.search(value):
        raise ContentRejected("invalid email address: contains a line break", code=400)
    value = value.strip()
    m = _ANGLE.search(value)
    addr = m.group(1).strip() if m else value
    if len(addr) > 254 or not _ADDRESS.match(addr):
        raise ContentRejected("invalid email address", code=400)
    return addr


def check_header(name: str, value: str) -> None:
    if _BAD_HEADER.search(name) or _BAD_HEADER.search(value) or not name or ":" in name:
        raise ContentRejected(f"header {name[:40]!r} contains a line break or is malformed", code=400)


def encode_header(value: str) -> str:
    """RFC 2047 encoded-words for non-ASCII header text (UTF-8, base64, whole characters per word)."""
    if value.isascii():
        return value
    words = []
    chunk = ""
    for ch in value:
        if len((chunk + ch).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return " ".join("=?utf-8?b?" + base64.b64encode(w.encode()).decode("ascii") + "?=" for w in words)


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def assemble(content: EmailContent, sender: str, message_id: str, domain: str, allow_8bit: bool) -> bytes:
    """The DATA payload (dot-stuffed, CRLF, without the final '.'): headers, then a text, html or
    multipart/alternative body."""
    if content.raw is not None:
        return _mime.to_data(content.raw)  # type: ignore[no-any-return]
    head = [
        "From: " + encode_header(content.from_header or sender),
        "To: " + content.recipient,
        "Subject: " + encode_header(content.subject),
        "Date: " + _date_header(),
        f"Message-ID: <{message_id}@{domain}>",
        "MIME-Version: 1.0",
    ]
    if content.reply_to:
        head.append("Reply-To: " + ", ".join(content.reply_to))
    for name, value in content.headers:
        head.append(f"{name}: {encode_header(value)}")
    parts = []
    if content.text is not None:
        cte, body = _mime.encode_part(content.text, allow_8bit)
        parts.append((b"text/plain", cte, body))
    if content.html is not None:
        cte, body = _mime.encode_part(content.html, allow_8bit)
        parts.append((b"text/html", cte, body))
    if not parts:
        parts.append((b"text/plain", b"7bit", b""))
    header_bytes = "\r\n".join(head).encode("utf-8")
    if len(parts) == 1:
        ctype, cte, body = parts[0]
        return b"".join(
            (header_bytes, b"\r\nContent-Type: ", ctype, b"; charset=utf-8\r\nContent-Transfer-Encoding: ", cte,
             b"\r\n\r\n", body)
        )
    boundary = ("=_gw_" + message_id).encode("ascii", "replace")
    out = [header_bytes, b'\r\nContent-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n']
    for ctype, cte, body in parts:
        out += [b"--", boundary, b"\r\nContent-Type: ", ctype, b"; charset=utf-8\r\nContent-Transfer-Encoding: ",
                cte, b"\r\n\r\n", body, b"\r\n"]
    out += [b"--", boundary, b"--"]
    return b"".join(out)
