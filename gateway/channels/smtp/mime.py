"""Email content and its MIME bytes, assembled from a fixed skeleton (not `email.message`, which builds only
~500 messages/s): headers are formatted once per message by string joins and bodies are encoded by the compiled
`_fast.mime` module."""

from __future__ import annotations

import base64
import email
import functools
import io
import re
import time
from collections.abc import Callable
from email import policy
from email.generator import BytesGenerator
from email.utils import formatdate

import msgspec

from gateway import _fast
from gateway.errors import ContentRejected

_mime = _fast.load("mime")
# The compiled module carries no annotations: its functions' signatures, as the pure twin (_mime_py) declares them.
_to_data: Callable[[bytes, bool], bytes] = _mime.to_data
_encode_part: Callable[[str, bool, bool], tuple[bytes, bytes]] = _mime.encode_part

# Header values and addresses must never carry line breaks: that is header injection.
_BAD_HEADER = re.compile(r"[\r\n\x00]")
_ADDRESS = re.compile(r"^[^\s<>()\[\],;:\"\\@]+(?:\.[^\s<>()\[\],;:\"\\@]+)*@[^\s<>()\[\],;:\"\\@]+$|^\"[^\"\r\n]+\"@[^\s<>@]+$")
_ANGLE = re.compile(r"<([^<>\r\n]+)>\s*$")
# A display name that may go out as it is: atoms (RFC 5322 atext) separated by single spaces.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


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
    return value if value.isascii() else _encoded_words(value)


def _encoded_words(value: str) -> str:
    words = []
    chunk = ""
    for ch in value:
        if len((chunk + ch).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return " ".join("=?utf-8?b?" + base64.b64encode(w.encode()).decode("ascii") + "?=" for w in words)


def display_name(name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms as they are, other printable ASCII as a quoted-string, anything
    else as RFC 2047 encoded-words (never inside quotes, where readers do not decode them)."""
    if _ATOMS.fullmatch(name) and "=?" not in name:  # "=?" would be read as the start of an encoded-word
        return name
    if all(" " <= c <= "~" for c in name):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _encoded_words(name)  # also for ASCII controls and tabs, which a phrase would not carry as they are


@functools.lru_cache(maxsize=1024)  # a campaign sends from one address: format it once
def address_header(value: str) -> str:
    """'Name <addr>' (or a bare address) for an address header: only the display name is encoded, the address
    stays outside it (an encoded-word swallowing '<addr>' leaves the header without an address, and relays then
    append their own domain to what they take for a local name)."""
    m = _ANGLE.search(value)
    if m is None:
        return value.strip()
    name = value[: m.start()].strip()
    quoted = _QUOTED.fullmatch(name)
    if quoted is not None:
        name = _QUOTED_PAIR.sub(r"\1", quoted.group(1))
    addr = m.group(1).strip()
    return display_name(name) + " <" + addr + ">" if name else addr


def seven_bit(raw: bytes) -> bytes:
    """A complete message with its 8-bit parts base64-encoded and 8-bit header text as encoded-words, for a relay
    that does not offer 8BITMIME (RFC 6152 §3: such a relay must not be sent 8-bit data). Slow (`email`
    package), and only for a RawEmail on such a relay. Raises ContentRejected if the message cannot be parsed."""
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
        for part in msg.walk():
            if not all(v.isascii() for _, v in part.raw_items()):
                # set again as text, so the generator writes UTF-8 encoded-words (and, in address headers,
                # encodes the display name only) instead of keeping the raw bytes as "unknown-8bit"
                items = [(name, str(value)) for name, value in part.items()]
                for name in {name.lower() for name, _ in items}:
                    del part[name]
                for name, text in items:
                    part[name] = text
            payload = part.get_payload()
            if part.is_multipart() or not isinstance(payload, str) or payload.isascii():
                continue
            body = part.get_payload(decode=True)
            if not isinstance(body, bytes):  # pragma: no cover - a leaf with a str payload decodes to bytes
                continue
            if part.get_content_maintype() == "text":  # text is encoded in canonical form (RFC 2045 §6.8)
                body = _LINE_BREAK.sub(b"\r\n", body)
            del part["Content-Transfer-Encoding"]
            part.set_payload(base64.encodebytes(body).decode("ascii"))
            part["Content-Transfer-Encoding"] = "base64"
        out = io.BytesIO()
        BytesGenerator(out, policy=policy.default.clone(cte_type="7bit", linesep="\r\n")).flatten(msg)
    except Exception as exc:  # whatever `email` trips on in a caller's bytes is a content error, not a crash
        raise ContentRejected(
            f"RawEmail has 8-bit data, the relay does not offer 8BITMIME, and it cannot be converted to 7bit: {exc}",
            code=400) from exc
    return out.getvalue()


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def assemble(content: EmailContent, sender: str, message_id: str, domain: str, allow_8bit: bool,
             stuff: bool = True) -> bytes:
    """The message bytes (CRLF; dot-stuffed for DATA unless `stuff` is false, as BDAT wants; without the line
    break that ends the message, which the final '.' or BDAT supplies): headers, then a text, html or
    multipart/alternative body. 8-bit bytes only when `allow_8bit` (the relay offers 8BITMIME), except in
    addresses, which cannot be encoded."""
    if content.raw is not None:
        raw = content.raw if allow_8bit or content.raw.isascii() else seven_bit(content.raw)
        return _to_data(raw, stuff)
    head = [
        "From: " + address_header(content.from_header or sender),
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
        cte, body = _encode_part(content.text, allow_8bit, stuff)
        parts.append((b"text/plain", cte, body))
    if content.html is not None:
        cte, body = _encode_part(content.html, allow_8bit, stuff)
        parts.append((b"text/html", cte, body))
    if not parts:
        parts.append((b"text/plain", b"7bit", b""))
    header_bytes = "\r\n".join(head).encode("utf-8")
    if len(parts) == 1:
        ctype, cte, body = parts[0]
        if body.endswith(b"\r\n"):  # the body's last line break is the one before the final dot: sent once
            body = body[:-2]
        return b"".join(
            (header_bytes, b"\r\nContent-Type: ", ctype, b"; charset=utf-8\r\nContent-Transfer-Encoding: ", cte,
             b"\r\n\r\n", body)
        )
    boundary = ("=_gw_" + message_id).encode("ascii", "replace")
    out = [header_bytes, b'\r\nContent-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n']
    for ctype, cte, body in parts:
        # the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1): the body keeps its own
        out += [b"--", boundary, b"\r\nContent-Type: ", ctype, b"; charset=utf-8\r\nContent-Transfer-Encoding: ",
                cte, b"\r\n\r\n", body, b"\r\n"]
    out += [b"--", boundary, b"--"]
    return b"".join(out)
