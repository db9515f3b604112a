"""FCM HTTP v1 over HTTP/2: channel type GCM.

`POST {send_url}/v1/projects/{project}/messages:send` with an OAuth2 access token from the service account
(RS256 assertion to `token_url`, over the same HTTP/2 client). One pool per origin is shared by every
application; tokens are per service account. FCM error codes are mapped once, in :func:`map_error`.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import msgspec

from gateway import errors
from gateway.channels import http2, push_common
from gateway.channels.base import Delivered, Outbound, Runtime
from gateway.channels.push_auth import Clock, FcmTokens, LoopClock, ServiceAccount, parse_service_account
from gateway.channels.push_payload import GCM as FAMILY
from gateway.channels.push_payload import FcmContent, compose_gcm
from gateway.config import FcmChannelConfig
from gateway.metrics.core import PoolUse, h2_pool_use

__all__ = ["FAMILY", "FcmChannel", "compose_gcm", "create", "map_error"]

#: FCM answers 429 without Retry-After under overload too: back the project off this long then.
PROJECT_BACKOFF_S = 30.0


class _Detail(msgspec.Struct):
    errorCode: str | None = None


class _Error(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[_Detail] = []


class _ErrorReply(msgspec.Struct):
    error: _Error = msgspec.field(default_factory=_Error)


class _Ok(msgspec.Struct):
    name: str = ""


_decode_error = msgspec.json.Decoder(_ErrorReply).decode
_decode_ok = msgspec.json.Decoder(_Ok).decode


def parse_error(body: bytes) -> tuple[str, str]:
    """(errorCode or status, message) of a Google error body; ("", "") when it is not one."""
    try:
        err = _decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", ""
    code = next((d.errorCode for d in err.details if d.errorCode), None)
    return code or err.status, err.message


def map_error(status: int, code: str, message: str, retry_after: float | None) -> errors.DeliveryError:
    """An FCM error as a gateway error (protocols-and-reliability.md §4). `deactivate=True` marks a token that
    is dead for this project (UNREGISTERED, SENDER_ID_MISMATCH, INVALID_ARGUMENT about the token)."""
    text = f"FCM {status} {code}".strip()
    token_invalid = code == "INVALID_ARGUMENT" and "registration token" in message.lower()
    if code in ("UNREGISTERED", "SENDER_ID_MISMATCH") or token_invalid or (status == 404 and not code):
        return errors.RecipientRejected(text, code=status, detail=code or "UNREGISTERED", deactivate=True)
    if status == 429 or code in ("QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"):
        return errors.Throttled(text, code=status, detail=code or "QUOTA_EXCEEDED", retry_after=retry_after)
    if status >= 500 or code in ("UNAVAILABLE", "INTERNAL"):
        return errors.ProviderUnavailable(text, code=status, detail=code, retry_after=retry_after)
    if status in (401, 403) or code in ("THIRD_PARTY_AUTH_ERROR", "PERMISSION_DENIED", "UNAUTHENTICATED"):
        return errors.AuthFailed(text, code=status, detail=code)
    if status == 404:
        return errors.AuthFailed(text, code=status, detail=code)  # project not found: configuration
    return errors.ContentRejected(text, code=status, detail=code or "INVALID_ARGUMENT")


class _Account:
    __slots__ = ("path", "tokens")

    def __init__(self, tokens: FcmTokens, path: bytes) -> None:
        self.tokens = tokens
        self.path = path


class FcmChannel:
    """The FCM channel (see the module docstring)."""

    channel_types: ClassVar[frozenset[str]] = frozenset({"GCM"})

    def __init__(self, cfg: FcmChannelConfig, runtime: Runtime | None, *, credentials: Any = None,
                 clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.store = credentials if credentials is not None else (runtime.credentials if runtime else None)
        self.clock = clock or LoopClock()
        self.send_origin = push_common.Origin(cfg.send_url)
        self.token_origin = push_common.Origin(cfg.token_url)
        self._send_pool: http2.Pool | None = None
        self._token_pool: http2.Pool | None = None
        self.accounts: dict[str, _Account] = {}
        self.project_backoff = push_common.Backoff()
        self._creds = push_common.CredentialCache(cfg.credentials_ttl_s, self.clock.monotonic)
        self._default: ServiceAccount | None = None
        self._default_account: _Account | None = None
        if cfg.service_account_file:
            try:
                with open(cfg.service_account_file) as f:
                    self._default = parse_service_account(f.read())
            except OSError as exc:
                raise errors.ConfigError(
                    f"fcm channel {cfg.name}: cannot read service_account_file: {exc.strerror}") from None

    async def start(self) -> None:
        """Pools connect on first use."""

    def pool_use(self) -> list[PoolUse]:
        """The HTTP/2 send pool's use, once it is open (for /metrics)."""
        return [h2_pool_use(self.cfg.send_url, self._send_pool)] if self._send_pool is not None else []

    async def aclose(self) -> None:
        for pool in (self._send_pool, self._token_pool):
            if pool is not None:
                await pool.aclose()
        self._send_pool = self._token_pool = None

    async def send(self, msg: Outbound[FcmContent]) -> Delivered:
        content: FcmContent = msg.content
        account = await self._account(msg.app)
        if self.project_backoff:
            self.project_backoff.check(account.path, self.clock.monotonic(), "this FCM project")
        pool = self._send_pool
        if pool is None:
            pool = self._send_pool = push_common.make_pool(self.cfg, self.send_origin)
        token = await account.tokens.token()
        for attempt in (0, 1):
            headers = [(b"authorization", b"Bearer " + token.encode()), (b"content-type", b"application/json")]
            resp = await pool.request(account.path, headers, content.body)
            if resp.status == 200:
                try:
                    name = _decode_ok(resp.body).name
                except (msgspec.DecodeError, msgspec.ValidationError):
                    name = ""
                return Delivered(event_type=push_common.SUCCESS_EVENT, status_code=200, status_message="OK",
                                 provider_message_id=name or None)
            code, message = parse_error(resp.body)
            if resp.status == 401 and code != "THIRD_PARTY_AUTH_ERROR" and attempt == 0:
                token = await account.tokens.rejected(token)  # expired or revoked: refresh once
                continue
            break
        err = map_error(resp.status, code, message, push_common.retry_after(resp.header(b"retry-after")))
        if isinstance(err, errors.Throttled):
            self.project_backoff.hold(account.path, self.clock.monotonic(), err.retry_after or PROJECT_BACKOFF_S)
        elif isinstance(err, errors.TransientError) and err.retry_after:
            self.project_backoff.hold(account.path, self.clock.monotonic(), err.retry_after)
        raise err

    # -- internals --------------------------------------------------------------------------------------------

    async def _account(self, app: str) -> _Account:
        """The application's account (its stored ServiceJson, else the config's default), resolved once per
        credentials_ttl_s: a push costs one dict lookup, not a Redis read, a JSON parse or a key hash. A refusal
        (channel disabled, no ServiceJson, no project id) is cached as well, so it costs no Redis read per push."""
        store = self.store

        async def load() -> _Account | errors.AuthFailed | None:
            if store is None:
                return None
            creds = await store.gcm_credentials(app)
            if creds is None:
                return None
            if not creds.enabled:
                return errors.AuthFailed("the GCM channel of this application is disabled", detail="disabled")
            if not creds.service_json:
                return errors.AuthFailed("the GCM channel has only a legacy ApiKey; FCM HTTP v1 needs ServiceJson",
                                         detail="no service account")
            try:
                return self._account_for(parse_service_account(creds.service_json))
            except errors.AuthFailed as exc:
                return exc

        got = await self._creds.get(app, "GCM", load)
        if isinstance(got, errors.AuthFailed):
            raise errors.AuthFailed(got.message, detail=got.detail)  # a fresh one: a raised error keeps its frames
        if got is not None:
            return got
        if self._default_account is None:
            if self._default is None:
                raise errors.AuthFailed("no GCM channel credentials for this application", detail="no credentials")
            self._default_account = self._account_for(self._default)
        return self._default_account

    def _account_for(self, sa: ServiceAccount) -> _Account:
        """One _Account (token cache, send path) per service account key, kept across credential reloads."""
        key = sa.client_email + ":" + hashlib.sha256(sa.private_key.encode()).hexdigest()[:16]
        acct = self.accounts.get(key)
        if acct is None:
            project = self.cfg.project_id or sa.project_id
            if not project:
                raise errors.AuthFailed("FCM project id unknown: set project_id or use a service account with one",
                                        detail="no project")
            audience = self.cfg.token_audience or sa.token_uri or self.cfg.token_url
            path = f"{self.send_origin.base}/v1/projects/{project}/messages:send".encode()
            acct = self.accounts[key] = _Account(
                FcmTokens(sa, audience, self._post_token, self.clock, self.cfg.token_refresh_margin_s), path)
        return acct

    async def _post_token(self, body: bytes) -> tuple[int, bytes]:
        pool = self._token_pool
        if pool is None:
            pool = self._token_pool = push_common.make_pool(self.cfg, self.token_origin)
        path = (self.token_origin.base or "/").encode()
        resp = await pool.request(path, [(b"content-type", b"application/x-www-form-urlencoded")], body)
        return resp.status, resp.body


def create(
    cfg: FcmChannelConfig, runtime: Runtime, *, credentials: Any = None, clock: Clock | None = None
) -> FcmChannel:
    """The FCM channel for `cfg`; per-application ServiceJson from `credentials` or `runtime.credentials`, the
    config's service_account_file as the default."""
    return FcmChannel(cfg, runtime, credentials=credentials, clock=clock)
