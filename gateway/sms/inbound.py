"""The inbound webhook: delivery receipts and incoming messages from HTTP SMS/voice providers (aiohttp.web).

Routes (bodies are Twilio-style forms or JSON):

* `POST /sms/inbound/{app}`: an incoming message. Form `From`, `To`, `Body`, `MessageSid` (Twilio) or JSON
  `originationNumber`, `destinationNumber`, `messageBody`, `inboundMessageId` (Pinpoint's SNS payload).
  Handed to :class:`gateway.sms.keywords.KeywordHandler`.
* `POST /sms/status?app=<app>&mid=<message id>`: an SMS receipt (the channel put app and mid into the
  StatusCallback URL it gave the provider). Form `MessageSid`, `MessageStatus`, `ErrorCode`, `To`, `From`
  or JSON `message_id`, `status`, `error_code`, `to`, `from` -> `_SMS.SUCCESS` / `_SMS.BUFFERED` /
  `_SMS.FAILURE` event with Pinpoint's record_status; ErrorCode 21610 also opts the number out.
* `POST /voice/status?app=..&mid=..`: a voice receipt (`CallStatus`) -> `_VOICE.<STATUS>` event.

Every request is authenticated first, over the raw body and the request target that names the application
(`hmac`, `basic` or `twilio`, see :mod:`gateway.sms.webhook_auth`); nothing is parsed before that except, in
`twilio` mode, the form whose parameters the signature covers (an unparseable one is a 401). A signed request
is then claimed once per application in Redis (`gw:{app}:webhook-seen:<id>`, for `replay_window_s`: the
`webhook-id` in `hmac` mode, a hash of the signature in `twilio` mode), so a replay is refused; if handling the
request fails, the claim is released so the provider's retry is not mistaken for one.
Malformed or unknown input (JSON values that are not scalars, however deeply nested) is answered 400 with the
reason; bad credentials 401. Nothing is accepted and then dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

import msgspec
from aiohttp import web

from gateway import keys
from gateway.sms import events, webhook_auth
from gateway.sms.events import EventSink
from gateway.sms.keywords import InboundMessage, KeywordHandler
from gateway.sms.optouts import OptOutStore

log = logging.getLogger(__name__)

_APP_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_BODY = 64 * 1024


class InboundConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How providers authenticate to the webhook. Secrets are read from the environment variables named here."""

    auth: Literal["hmac", "basic", "twilio"] = "hmac"
    secret_envs: list[str] = []  # hmac: one or more (rotation); twilio: the auth token(s), tried in turn
    username: str | None = None  # basic
    password_env: str | None = None  # basic
    public_url: str | None = None  # twilio: the URL Twilio calls (scheme://host[:port]), signatures cover it
    # hmac: a signed webhook-id, twilio: a signed request, is refused as a replay for this long (per application)
    replay_window_s: int = 600


# Twilio MessageStatus -> (event type, record_status).
_SMS_STATUS: dict[str, tuple[str, str]] = {
    "accepted": (events.SMS_BUFFERED, "PENDING"),
    "scheduled": (events.SMS_BUFFERED, "PENDING"),
    "queued": (events.SMS_BUFFERED, "PENDING"),
    "sending": (events.SMS_BUFFERED, "PENDING"),
    "sent": (events.SMS_SUCCESS, "SUCCESSFUL"),
    "delivered": (events.SMS_SUCCESS, "DELIVERED"),
    "undelivered": (events.SMS_FAILURE, "UNKNOWN"),
    "failed": (events.SMS_FAILURE, "UNKNOWN"),
    "canceled": (events.SMS_FAILURE, "UNKNOWN"),
}
# Twilio delivery ErrorCode -> Pinpoint record_status.
_SMS_ERRORS = {
    "30001": "UNKNOWN",  # queue overflow
    "30002": "BLOCKED",  # account suspended
    "30003": "UNREACHABLE",  # unreachable destination handset
    "30004": "BLOCKED",  # message blocked
    "30005": "INVALID",  # unknown destination handset
    "30006": "INVALID",  # landline or unreachable carrier
    "30007": "SPAM",  # carrier violation / filtered
    "30008": "UNKNOWN",
    "30022": "MAX_PRICE_EXCEEDED",
    "30034": "CARRIER_BLOCKED",  # unregistered 10DLC
    "21610": "OPTED_OUT",
}
_VOICE_STATUS = {"queued", "initiated", "ringing", "in-progress", "answered", "completed", "busy", "no-answer",
                 "failed", "canceled"}


