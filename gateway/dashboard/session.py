"""Dashboard sessions (sans-I/O): the login check and the signed, expiring session token its cookie holds.

A token is `B64(access key id).EXPIRES.B64(tag)`, tag = HMAC-SHA256 over `access key id|EXPIRES` under a key derived
from that access key's secret (HMAC-SHA256(secret, "gateway dashboard session v1")). So no new secret needs
configuring, a token is worth nothing without the secret it was issued under, and rotating or removing an API key
ends its dashboard sessions at once. Tokens are stateless: logging out clears the cookie in the browser; a copied
token stays valid until it expires (SESSION_TTL_S).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable

import msgspec

COOKIE = "gw_dashboard"
SESSION_TTL_S = 8 * 3600
_CONTEXT = b"gateway dashboard session v1"

#: access key id -> its secret, or None for a key that is not configured (SigV4Verifier.secret_of)
Secrets = Callable[[str], "str | None"]


class Session(msgspec.Struct, frozen=True):
    """A verified session: who logged in and until when (seconds since the epoch)."""

    access_key: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(secret: str, access_key: str, expires: int) -> bytes:
    key = hmac.digest(secret.encode(), _CONTEXT, "sha256")
    return hmac.digest(key, f"{access_key}|{expires}".encode(), "sha256")


def credentials_ok(access_key: str, secret: str, secrets: Secrets) -> bool:
    """Whether `secret` is `access_key`'s. Compared in constant time over SHA-256 digests (equal lengths whatever
    was typed), and an unknown key costs the same comparison as a known one."""
    known = secrets(access_key) if access_key else None
    want = hashlib.sha256((known if known is not None else "\x00unknown").encode()).digest()
    got = hashlib.sha256(secret.encode()).digest()
    return hmac.compare_digest(want, got) and known is not None


def issue(access_key: str, secret: str, now: float, ttl_s: int = SESSION_TTL_S) -> str:
    """A session token for `access_key` (whose secret is `secret`) expiring `ttl_s` after `now`."""
    expires = int(now) + ttl_s
    return f"{_b64(access_key.encode())}.{expires}.{_b64(_tag(secret, access_key, expires))}"


def verify(token: str, secrets: Secrets, now: float) -> Session | None:
    """The session `token` carries, or None when it is malformed, forged, expired or its key is gone."""
    parts = token.split(".")
    if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 12:  # not '²'
        return None
    try:
        access_key = _unb64(parts[0]).decode()
        tag = _unb64(parts[2])
    except (binascii.Error, ValueError):
        return None
    if _b64(access_key.encode()) != parts[0] or _b64(tag) != parts[2]:  # one spelling only (unused padding bits)
        return None
    expires = int(parts[1])
    secret = secrets(access_key)
    if secret is None or not hmac.compare_digest(tag, _tag(secret, access_key, expires)) or expires <= now:
        return None
    return Session(access_key=access_key, expires=expires)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path only (never another site: no open redirect)."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value and value.isprintable():
        return value
    return "/dashboard"
