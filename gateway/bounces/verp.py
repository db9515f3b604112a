"""VERP return paths (pure: no I/O): the envelope sender of each email names its own message, so a bounce or
complaint sent back to it says which message and recipient it is about, and cannot be forged.

The address is `<prefix>+<token>@<return-path domain>`. The token is base32 (lower case, no padding: relays that
fold the case of a local part do not break it) of `mac(6) | flags(1) | len(app)(1) | app | message id`, where app
and message id are packed to bytes when they are hex (Pinpoint's 32-hex application ids, the engine's
`<12 hex>-<12 hex>` message ids), and `mac` is the first 6 bytes of HMAC-SHA256 over the application, the message
id and the recipient's address. The recipient is in the MAC but not in the token (it would not fit): whoever checks
a report checks it against the address the report (or the stored record) names, so a valid token cannot be
replayed to suppress somebody else. With the defaults the local part is 60 characters (RFC 5321: at most 64);
an address that would not fit (a long prefix or ids of another shape) is not used: `return_path` gives the plain
`<prefix>@<domain>` instead, and reports are then matched by Message-ID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import msgspec

MAC_BYTES = 6
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
MAX_PATH = 256  # RFC 5321 §4.5.3.1.3: the reverse-path, angle brackets included
_HEX_APP = 1
_HEX_MID = 2
_MID = re.compile(r"[0-9a-f]{12}-[0-9a-f]{12}")
_EVEN_HEX = re.compile(r"(?:[0-9a-f]{2})+")


class Token(msgspec.Struct, frozen=True):
    """What a VERP token carries (the MAC is checked separately, against a recipient address)."""

    app: str
    message_id: str
    mac: bytes


class VerpError(ValueError):
    """The local part is not a token of ours (malformed, truncated, wrong prefix)."""


def mac(key: bytes, app: str, message_id: str, address: str) -> bytes:
    msg = b"\x00".join((b"gw-verp-1", app.encode(), message_id.encode(), address.strip().lower().encode()))
    return hmac.new(key, msg, hashlib.sha256).digest()[:MAC_BYTES]


def encode_token(key: bytes, app: str, message_id: str, address: str) -> str:
    """The token for one message to one address."""
    flags = 0
    if _EVEN_HEX.fullmatch(app):
        flags |= _HEX_APP
        app_b = bytes.fromhex(app)
    else:
        app_b = app.encode()
    if _MID.fullmatch(message_id):
        flags |= _HEX_MID
        mid_b = bytes.fromhex(message_id.replace("-", ""))
    else:
        mid_b = message_id.encode()
    if len(app_b) > 255:
        raise VerpError("application id too long for a VERP token")
    raw = mac(key, app, message_id, address) + bytes((flags, len(app_b))) + app_b + mid_b
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def decode_token(token: str) -> Token:
    """The application and message id a token names; raises VerpError if it is not well formed."""
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError) as exc:
        raise VerpError(f"not base32: {exc}") from None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token.lower():
        raise VerpError("not canonical base32")  # unused trailing bits set: one token, one spelling
    if len(raw) < MAC_BYTES + 3:
        raise VerpError("too short")
    flags, n = raw[MAC_BYTES], raw[MAC_BYTES + 1]
    app_b = raw[MAC_BYTES + 2:MAC_BYTES + 2 + n]
    mid_b = raw[MAC_BYTES + 2 + n:]
    if len(app_b) != n or not mid_b or flags & ~(_HEX_APP | _HEX_MID):
        raise VerpError("truncated or unknown layout")
    try:
        app = app_b.hex() if flags & _HEX_APP else app_b.decode()
        if flags & _HEX_MID:
            if len(mid_b) != 12:
                raise VerpError("bad message id length")
            h = mid_b.hex()
            message_id = h[:12] + "-" + h[12:]
        else:
            message_id = mid_b.decode()
    except UnicodeDecodeError:
        raise VerpError("not UTF-8") from None
    return Token(app, message_id, raw[:MAC_BYTES])


def verify(key: bytes, token: Token, address: str) -> bool:
    """Whether `token` was made with `key` for a message to `address` (constant-time compare)."""
    return hmac.compare_digest(token.mac, mac(key, token.app, token.message_id, address))


def return_path(prefix: str, domain: str, key: bytes | None, app: str, message_id: str, address: str) -> str:
    """The envelope sender for one message: the VERP address when a key is configured and it fits RFC 5321's
    limits, else `<prefix>@<domain>`."""
    if key is not None:
        local = prefix + "+" + encode_token(key, app, message_id, address)
        if len(local) <= MAX_LOCAL and len(local) + 1 + len(domain) + 2 <= MAX_PATH:
            return local + "@" + domain
    return prefix + "@" + domain


def split_local(local: str, prefix: str) -> str | None:
    """The token in a local part `<prefix>+<token>` ('' for the plain `<prefix>`), None when the local part is not
    ours. The prefix is compared without case (relays may fold it)."""
    lower = local.lower()
    if lower == prefix:
        return ""
    if lower.startswith(prefix + "+") and len(local) > len(prefix) + 1:
        return local[len(prefix) + 1:]
    return None


__all__ = ["Token", "VerpError", "decode_token", "encode_token", "return_path", "split_local", "verify"]