def sms_receipt_event(app: str, message_id: str | None, fields: Mapping[str, str]) -> dict[str, Any]:
    """The event record for one SMS receipt (sans-I/O). Raises ValueError for an unknown status."""
    status = (fields.get("MessageStatus") or fields.get("status") or "").lower()
    if status not in _SMS_STATUS:
        raise ValueError(f"unknown message status {status[:32]!r}")
    event_type, record_status = _SMS_STATUS[status]
    code = fields.get("ErrorCode") or fields.get("error_code") or None
    if event_type == events.SMS_FAILURE and code:
        record_status = _SMS_ERRORS.get(code, "UNKNOWN")
    return events.record(event_type, app, {
        "message_id": message_id,
        "provider_message_id": fields.get("MessageSid") or fields.get("message_id"),
        "destination_phone_number": fields.get("To") or fields.get("to"),
        "origination_phone_number": fields.get("From") or fields.get("from"),
        "record_status": record_status,
        "provider_status": status,
        "provider_error_code": code,
    })


def voice_receipt_event(app: str, message_id: str | None, fields: Mapping[str, str]) -> dict[str, Any]:
    status = (fields.get("CallStatus") or fields.get("status") or "").lower()
    if status not in _VOICE_STATUS:
        raise ValueError(f"unknown call status {status[:32]!r}")
    name = status.replace("-", "_").upper()
    return events.record(f"_VOICE.{name}", app, {
        "message_id": message_id,
        "provider_message_id": fields.get("CallSid") or fields.get("message_id"),
        "destination_phone_number": fields.get("To") or fields.get("to"),
        "origination_phone_number": fields.get("From") or fields.get("from"),
        "record_status": name,
    })


_JSON_FIELDS = msgspec.json.Decoder(dict[str, str | int | float | bool | None])
_FORM_TYPES = ("application/x-www-form-urlencoded", "")


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The pairs of a urlencoded form; ValueError (or UnicodeDecodeError) if it is not one."""
    return urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))


def _parse_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of an authenticated body (sans-I/O): a form, or a JSON object of scalars. ValueError (msgspec's
    DecodeError is one) if it is neither; a nested value is refused by type, before any recursion."""
    if content_type == "application/json":
        data = _JSON_FIELDS.decode(body)
        return {k: "" if v is None else str(v) for k, v in data.items()}
    if content_type in _FORM_TYPES:
        return dict(_form_pairs(body))
    raise ValueError(f"unsupported content type {content_type[:64]!r}")


def _claim_id(signature: str) -> str:
    # Twilio's signature is the only per-request value it signs on every route; a fixed-length digest keeps keys short.
    return "twilio:" + hashlib.sha256(signature.encode()).hexdigest()[:32]


