"""A sandbox FCM HTTP v1 server and OAuth2 token endpoint on one HTTP/2 listener (h2c or TLS with ALPN h2).

* `POST /token`: a service-account RS256 assertion (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`)
  verified against the registered accounts (client_email → PEM public key), audience and scope checked;
  answers an access token valid `token_lifetime` seconds.
* `POST /v1/projects/{project}/messages:send`: bearer token must be one we issued and not expired or revoked
  (else 401 UNAUTHENTICATED); the message's token picks a scripted error by prefix (`script`).

Run alone: `python -m gateway.sandbox.fcm --port 8444 --account email:pubkey.pem`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import secrets
import time
import urllib.parse
from typing import Any

import jwt
import msgspec

from gateway.sandbox.h2server import H2Server, Reply, Request, server_ssl_context

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
DEFAULT_SCRIPT: dict[str, tuple[int, str]] = {
    "gone": (404, "UNREGISTERED"),
    "bad": (400, "INVALID_ARGUMENT"),
    "mismatch": (403, "SENDER_ID_MISMATCH"),
    "busy": (429, "QUOTA_EXCEEDED"),
    "down": (503, "UNAVAILABLE"),
    "oops": (500, "INTERNAL"),
    "thirdparty": (401, "THIRD_PARTY_AUTH_ERROR"),
}
_encode = msgspec.json.Encoder().encode
_JSON = [(b"content-type", b"application/json; charset=UTF-8")]


class FcmSandbox:
    """The FCM sandbox. `accounts` maps client_email → PEM public key of the service account."""

    def __init__(self, accounts: dict[str, str] | None = None, *, audience: str | None = None,
                 token_lifetime: int = 3600, record: bool = True) -> None:
        self.accounts = dict(accounts or {})
        self.audience = audience  # required `aud`; None accepts any
        self.token_lifetime = token_lifetime
        self.server = H2Server(self.handle, initial_streams=100, max_streams=1000)
        self.script: dict[str, tuple[int, str]] = dict(DEFAULT_SCRIPT)
        self.retry_after: str | None = None
        self.record = record
        self.issued: dict[str, float] = {}  # access token → expiry (time.monotonic)
        self.token_requests = 0
        self.messages: list[dict[str, Any]] = []
        self.accepted = 0
        self.answers: collections.Counter[str] = collections.Counter()

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, certfile: str | None = None,
                    keyfile: str | None = None) -> FcmSandbox:
        ctx = server_ssl_context(certfile, keyfile) if certfile else None
        await self.server.start(host, port, ctx)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def aclose(self) -> None:
        await self.server.aclose()

    def revoke_tokens(self) -> None:
        """Every issued access token stops working: the next send answers 401."""
        self.issued.clear()

    @staticmethod
    def _error(status: int, message: str, code: str | None = None, extra: list[tuple[bytes, bytes]] | None = None,
               ) -> Reply:
        err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
        if code is not None:
            err["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
        return status, _JSON + (extra or []), _encode({"error": err}), False

    def handle(self, req: Request) -> Reply:
        if req.method != b"POST":
            return self._error(405, "method not allowed")
        path = req.path
        if path == b"/token":
            return self._token(req)
        if path.startswith(b"/v1/projects/") and path.endswith(b"/messages:send"):
            return self._send(req, path[13:-14].decode(errors="replace"))
        return self._error(404, "not found")

    def _token(self, req: Request) -> Reply:
        self.token_requests += 1
        form = urllib.parse.parse_qs(req.body.decode(errors="replace"))
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or "assertion" not in form:
            return 400, _JSON, _encode({"error": "unsupported_grant_type"}), False
        assertion = form["assertion"][0]
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            pem = self.accounts.get(str(claims.get("iss")))
            if pem is None:
                return 400, _JSON, _encode({"error": "invalid_grant", "error_description": "unknown iss"}), False
            jwt.decode(assertion, pem, algorithms=["RS256"], audience=self.audience,
                       options={"verify_aud": self.audience is not None})
        except jwt.PyJWTError as exc:
            return 400, _JSON, _encode({"error": "invalid_grant", "error_description": str(exc)}), False
        if SCOPE not in str(claims.get("scope", "")).split():
            return 400, _JSON, _encode({"error": "invalid_scope"}), False
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        self.issued[token] = time.monotonic() + self.token_lifetime
        return 200, _JSON, _encode({"access_token": token, "expires_in": self.token_lifetime,
                                    "token_type": "Bearer"}), False

    def _send(self, req: Request, project: str) -> Reply:
        auth = req.headers.get(b"authorization", b"")
        token = auth[7:].decode(errors="replace") if auth[:7].lower() == b"bearer " else ""
        exp = self.issued.get(token)
        if exp is None or exp < time.monotonic():
            self.answers["UNAUTHENTICATED"] += 1
            return self._error(401, "Request had invalid authentication credentials.")
        try:
            body = msgspec.json.decode(req.body)
            msg = body["message"]
            device = msg["token"]
        except (msgspec.DecodeError, KeyError, TypeError):
            self.answers["INVALID_ARGUMENT"] += 1
            return self._error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if not isinstance(device, str) or not device:
            return self._error(400, "The registration token is not a valid FCM registration token",
                               "INVALID_ARGUMENT")
        for prefix, (status, code) in self.script.items():
            if device.startswith(prefix):
                self.answers[code] += 1
                extra = [(b"retry-after", self.retry_after.encode())] if (
                    self.retry_after is not None and status in (429, 503)) else None
                text = "Requested entity was not found." if code == "UNREGISTERED" else f"scripted {code}"
                return self._error(status, text, code, extra)
        self.accepted += 1
        if self.record:
            self.messages.append(msg)
        name = f"projects/{project}/messages/{secrets.token_hex(8)}"
        return 200, _JSON, _encode({"name": name}), True


async def _main() -> None:
    ap = argparse.ArgumentParser(description="sandbox FCM server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--account", action="append", default=[], help="client_email:path-to-public-key.pem")
    args = ap.parse_args()
    accounts = {}
    for spec in args.account:
        email, path = spec.split(":", 1)
        with open(path) as f:
            accounts[email] = f.read()
    sb = FcmSandbox(accounts, record=False)
    await sb.start(args.host, args.port, certfile=args.tls_cert, keyfile=args.tls_key)
    print(f"READY {sb.server.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
