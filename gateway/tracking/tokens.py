"""Signed tracking tokens (sans-I/O).

A token is `KID.B64` where B64 is unpadded URL-safe base64 of `body || tag`: `body` is the UTF-8 fields joined by
0x1F (kind, app, message id, endpoint id, then per kind: the link index and URL for a click, the address for an
unsubscribe) and `tag` is SipHash-2-4-128 of `body` under `HMAC-SHA256(secret[KID], "gateway tracking token
v2")[:16]` (derived once per process). SipHash is a keyed pseudorandom function built to authenticate short inputs,
so as a MAC it is tamper-proof with a 128-bit key and tag; it runs in the compiled module (gateway/_fast/_track.pyx)
in ~50 ns per token, where an HMAC or keyed BLAKE2b through hashlib costs ~1 µs of Python calls per link on the send
path. Every token's body holds the app, message and endpoint ids, and a click's body its URL, so a redirect can
only go where this message linked: no lookup, no open redirect. Keys rotate by id: the first configured key signs,
every configured key verifies. A token that fails any check raises TokenRejected with the reason, and the
Verifier counts rejections by reason.
"""

from __future__ import annotations

import binascii
import hmac
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from gateway import _fast
from gateway.errors import ConfigError

_track = _fast.load("track")

MAC_BYTES = 16
SEP = "\x1f"
OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
_FIELDS = {OPEN: 4, CLICK: 6, UNSUBSCRIBE: 5}
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")
MIN_KEY_BYTES = 16


class TokenRejected(ValueError):
    """A token that is forged, truncated, signed with an unknown key or malformed; `reason` is a short tag."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Token(msgspec.Struct, frozen=True, gc=False):
    """What a verified token carries."""

    kind: str  # OPEN, CLICK or UNSUBSCRIBE
    app: str
    message_id: str
    endpoint_id: str  # "" when the message went to an address, not an endpoint
    link: int = -1  # CLICK: the link's index in the message
    url: str = ""  # CLICK: where it points
    address: str = ""  # UNSUBSCRIBE: the recipient's address


def parse_keys(spec: str) -> dict[str, bytes]:
    """Keys from `KID:SECRET,KID:SECRET` (first signs); ConfigError on a bad id or a secret under 16 bytes."""
    keys: dict[str, bytes] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        kid, sep, secret = part.partition(":")
        if not sep or not _KID.match(kid):
            raise ConfigError("tracking keys: each entry is KID:SECRET with KID of 1-16 characters [A-Za-z0-9_-]")
        if len(secret.encode()) < MIN_KEY_BYTES:
            raise ConfigError(f"tracking key {kid!r}: the secret must be at least {MIN_KEY_BYTES} bytes")
        if kid in keys:
            raise ConfigError(f"tracking key {kid!r} is given twice")
        keys[kid] = secret.encode()
    if not keys:
        raise ConfigError("tracking keys: none configured")
    return keys


def keys_from_env(name: str, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """The keys held by environment variable `name` (see parse_keys)."""
    env = os.environ if environ is None else environ
    spec = env.get(name)
    if not spec:
        raise ConfigError(f"tracking is configured but the environment variable {name} (KID:SECRET,...) is not set")
    return parse_keys(spec)


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_B64URL = re.compile(r"[A-Za-z0-9_-]+\Z")


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def token_key(secret: bytes) -> bytes:
    """The 16-byte SipHash key tokens of `secret`'s key id are tagged with (derived, so the secret itself is never
    used as a raw SipHash key and a secret of any length works)."""
    return hmac.digest(secret, b"gateway tracking token v2", "sha256")[:MAC_BYTES]


if TYPE_CHECKING:  # the twin's classes type both implementations
    from gateway._fast._track_py import MessageSigner as MessageSigner
    from gateway._fast._track_py import SignerBase as _SignerBase
else:
    #: Makes the tokens of one message (made by Signer.message): `kid`, `key` (the token key, not the secret) and
    #: `head` (SEP app SEP message SEP endpoint, UTF-8) also feed the one-pass rewrite (gateway.tracking.rewrite).
    #: Compiled, like Signer.message: one is made per email on the send path.
    MessageSigner = _track.MessageSigner
    _SignerBase = _track.SignerBase


class Signer(_SignerBase):
    """Makes tokens with the first key of `keys`; `message(app, message_id, endpoint_id)` (compiled) makes the
    signer of one message's tokens (ValueError when an id holds U+001F, which would shift the fields after it)."""

    __slots__ = ()

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        kid, secret = next(iter(keys.items()))
        super().__init__(kid, token_key(secret))

    def sign(self, fields: Sequence[str]) -> str:
        """The token of `fields` (kind, app, message id, endpoint id, ...)."""
        m = self.message(fields[1], fields[2], fields[3])
        body = (fields[0] + "".join(SEP + f for f in fields[1:])).encode()
        return m.kid + "." + str(_track.token(m.key, body))

    def open(self, app: str, message_id: str, endpoint_id: str) -> str:
        return self.message(app, message_id, endpoint_id).open()

    def click(self, app: str, message_id: str, endpoint_id: str, link: int, url: str) -> str:
        return self.message(app, message_id, endpoint_id).click(link, url)

    def unsubscribe(self, app: str, message_id: str, endpoint_id: str, address: str) -> str:
        return self.message(app, message_id, endpoint_id).unsubscribe(address)


class Verifier:
    """Checks tokens against every configured key; counts rejections by reason in `rejected`."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = {kid: token_key(secret) for kid, secret in keys.items()}
        self.rejected: Counter[str] = Counter()

    def verify(self, token: str, kind: str | None = None) -> Token:
        """The token's content, or TokenRejected (counted) saying why not."""
        try:
            return self._verify(token, kind)
        except TokenRejected as exc:
            self.rejected[exc.reason] += 1
            raise

    def _verify(self, token: str, kind: str | None) -> Token:
        kid, dot, data = token.partition(".")
        if not dot or not data:
            raise TokenRejected("malformed")
        key = self._keys.get(kid)
        if key is None:
            raise TokenRejected("unknown key")
        if not data.isascii() or len(data) % 4 == 1 or not _B64URL.match(data):
            raise TokenRejected("malformed")
        b64 = data.encode("ascii")
        try:
            raw = binascii.a2b_base64(b64.translate(_FROM_URLSAFE) + b"=" * (-len(b64) % 4))
        except binascii.Error as exc:
            raise TokenRejected("malformed") from exc
        # non-canonical base64 (other bits in the last character): another spelling of the same bytes
        if binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=") != b64:
            raise TokenRejected("malformed")
        if len(raw) <= MAC_BYTES:
            raise TokenRejected("truncated")
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if not hmac.compare_digest(mac, _track.mac(key, body)):
            raise TokenRejected("bad signature")
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:  # we never sign such a body
            raise TokenRejected("malformed") from exc
        found = text[:1]
        n = _FIELDS.get(found)
        fields = text.split(SEP, n - 1) if n is not None else []
        if n is None or len(fields) != n:
            raise TokenRejected("malformed")
        if kind is not None and found != kind:
            raise TokenRejected("wrong kind")
        if found == CLICK:
            if not fields[4].isdigit():
                raise TokenRejected("malformed")
            return Token(found, fields[1], fields[2], fields[3], link=int(fields[4]), url=fields[5])
        if found == UNSUBSCRIBE:
            return Token(found, fields[1], fields[2], fields[3], address=fields[4])
        return Token(found, fields[1], fields[2], fields[3])
