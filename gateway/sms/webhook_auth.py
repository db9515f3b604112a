"""Authentication of inbound provider webhooks (sans-I/O).

* `hmac`: the Standard Webhooks scheme (shared reference §7): headers `webhook-id`, `webhook-timestamp` (Unix
  seconds) and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.raw_body>`, several
  allowed so keys can rotate). Verified over the *raw* bytes before any parsing, constant-time, timestamp within
  5 minutes; replays of a `webhook-id` are refused by the caller (see :mod:`gateway.sms.inbound`).
* `basic`: HTTP Basic credentials compared in constant time.
* `twilio`: `X-Twilio-Signature`, base64 HMAC-SHA1 over the public URL followed by the sorted form parameters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

TOLERANCE_S = 300


class WebhookAuthError(Exception):
    """The request is not authentic; the message says why (never includes secrets or payloads)."""


def _secret_bytes(secret: str) -> bytes:
    # Standard Webhooks secrets are "whsec_<base64>"; anything else is used as raw UTF-8.
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookAuthError("webhook secret has the whsec_ prefix but is not base64") from None
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request."""
    mac = hmac.new(_secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_hmac(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: float, tolerance_s: int = TOLERANCE_S
) -> str:
    """Verify a Standard Webhooks signature; return the webhook id (for replay detection) or raise."""
    msg_id = headers.get("webhook-id")
    ts_raw = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not msg_id or not ts_raw or not sig_header:
        raise WebhookAuthError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise WebhookAuthError("webhook-timestamp is not an integer") from None
    if abs(now - ts) > tolerance_s:
        raise WebhookAuthError(f"webhook-timestamp outside the {tolerance_s}s tolerance")
    offered = [s.split(",", 1)[1] for s in sig_header.split() if s.startswith("v1,")]
    if not offered:
        raise WebhookAuthError("webhook-signature has no v1 signature")
    for secret in secrets:
        expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
        # Compare against every offered signature without an early exit on the first match of a prefix.
        if any(hmac.compare_digest(expected.encode(), o.encode()) for o in offered):
            return msg_id
    raise WebhookAuthError("no webhook-signature matches")


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def verify_basic(username: str, password: str, authorization: str | None) -> None:
    """Constant-time check of an `Authorization: Basic` header."""
    if not authorization or not authorization.startswith("Basic "):
        raise WebhookAuthError("missing Basic credentials")
    expected = basic_header(username, password).encode()
    if not hmac.compare_digest(expected, authorization.strip().encode()):
        raise WebhookAuthError("wrong Basic credentials")


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(token, url + concatenated sorted key+value pairs))."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode("ascii")


def verify_twilio(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> None:
    if not signature:
        raise WebhookAuthError("missing X-Twilio-Signature")
    if not hmac.compare_digest(twilio_signature(auth_token, url, params).encode(), signature.encode()):
        raise WebhookAuthError("X-Twilio-Signature does not match")
