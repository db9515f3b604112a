"""Authentication of inbound provider webhooks (sans-I/O).

* `hmac`: the Standard Webhooks headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
  (space-separated `v1,<base64 HMAC-SHA256>`, several allowed so keys can rotate), verified over the *raw* bytes
  before any parsing, constant-time, timestamp within 5 minutes. Unlike plain Standard Webhooks, the signed
  content also holds the request target (path and query exactly as sent: `/sms/inbound/<app>` or
  `/sms/status?app=<app>&mid=<message id>`): `id.timestamp.target LF raw_body`. The application (and a receipt's
  message id) live only in the target, so a signature over `id.timestamp.body` alone let a STOP signed for one
  application be replayed to every other one. Replays of a `webhook-id` are refused by the caller, per
  application (see :mod:`gateway.sms.inbound`).
* `basic`: HTTP Basic credentials compared in constant time.
* `twilio`: `X-Twilio-Signature` as Twilio computes it: base64 HMAC-SHA1 over the full URL Twilio requested
  (which names the application) followed by the sorted form parameters; for a non-form body the URL carries
  `bodySHA256` (hex SHA-256 of the raw body) and the parameters are left out. Like Twilio's own validators, the
  URL is tried with and without the scheme's default port. Several auth tokens may be given (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

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


def signed_content(msg_id: str, timestamp: int, target: str, body: bytes) -> bytes:
    """What an `hmac` signature covers: `id.timestamp.target`, a line feed (which no request target or header
    can hold, so the target and the body can't trade bytes), then the raw body."""
    return f"{msg_id}.{timestamp}.{target}\n".encode() + body


def _mac(secret: str, content: bytes) -> str:
    return base64.b64encode(hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, target: str, body: bytes) -> str:
    """The `webhook-signature` header value for one request to `target` (path and query exactly as sent)."""
    return "v1," + _mac(secret, signed_content(msg_id, timestamp, target, body))


def verify_hmac(
    secrets: Sequence[str], headers: Mapping[str, str], target: str, body: bytes, now: float,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """Verify a signature over `id.timestamp.target LF body`; return the webhook id (for replay detection) or
    raise. `target` is the request's raw path and query, as received."""
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
    offered = [s.split(",", 1)[1].encode() for s in sig_header.split() if s.startswith("v1,")]
    if not offered:
        raise WebhookAuthError("webhook-signature has no v1 signature")
    content = signed_content(msg_id, ts, target, body)
    for secret in secrets:
        expected = _mac(secret, content).encode()
        # Compare against every offered signature without an early exit on the first match of a prefix.
        if any(hmac.compare_digest(expected, o) for o in offered):
            return msg_id
    # Only on failure: say so when the sender signed plain Standard Webhooks content (without the target).
    plain = f"{msg_id}.{ts}.".encode() + body
    if any(hmac.compare_digest(_mac(secret, plain).encode(), o) for secret in secrets for o in offered):
        raise WebhookAuthError("webhook-signature covers id.timestamp.body only; it must cover the request target "
                               "too (id.timestamp.target LF body)")
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


_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_url_variants(url: str) -> list[str]:
    """`url` and the same URL with the scheme's default port added or removed: Twilio signs the URL as it was
    configured, and its own validators accept either form."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None:
        return [url]
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if port is None:
        other = f"{userinfo}{at}{hostport}:{default}"
    elif port == default:
        other = f"{userinfo}{at}{hostport.rsplit(':', 1)[0]}"
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


def twilio_body_hash(url: str) -> str | None:
    """The `bodySHA256` query parameter of `url` (Twilio's scheme for a non-form body), or None."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("bodySHA256")
    return values[0] if values else None


def verify_twilio(
    auth_tokens: Sequence[str], url: str, params: Iterable[tuple[str, str]], signature: str | None,
    body: bytes | None = None,
) -> None:
    """Verify `X-Twilio-Signature` for a request to `url` (the full URL Twilio requested, raw as sent). A form
    request passes its parameters; a request with any other body passes `body` and no parameters, and `url`
    must then carry `bodySHA256`, or the body would not be covered by the signature at all."""
    if not signature:
        raise WebhookAuthError("missing X-Twilio-Signature")
    tokens = [auth_tokens] if isinstance(auth_tokens, str) else auth_tokens  # one token, not its characters
    pairs = list(params)
    declared: str | None = None
    if body is not None:
        declared = twilio_body_hash(url)
        if declared is None:
            raise WebhookAuthError("X-Twilio-Signature covers a non-form body only with bodySHA256 in the URL")
        if pairs:
            raise WebhookAuthError("bodySHA256 requests carry no signed form parameters")
    offered = signature.encode()
    ok = False
    for token in tokens:
        for variant in twilio_url_variants(url):
            ok |= hmac.compare_digest(twilio_signature(token, variant, pairs).encode(), offered)
    if not ok:
        raise WebhookAuthError("X-Twilio-Signature does not match")
    # The URL (and so bodySHA256) is authentic now; the body must be the one it names.
    if body is not None and not hmac.compare_digest(
            hashlib.sha256(body).hexdigest().encode(), (declared or "").lower().encode()):
        raise WebhookAuthError("bodySHA256 does not match the body")
