"""The HTTP provider engine shared by the HTTP SMS and voice channels.

Three layers:

* :func:`resolve` turns a channel config (plus an optional preset such as Twilio) into a :class:`Provider`: URL
  checked by the SSRF guard, compiled body field map, auth header, response mapping.
* :func:`classify` is sans-I/O: (status, Retry-After, body bytes) -> provider message id, or the one
  :mod:`gateway.errors` exception that status means. Every mapping lives here, once.
* :class:`ProviderClient` is the thin I/O shell: one pooled keep-alive aiohttp session per MessageType lane
  (TRANSACTIONAL, PROMOTIONAL), each with its own TCPConnector limit, so a promotional backlog queues on its own
  connector and never delays a transactional send. Transport errors are translated here, once.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver

from gateway.channels import urlguard
from gateway.channels.http_template import FieldMap, json_path
from gateway.config import HttpSmsChannelConfig, VoiceChannelConfig
from gateway.errors import (
    AuthFailed,
    ConfigError,
    ConnectError,
    ContentRejected,
    DeliveryError,
    MaybeSent,
    OptedOut,
    PermanentError,
    ProviderTimeout,
    ProviderUnavailable,
    RecipientRejected,
    Throttled,
    TransientError,
)
from gateway.metrics.core import PoolUse, connector_use
from gateway.ratelimit import RateLimiter

log = logging.getLogger(__name__)

ProviderConfig = HttpSmsChannelConfig | VoiceChannelConfig




# Twilio's documented REST error codes (twilio.com/docs/api/errors) that change what a 4xx means.
TWILIO_ERROR_CODES: dict[str, str] = {
    "21610": "opt_out",  # Attempt to send to unsubscribed recipient
    "21211": "recipient",  # Invalid 'To' phone number
    "21612": "recipient",  # 'To' number is not currently reachable via SMS
    "21614": "recipient",  # 'To' number is not a valid mobile number
    "21408": "recipient",  # Permission to send an SMS has not been enabled for the region
    "21606": "content",  # The 'From' phone number provided is not a valid message-capable number
    "21617": "content",  # The concatenated message body exceeds the 1600 character limit
    "21602": "content",  # Message body is required
    "20003": "auth",  # Authentication error
    "20429": "throttled",  # Too many requests
    "14107": "throttled",  # SMS send rate limit exceeded
    "20500": "unavailable",  # Internal server error
    "20503": "unavailable",  # Service unavailable
}

SMS_VARIABLES = frozenset(
    {"to", "from", "sender_id", "body", "message_id", "app", "message_type", "keyword", "entity_id",
     "template_id", "status_callback"}
)
VOICE_VARIABLES = frozenset(
    {"to", "from", "body", "text", "ssml", "language_code", "voice_id", "twiml", "message_id", "app",
     "message_type", "status_callback"}
)


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    """A resolved provider: every preset default applied, every string compiled and checked."""

    name: str
    url: str
    method: str
    form: bool
    fields: Any  # FieldMap (kept untyped so the Struct stays frozen-hashable)
    headers: dict[str, str]
    success_statuses: frozenset[int]
    message_id_path: str | None
    success_path: str | None
    success_values: frozenset[str]
    error_code_path: str | None
    error_message_path: str | None
    error_codes: dict[str, str]
    status_callback_url: str | None
    allow: tuple[Any, ...]


def _preset(cfg: ProviderConfig, voice: bool) -> dict[str, Any]:
    if cfg.preset != "twilio":
        return {}
    if not cfg.account_sid:
        raise ConfigError(f"channel {cfg.name}: preset 'twilio' needs account_sid")
    resource = "Calls" if voice else "Messages"
    fields = (
        {"To": "${to}", "From": "${from}", "Twiml": "${twiml}", "StatusCallback": "${status_callback}"}
        if voice
        else {"To": "${to}", "From": "${from}", "Body": "${body}", "StatusCallback": "${status_callback}"}
    )
    return {
        "url": f"{cfg.api_base.rstrip('/')}/2010-04-01/Accounts/{cfg.account_sid}/{resource}.json",
        "body_format": "form",
        "fields": fields,
        "message_id_path": "sid",
        "error_code_path": "code",
        "error_message_path": "message",
        "error_codes": TWILIO_ERROR_CODES,
        "username": cfg.account_sid,
    }


def _auth_headers(cfg: ProviderConfig, preset_username: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    auth = cfg.auth
    if auth.kind == "none":
        return {}
    if not auth.secret_env:
        raise ConfigError(f"channel {cfg.name}: auth.kind={auth.kind!r} needs auth.secret_env")
    secret = environ.get(auth.secret_env)
    if not secret:
        raise ConfigError(f"channel {cfg.name}: environment variable {auth.secret_env} (auth.secret_env) is not set")
    if auth.kind == "basic":
        user = auth.username or preset_username
        if not user:
            raise ConfigError(f"channel {cfg.name}: auth.kind='basic' needs auth.username")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    if auth.kind == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    return {auth.header_name: secret}


def resolve(cfg: ProviderConfig, *, voice: bool = False, environ: Mapping[str, str] | None = None) -> Provider:
    """Apply the preset, compile the field map, check the URLs with the SSRF guard, read the secret."""
    environ = os.environ if environ is None else environ
    pre = _preset(cfg, voice)
    url = cfg.url or pre.get("url")
    if not url:
        raise ConfigError(f"channel {cfg.name}: url is required (or a preset)")
    allow = urlguard.parse_networks(cfg.allow_networks)
    try:
        urlguard.check_url(url, allow_http=cfg.allow_http, allow=allow)
        if cfg.status_callback_url:
            urlguard.check_url(cfg.status_callback_url, allow_http=cfg.allow_http, allow=allow)
    except urlguard.BlockedAddress as exc:
        raise ConfigError(f"channel {cfg.name}: {exc}") from exc
    fields = cfg.fields or pre.get("fields")
    if not fields:
        raise ConfigError(f"channel {cfg.name}: fields (the request body map) are required without a preset")
    allowed = VOICE_VARIABLES if voice else SMS_VARIABLES
    body_format = cfg.body_format or pre.get("body_format") or "json"
    headers = {k: v for k, v in cfg.headers.items()}
    for k, v in headers.items():
        if "\r" in k or "\n" in k or "\r" in v or "\n" in v:
            raise ConfigError(f"channel {cfg.name}: header {k!r} contains CR or LF")
    headers.update(_auth_headers(cfg, pre.get("username"), environ))
    headers["Content-Type"] = "application/x-www-form-urlencoded" if body_format == "form" else "application/json"
    headers.setdefault("Accept", "application/json")
    codes = dict(pre.get("error_codes", {}))
    codes.update(cfg.error_codes)
    return Provider(
        name=cfg.name,
        url=url,
        method=cfg.method,
        form=body_format == "form",
        fields=FieldMap(fields, allowed, f"channel {cfg.name}: fields"),
        headers=headers,
        success_statuses=frozenset(cfg.success_statuses) or frozenset(range(200, 300)),
        message_id_path=cfg.message_id_path or pre.get("message_id_path"),
        success_path=cfg.success_path,
        success_values=frozenset(cfg.success_values),
        error_code_path=cfg.error_code_path or pre.get("error_code_path"),
        error_message_path=cfg.error_message_path or pre.get("error_message_path"),
        error_codes=codes,
        status_callback_url=cfg.status_callback_url,
        allow=allow,
    )


def encode_body(provider: Provider, values: Mapping[str, str | None]) -> bytes:
    """The request body for one message."""
    if provider.form:
        return urllib.parse.urlencode(provider.fields.render_flat(values)).encode("ascii")
    return msgspec.json.encode(provider.fields.render(values))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now  # wall clock: an HTTP-date is wall-clock time
    return max(0.0, when.timestamp() - now)


_ACTIONS: dict[str, type[DeliveryError]] = {
    "recipient": RecipientRejected,
    "content": ContentRejected,
    "auth": AuthFailed,
    "opt_out": OptedOut,
    "throttled": Throttled,
    "unavailable": ProviderUnavailable,
    "transient": TransientError,
}


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def classify(provider: Provider, status: int, retry_after: str | None, body: bytes) -> str | None:
    """Map one HTTP response: the provider message id on success, else raise the matching DeliveryError.

    Order: a provider error code listed in `error_codes` decides first (Twilio 21610 -> OptedOut even inside a
    400); then 429 -> Throttled and 503 -> ProviderUnavailable (with Retry-After); 401/403 -> AuthFailed;
    404/410 -> RecipientRejected; 413/415/422 -> ContentRejected; other 4xx -> PermanentError; 5xx and anything
    else unexpected -> ProviderUnavailable. A 2xx whose `success_path` does not hold a success value is a
    permanent rejection (providers that answer 200 with {"status": "error"}).
    """
    data = _decode(body)
    code_val = json_path(data, provider.error_code_path)
    code = None if code_val is None else str(code_val)
    msg_val = json_path(data, provider.error_message_path)
    detail = None if msg_val is None else str(msg_val)[:200]
    if status in provider.success_statuses:
        if provider.success_path is not None:
            ok = json_path(data, provider.success_path)
            if ok is None or str(ok) not in provider.success_values:
                cls = _ACTIONS.get(provider.error_codes.get(code or "", ""), PermanentError)
                raise cls(f"{provider.name}: provider answered {status} without success ({ok!r})",
                          code=status, detail=code or detail)
        mid = json_path(data, provider.message_id_path)
        return None if mid is None else str(mid)
    hint = parse_retry_after(retry_after)
    label = f"{provider.name}: HTTP {status}" + (f" code {code}" if code else "")
    action = provider.error_codes.get(code) if code else None
    if action is not None:
        raise _ACTIONS[action](label, code=status, detail=code if detail is None else f"{code}: {detail}",
                               retry_after=hint)
    detail = code if detail is None else (f"{code}: {detail}" if code else detail)
    if status == 429:
        raise Throttled(label, code=status, detail=detail, retry_after=hint)
    if status == 503:
        raise ProviderUnavailable(label, code=status, detail=detail, retry_after=hint)
    if status in (401, 403):
        raise AuthFailed(label, code=status, detail=detail)
    if status in (404, 410):
        raise RecipientRejected(label, code=status, detail=detail)
    if status in (413, 415, 422):
        raise ContentRejected(label, code=status, detail=detail)
    if status == 408:
        # The server says it timed out waiting for our request: it did not act on it.
        raise ProviderTimeout(label, code=status, detail=detail, retry_after=hint)
    if 400 <= status < 500:
        raise PermanentError(label, code=status, detail=detail)
    raise ProviderUnavailable(label, code=status, detail=detail, retry_after=hint)


class ProviderClient:
    """Pooled keep-alive sessions, one per MessageType lane, each with its own connection limit."""

    def __init__(self, provider: Provider, cfg: ProviderConfig, resolver: AbstractResolver | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.provider = provider
        self.limiter = limiter  # the channel's `rate_limit`, applied to every request
        self._resolver = resolver
        self._cfg = cfg
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._timeout = aiohttp.ClientTimeout(total=None, connect=cfg.connect_timeout_s, sock_read=cfg.read_timeout_s)

    async def start(self) -> None:
        for promotional, limit in ((False, self._cfg.transactional_connections),
                                   (True, self._cfg.promotional_connections)):
            conn = urlguard.guarded_connector(self.provider.allow, limit, self._cfg.keepalive_timeout_s,
                                              self._resolver)
            self._sessions[promotional] = aiohttp.ClientSession(
                connector=conn, timeout=self._timeout, headers=self.provider.headers, auto_decompress=True,
                skip_auto_headers=("User-Agent",), raise_for_status=False,
            )

    async def post(self, body: bytes, *, promotional: bool) -> str | None:
        """Send one request in the given lane; return the provider message id or raise a DeliveryError."""
        session = self._sessions.get(promotional)
        if session is None:
            raise ConfigError(f"channel {self.provider.name}: send before start()")
        p = self.provider
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            async with session.request(p.method, p.url, data=body, allow_redirects=False) as resp:
                payload = await resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except urlguard.BlockedAddress as exc:
            log.warning("channel %s: provider address refused: %s", p.name, exc)
            raise PermanentError(f"{p.name}: provider address refused by the SSRF guard", detail=str(exc)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise ProviderTimeout(f"{p.name}: connect timeout") from exc
        except aiohttp.SocketTimeoutError as exc:
            # The request was written; the provider may have accepted it.
            raise MaybeSent(f"{p.name}: no response within {self._cfg.read_timeout_s}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"{p.name}: cannot connect", detail=type(exc).__name__) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            raise MaybeSent(f"{p.name}: connection lost before the response", detail=type(exc).__name__) from exc
        except aiohttp.ClientResponseError as exc:
            raise MaybeSent(f"{p.name}: malformed response", detail=type(exc).__name__) from exc
        if 300 <= status < 400:
            raise PermanentError(f"{p.name}: provider redirected (HTTP {status}); redirects are not followed",
                                 code=status)
        return classify(p, status, retry_after, payload)

    def pool_use(self) -> list[PoolUse]:
        """Each MessageType lane's connector use (for /metrics)."""
        return [connector_use("promotional" if promotional else "transactional", s.connector)
                for promotional, s in self._sessions.items() if s.connector is not None]

    async def aclose(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()
