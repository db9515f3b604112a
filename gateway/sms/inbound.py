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

Every request is authenticated first, over the raw body (`hmac`, `basic` or `twilio`, see
:mod:`gateway.sms.webhook_auth`); HMAC webhook ids are remembered for 10 minutes in Redis so a replay is refused.
Malformed or unknown input is answered 400 with the reason; nothing is accepted and then dropped.
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
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
    secret_envs: list[str] = []  # hmac: one or more (rotation); twilio: the auth token
    username: str | None = None  # basic
    password_env: str | None = None  # basic
    public_url: str | None = None  # twilio: the URL Twilio calls (scheme://host[:port]), signatures cover it
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


def _parse_fields(request: web.Request, body: bytes) -> tuple[dict[str, str], list[tuple[str, str]]]:
    ctype = request.content_type
    if ctype == "application/json":
        data = msgspec.json.decode(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        fields = {str(k): "" if v is None else str(v) for k, v in data.items()}
        return fields, list(fields.items())
    if ctype in ("application/x-www-form-urlencoded", ""):
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        return dict(pairs), pairs
    raise ValueError(f"unsupported content type {ctype[:64]!r}")


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

    async def _authenticate(self, request: web.Request, body: bytes, app: str,
                            pairs: Callable[[], list[tuple[str, str]]]) -> None:
        cfg = self.config
        if cfg.auth == "basic":
            webhook_auth.verify_basic(cfg.username or "", self._password, request.headers.get("Authorization"))
        elif cfg.auth == "twilio":
            base = cfg.public_url.rstrip("/") if cfg.public_url else f"{request.scheme}://{request.host}"
            webhook_auth.verify_twilio(self._secrets[0], base + request.path_qs, pairs(),
                                       request.headers.get("X-Twilio-Signature"))
        else:
            msg_id = webhook_auth.verify_hmac(self._secrets, request.headers, body, self._clock())
            fresh = await self._redis.set(keys.app_key(app, "webhook-seen", msg_id[:128]), b"1", nx=True,
                                          ex=cfg.replay_window_s)
            if not fresh:
                raise webhook_auth.WebhookAuthError("webhook-id already seen (replay)")

    async def _read(self, request: web.Request, app: str) -> dict[str, str]:
        if not _APP_ID.match(app):
            raise web.HTTPBadRequest(text="invalid application id")
        body = await request.read()
        parsed: tuple[dict[str, str], list[tuple[str, str]]] | None = None

        def pairs() -> list[tuple[str, str]]:
            nonlocal parsed
            if parsed is None:
                parsed = _parse_fields(request, body)
            return parsed[1]

        try:
            await self._authenticate(request, body, app, pairs)
        except webhook_auth.WebhookAuthError as exc:
            log.warning("inbound webhook %s refused: %s", request.path, exc)
            raise web.HTTPUnauthorized(text=str(exc)) from None
        try:
            if parsed is None:
                parsed = _parse_fields(request, body)
        except (ValueError, UnicodeDecodeError, msgspec.DecodeError) as exc:
            raise web.HTTPBadRequest(text=f"malformed body: {exc}") from None
        return parsed[0]

    async def _inbound(self, request: web.Request) -> web.Response:
        app = request.match_info["app"]
        f = await self._read(request, app)
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
        f = await self._read(request, app)
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
        f = await self._read(request, app)
        try:
            record = voice_receipt_event(app, request.query.get("mid"), f)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        await self._sink(record)
        return web.json_response({"status": "ok"})
