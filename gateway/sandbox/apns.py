"""A sandbox APNs provider API: real HTTP/2 (h2c or TLS with ALPN h2), JWT checks, scripted reasons.

* Token auth: `authorization: bearer <ES256 JWT>` verified against the keys given (by kid), issuer = the key's
  team; a token older than one hour is ExpiredProviderToken, one issued before `reject_issued_before`
  (a wall time) too. A new token for a team less than 20 minutes after the previous one is
  TooManyProviderTokenUpdates (429), as Apple does.
* Certificate auth: on TLS with a client CA, a verified client certificate replaces the JWT.
* The connection starts at one stream and is raised to `max_streams` after the first request with a valid
  provider token (or client certificate), whatever its answer, as Apple describes.
* Device tokens choose the answer by prefix (`script`): e.g. "gone…" → 410 Unregistered; `large` maps tokens to a
  410 Unregistered whose JSON body is that many bytes (flow control). Any other token must be hex digits, an even
  number of them, at most 200: else 400 BadDeviceToken.
* Strict like APNs (and like tests/peers/apns_h2.js, the independent peer on node's http2): apns-id must be a
  canonical lowercase UUID, a repeated header is DuplicateHeaders, `topics` (when given) limits apns-topic
  (TopicDisallowed), and responses honour the client's flow-control windows (h2server).

Run alone (for benchmarks):
`python -m gateway.sandbox.apns --port 8443 [--tls-cert C --tls-key K] --key kid:team:pubkey.pem`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import time
import uuid
from typing import Any

import jwt
import msgspec

from gateway.sandbox.h2server import H2Server, Reply, Request, peer_certificate, server_ssl_context

DEFAULT_SCRIPT: dict[str, tuple[int, str]] = {
    "gone": (410, "Unregistered"),
    "bad": (400, "BadDeviceToken"),
    "nottopic": (400, "DeviceTokenNotForTopic"),
    "busy": (429, "TooManyRequests"),
    "down": (503, "ServiceUnavailable"),
    "shutdown": (503, "Shutdown"),
    "oops": (500, "InternalServerError"),
    "expired": (403, "ExpiredProviderToken"),
    "forbidden": (403, "Forbidden"),
    "big": (413, "PayloadTooLarge"),
}
_PUSH_TYPES = {b"alert", b"background", b"voip", b"complication", b"fileprovider", b"mdm", b"location",
               b"liveactivity", b"pushtotalk", b"controls", b"widgets"}
_encode = msgspec.json.Encoder().encode
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){1,100}\Z")


class Delivery(msgspec.Struct):
    """One accepted push, as recorded when `record=True`."""

    token: str
    apns_id: str
    headers: dict[str, str]
    payload: bytes


class ApnsSandbox:
    """The APNs sandbox server. `keys` maps key id → (team id, PEM public key)."""

    def __init__(self, keys: dict[str, tuple[str, str]] | None = None, *, initial_streams: int = 1,
                 max_streams: int = 1000, record: bool = True, require_auth: bool = True,
                 topics: set[str] | None = None, large: dict[str, int] | None = None) -> None:
        self.keys = dict(keys or {})
        self.server = H2Server(self.handle, initial_streams=initial_streams, max_streams=max_streams)
        self.script: dict[str, tuple[int, str]] = dict(DEFAULT_SCRIPT)
        self.topics = topics  # None: any apns-topic
        self.large: dict[str, int] = dict(large or {})
        self.retry_after: str | None = None  # sent with 429/503 answers when set
        self.reject_issued_before: float = 0.0
        self.require_auth = require_auth
        self.record = record
        self.deliveries: list[Delivery] = []
        self.ids: collections.Counter[str] = collections.Counter()
        self.accepted = 0
        self.answers: collections.Counter[str] = collections.Counter()
        self.tokens_seen: dict[str, list[int]] = {}  # team → iat of every distinct token seen
        self._verified: dict[bytes, tuple[str, int] | str] = {}
        self._last_token: dict[str, tuple[bytes, float]] = {}

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, certfile: str | None = None,
                    keyfile: str | None = None, client_ca: str | None = None) -> ApnsSandbox:
        ctx = server_ssl_context(certfile, keyfile, client_ca=client_ca) if certfile else None
        await self.server.start(host, port, ctx)
        return self

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def aclose(self) -> None:
        await self.server.aclose()

    # -- the handler ------------------------------------------------------------------------------------------

    def _fail(self, status: int, reason: str, apns_id: bytes, authed: bool = False, **extra: Any) -> Reply:
        self.answers[reason] += 1
        headers = [(b"apns-id", apns_id), (b"content-type", b"application/json")]
        if self.retry_after is not None and status in (429, 503):
            headers.append((b"retry-after", self.retry_after.encode()))
        return status, headers, _encode({"reason": reason, **extra}), authed

    def _check_jwt(self, auth: bytes | None) -> str | None:
        """None when the token is good, else the APNs reason."""
        if not auth:
            return "MissingProviderToken"
        if not auth.lower().startswith(b"bearer "):
            return "InvalidProviderToken"
        raw = auth[7:]
        cached = self._verified.get(raw)
        if cached is None:
            cached = self._verify(raw.decode(errors="replace"))
            self._verified[raw] = cached
        if isinstance(cached, str):
            return cached
        team, iat = cached
        now = time.time()
        if now - iat > 3600 or iat < self.reject_issued_before:
            return "ExpiredProviderToken"
        last = self._last_token.get(team)
        if last is None or last[0] != raw:
            if last is not None and iat - last[1] < 20 * 60:
                return "TooManyProviderTokenUpdates"
            self._last_token[team] = (raw, float(iat))
            self.tokens_seen.setdefault(team, []).append(iat)
        return None

    def _verify(self, token: str) -> tuple[str, int] | str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if header.get("alg") != "ES256":
            return "InvalidProviderToken"
        key = self.keys.get(str(header.get("kid")))
        if key is None:
            return "InvalidProviderToken"
        team, pem = key
        try:
            claims = jwt.decode(token, pem, algorithms=["ES256"], options={"verify_iat": False})
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if claims.get("iss") != team or not isinstance(claims.get("iat"), int):
            return "InvalidProviderToken"
        return team, claims["iat"]

    def handle(self, req: Request) -> Reply:
        h = req.headers
        apns_id = h.get(b"apns-id") or str(uuid.uuid4()).encode()
        if req.method != b"POST":
            return self._fail(405, "MethodNotAllowed", apns_id)
        path = req.path
        if not path.startswith(b"/3/device/"):
            return self._fail(404, "BadPath", apns_id)
        token = path[10:].decode(errors="replace")
        if not token:
            return self._fail(400, "MissingDeviceToken", apns_id)
        if req.duplicated:
            return self._fail(400, "DuplicateHeaders", apns_id)
        if self.require_auth and peer_certificate(req) is None:
            reason = self._check_jwt(h.get(b"authorization"))
            if reason is not None:
                status = 429 if reason == "TooManyProviderTokenUpdates" else 403
                return self._fail(status, reason, apns_id)
        # From here on the request carried a valid token: the connection's stream limit rises whatever the answer.
        if b"apns-id" in h and not _UUID.match(apns_id):
            return self._fail(400, "BadMessageId", apns_id, True)
        topic = h.get(b"apns-topic")
        if topic is None:
            return self._fail(400, "MissingTopic", apns_id, True)
        if self.topics is not None and topic.decode(errors="replace") not in self.topics:
            return self._fail(400, "TopicDisallowed", apns_id, True)
        push_type = h.get(b"apns-push-type")
        if push_type is not None and push_type not in _PUSH_TYPES:
            return self._fail(400, "InvalidPushType", apns_id, True)
        if h.get(b"apns-priority", b"10") not in (b"10", b"5", b"1"):
            return self._fail(400, "BadPriority", apns_id, True)
        exp = h.get(b"apns-expiration")
        if exp is not None and not exp.isdigit():
            return self._fail(400, "BadExpirationDate", apns_id, True)
        collapse = h.get(b"apns-collapse-id")
        if collapse is not None and len(collapse) > 64:
            return self._fail(400, "BadCollapseId", apns_id, True)
        body = req.body
        if not body:
            return self._fail(400, "PayloadEmpty", apns_id, True)
        if len(body) > (5120 if push_type == b"voip" else 4096):
            return self._fail(413, "PayloadTooLarge", apns_id, True)
        padding = self.large.get(token)
        if padding is not None:
            return self._fail(410, "Unregistered", apns_id, True, timestamp=int(time.time() * 1000),
                              padding="x" * padding)
        for prefix, (status, reason) in self.script.items():
            if token.startswith(prefix):
                if status == 410:
                    return self._fail(status, reason, apns_id, True, timestamp=int(time.time() * 1000))
                return self._fail(status, reason, apns_id, True)
        if not _TOKEN.match(token):
            return self._fail(400, "BadDeviceToken", apns_id, True)
        self.accepted += 1
        if self.record:
            sid = apns_id.decode()
            self.ids[sid] += 1
            self.deliveries.append(Delivery(
                token=token, apns_id=sid, payload=body,
                headers={k.decode(): v.decode() for k, v in h.items() if not k.startswith(b":")},
            ))
        return 200, [(b"apns-id", apns_id)], b"", True


async def _main() -> None:
    ap = argparse.ArgumentParser(description="sandbox APNs server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--key", action="append", default=[], help="kid:team:path-to-public-key.pem")
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--max-streams", type=int, default=1000)
    args = ap.parse_args()
    keys = {}
    for spec in args.key:
        kid, team, path = spec.split(":", 2)
        with open(path) as f:
            keys[kid] = (team, f.read())
    sb = ApnsSandbox(keys, record=False, require_auth=not args.no_auth, max_streams=args.max_streams)
    await sb.start(args.host, args.port, certfile=args.tls_cert, keyfile=args.tls_key)
    print(f"READY {sb.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(_main())