class InboundWebhook:
    """The webhook application. `clock` returns Unix seconds (mocked in tests)."""

    def __init__(self, config: InboundConfig, keywords: KeywordHandler, sink: EventSink, redis: Any,
                 *, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        env = os.environ if environ is None else environ
        self.config = config
        self._keywords = keywords
        self._sink = sink
        self._redis = redis
        self._optouts = OptOutStore(redis)
        self._clock = clock
        self._secrets = [env[n] for n in config.secret_envs if env.get(n)]
        self._password = env.get(config.password_env, "") if config.password_env else ""
        if config.auth in ("hmac", "twilio") and not self._secrets:
            raise webhook_auth.WebhookAuthError(f"inbound auth {config.auth!r} needs secret_envs that are set")
        if config.auth == "basic" and (not config.username or not self._password):
            raise webhook_auth.WebhookAuthError("inbound auth 'basic' needs username and password_env")

    def app(self) -> web.Application:
        application = web.Application(client_max_size=MAX_BODY)
        application.router.add_post("/sms/inbound/{app}", self._inbound)
        application.router.add_post("/sms/status", self._sms_status)
        application.router.add_post("/voice/status", self._voice_status)
        return application

    async def _authenticate(self, request: web.Request, body: bytes) -> tuple[str | None, dict[str, str] | None]:
        """Raise WebhookAuthError unless the request is authentic. Returns the id to claim against replays (None
        for `basic`) and, in `twilio` mode, the form fields the signature covered (None otherwise)."""
        cfg = self.config
        if cfg.auth == "basic":
            webhook_auth.verify_basic(cfg.username or "", self._password, request.headers.get("Authorization"))
            return None, None
        if cfg.auth == "hmac":
            return webhook_auth.verify_hmac(self._secrets, request.headers, request.raw_path, body, self._clock()), None
        # twilio: the URL Twilio requested, raw as sent (Twilio signs it as configured, percent-encoding included).
        base = cfg.public_url.rstrip("/") if cfg.public_url else f"{request.scheme}://{request.host}"
        url = base + request.raw_path
        signature = request.headers.get("X-Twilio-Signature")
        if request.content_type in _FORM_TYPES and webhook_auth.twilio_body_hash(url) is None:
            try:
                pairs = _form_pairs(body)
            except ValueError:  # UnicodeDecodeError is one
                raise webhook_auth.WebhookAuthError("cannot verify X-Twilio-Signature: the body is not a form") from None
            webhook_auth.verify_twilio(self._secrets, url, pairs, signature)
            return _claim_id(signature or ""), dict(pairs)
        webhook_auth.verify_twilio(self._secrets, url, (), signature, body=body)
        return _claim_id(signature or ""), None

    @contextlib.asynccontextmanager
    async def _accepted(self, request: web.Request, app: str) -> AsyncIterator[dict[str, str]]:
        """Authenticate, claim against replays, parse; yields the fields. A failure inside the block releases the
        claim (the provider's retry of a request we failed to handle is not a replay)."""
        if not _APP_ID.match(app):
            raise web.HTTPBadRequest(text="invalid application id")
        body = await request.read()
        try:
            claim, fields = await self._authenticate(request, body)
        except webhook_auth.WebhookAuthError as exc:
            log.warning("inbound webhook %s refused: %s", request.path, exc)
            raise web.HTTPUnauthorized(text=str(exc)) from None
        key = None
        if claim is not None:
            # Per application: the signature already binds the application, the claim keeps each request single-use.
            key = keys.app_key(app, "webhook-seen", claim[:128])
            if not await self._redis.set(key, b"1", nx=True, ex=self.config.replay_window_s):
                log.warning("inbound webhook %s refused: already seen (replay)", request.path)
                raise web.HTTPUnauthorized(text="webhook already seen (replay)")
        try:
            if fields is None:
                try:
                    fields = _parse_fields(request.content_type, body)
                except (ValueError, RecursionError) as exc:
                    raise web.HTTPBadRequest(text=f"malformed body: {exc}") from None
            yield fields
        except Exception:
            if key is not None:
                await self._redis.delete(key)
            raise

    async def _inbound(self, request: web.Request) -> web.Response:
        app = request.match_info["app"]
        async with self._accepted(request, app) as f:
            return await self._incoming(app, f)

    async def _incoming(self, app: str, f: dict[str, str]) -> web.Response:
        sender = f.get("From") or f.get("originationNumber")
        ours = f.get("To") or f.get("destinationNumber")
        text = f.get("Body") if "Body" in f else f.get("messageBody")
        if not sender or not ours or text is None:
            raise web.HTTPBadRequest(text="incoming message needs From/To/Body (or originationNumber/"
                                          "destinationNumber/messageBody)")
        msg = InboundMessage(app=app, origination_number=sender, destination_number=ours, body=text,
                             inbound_message_id=f.get("MessageSid") or f.get("inboundMessageId"), source="http")
        action = await self._keywords.handle(msg)
        return web.json_response({"status": "ok", "action": action.value})

    async def _sms_status(self, request: web.Request) -> web.Response:
        app = request.query.get("app", "")
        async with self._accepted(request, app) as f:
            return await self._sms_receipt(request, app, f)

    async def _sms_receipt(self, request: web.Request, app: str, f: dict[str, str]) -> web.Response:
        try:
            record = sms_receipt_event(app, request.query.get("mid"), f)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if record["attributes"]["record_status"] == "OPTED_OUT" and record["attributes"].get(
                "destination_phone_number"):
            await self._optouts.opt_out(app, record["attributes"]["destination_phone_number"], source="provider",
                                        detail="receipt 21610")
        await self._sink(record)
        return web.json_response({"status": "ok"})

    async def _voice_status(self, request: web.Request) -> web.Response:
        app = request.query.get("app", "")
        async with self._accepted(request, app) as f:
            return await self._voice_receipt(request, app, f)

    async def _voice_receipt(self, request: web.Request, app: str, f: dict[str, str]) -> web.Response:
        try:
            record = voice_receipt_event(app, request.query.get("mid"), f)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        await self._sink(record)
        return web.json_response({"status": "ok"})
