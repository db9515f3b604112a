"""Channels: Get, Update and Delete for Email, Sms, Voice, Apns, ApnsSandbox, ApnsVoip, ApnsVoipSandbox, Gcm,
Adm and Baidu, and GetChannels.

Every request is checked by Pinpoint's per-channel rules first (`check_request`, naming the member). EMAIL, SMS
and VOICE carry no credentials: the API builds their public document (the model's XxxChannelResponse: Platform,
Version, dates...) and keeps it in `Services.channels`. The push channels go whole to `Services.push_channels`
(gateway/api/pushchannels.py over the encrypted credential store the worker reads), which merges the request
into the stored channel and answers the response shape, with HasCredential / HasTokenKey /
HasFcmServiceCredentials and never a credential.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast, get_args

import msgspec

from gateway import models
from gateway.api.appstore import now_iso
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, Registry
from gateway.api.services import ChannelKind, ChannelResponse, PushChannelKind, PushChannelService

registry = Registry()
operation = registry.operation

_PUSH_KINDS: frozenset[str] = frozenset(get_args(PushChannelKind))


class ChannelSpec:
    __slots__ = ("kind", "op", "push", "request", "response")

    def __init__(self, kind: ChannelKind, op: str, request: type[Any], response: type[Any]) -> None:
        self.kind = kind
        self.op = op
        self.request = request
        self.response = response
        self.push = kind in _PUSH_KINDS  # its credentials go to the encrypted push channel store


CHANNELS: dict[ChannelKind, ChannelSpec] = {
    s.kind: s
    for s in (
        ChannelSpec("EMAIL", "Email", models.EmailChannelRequest, models.EmailChannelResponse),
        ChannelSpec("SMS", "Sms", models.SMSChannelRequest, models.SMSChannelResponse),
        ChannelSpec("VOICE", "Voice", models.VoiceChannelRequest, models.VoiceChannelResponse),
        ChannelSpec("APNS", "Apns", models.APNSChannelRequest, models.APNSChannelResponse),
        ChannelSpec("APNS_SANDBOX", "ApnsSandbox", models.APNSSandboxChannelRequest, models.APNSSandboxChannelResponse),
        ChannelSpec("APNS_VOIP", "ApnsVoip", models.APNSVoipChannelRequest, models.APNSVoipChannelResponse),
        ChannelSpec(
            "APNS_VOIP_SANDBOX", "ApnsVoipSandbox", models.APNSVoipSandboxChannelRequest,
            models.APNSVoipSandboxChannelResponse,
        ),
        ChannelSpec("GCM", "Gcm", models.GCMChannelRequest, models.GCMChannelResponse),
        ChannelSpec("ADM", "Adm", models.ADMChannelRequest, models.ADMChannelResponse),
        ChannelSpec("BAIDU", "Baidu", models.BaiduChannelRequest, models.BaiduChannelResponse),
    )
}

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}$")


def check_request(kind: ChannelKind, req: Any, existing: bool = False) -> None:
    """Pinpoint's per-channel rules; the message names the member. `existing`: the application already has this
    channel, so a push request without credentials (e.g. `{"Enabled": false}`, as the Amplify CLI disables a
    channel) updates its settings and keeps the stored credentials; credentials given are still complete."""
    root = type(req).__name__
    if kind == "EMAIL":
        if not _EMAIL.match(req.FromAddress):
            raise BadRequest(f"{root}.FromAddress {req.FromAddress[:80]!r} is not an email address")
        if not req.Identity.strip():
            raise BadRequest(f"{root}.Identity must not be empty")
    elif kind == "SMS":
        if req.SenderId is not None and not _SENDER_ID.match(req.SenderId):
            raise BadRequest(f"{root}.SenderId must be 1 to 11 letters, digits or hyphens with at least one letter")
        if req.ShortCode is not None and not req.ShortCode.isdigit():
            raise BadRequest(f"{root}.ShortCode must be digits")
    elif kind.startswith("APNS"):
        cert = req.Certificate is not None or req.PrivateKey is not None
        token = any(getattr(req, f) is not None for f in ("TokenKey", "TokenKeyId", "TeamId", "BundleId"))
        if cert and not (req.Certificate and req.PrivateKey):
            raise BadRequest(f"{root}: certificate authentication needs both Certificate and PrivateKey")
        if token:
            missing = [f for f in ("TokenKey", "TokenKeyId", "TeamId", "BundleId") if not getattr(req, f)]
            if missing:
                raise BadRequest(f"{root}: token authentication needs {', '.join(missing)}")
        if not cert and not token and not existing:
            raise BadRequest(f"{root}: give Certificate and PrivateKey, or TokenKey, TokenKeyId, TeamId and BundleId")
        method = req.DefaultAuthenticationMethod
        if method is not None and method.upper() not in ("CERTIFICATE", "TOKEN"):
            raise BadRequest(f"{root}.DefaultAuthenticationMethod must be CERTIFICATE or TOKEN")
    elif kind == "GCM":
        if not req.ApiKey and not req.ServiceJson and not existing:
            raise BadRequest(f"{root}: give ServiceJson (FCM HTTP v1 service account) or ApiKey")
        if req.ServiceJson:
            try:
                doc = json.loads(req.ServiceJson)
            except ValueError:
                raise BadRequest(f"{root}.ServiceJson is not valid JSON") from None
            if not isinstance(doc, dict) or "private_key" not in doc or "client_email" not in doc:
                raise BadRequest(f"{root}.ServiceJson must be a service account key with private_key and client_email")
        method = req.DefaultAuthenticationMethod
        if method is not None and method.upper() not in ("KEY", "TOKEN"):
            raise BadRequest(f"{root}.DefaultAuthenticationMethod must be KEY or TOKEN")
    elif kind in ("ADM", "BAIDU"):
        for name in ("ClientId", "ClientSecret") if kind == "ADM" else ("ApiKey", "SecretKey"):
            if not getattr(req, name).strip():
                raise BadRequest(f"{root}.{name} must not be empty")


def split_request(spec: ChannelSpec, req: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(members the response echoes, credentials the response must never show)."""
    echoed = set(spec.response.__struct_fields__)
    public: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for name in req.__struct_fields__:
        value = getattr(req, name)
        if value is None:
            continue
        if name in echoed:
            public[name] = value
        else:
            secrets[name] = str(value)
    return public, secrets


def build_document(
    spec: ChannelSpec, app_id: str, req: Any, previous: ChannelResponse | None
) -> tuple[ChannelResponse, dict[str, str]]:
    """A plain channel's new public document, and the request members it does not echo (none for EMAIL, SMS and
    VOICE: the plain store refuses any, so a credential can never land there in clear text)."""
    public, secrets = split_request(spec, req)
    now = now_iso()
    fields: dict[str, Any] = {
        **public,
        "ApplicationId": app_id,
        "Platform": spec.kind,
        "Id": spec.kind.lower(),
        "CreationDate": previous.CreationDate if previous is not None else now,
        "LastModifiedDate": now,
        "Version": (previous.Version or 0) + 1 if previous is not None else 1,
        "IsArchived": False,
        "Enabled": req.Enabled if req.Enabled is not None else True,
    }
    doc: ChannelResponse = msgspec.convert(fields, spec.response)
    return doc, secrets


def _push_store(call: Call) -> PushChannelService:
    store = call.services.push_channels
    assert store is not None  # push operations are registered with needs=("push_channels",)
    return store


def _missing(call: Call, spec: ChannelSpec) -> NotFound:
    return NotFound(f"Application {call.app_id} has no {spec.kind} channel")


def _register_plain(spec: ChannelSpec) -> None:
    async def get(call: Call) -> ChannelResponse:
        doc = await call.services.channels.get_channel(call.app_id, spec.kind)
        if doc is None:
            raise _missing(call, spec)
        return doc

    async def update(call: Call) -> ChannelResponse:
        check_request(spec.kind, call.body)
        store = call.services.channels
        previous = await store.get_channel(call.app_id, spec.kind)
        doc, secrets = build_document(spec, call.app_id, call.body, previous)
        await store.put_channel(call.app_id, spec.kind, doc, secrets)
        return doc

    async def delete(call: Call) -> ChannelResponse:
        doc = await call.services.channels.delete_channel(call.app_id, spec.kind)
        if doc is None:
            raise _missing(call, spec)
        return doc

    operation(f"Get{spec.op}Channel")(get)
    operation(f"Update{spec.op}Channel")(update)
    operation(f"Delete{spec.op}Channel")(delete)


def _register_push(spec: ChannelSpec) -> None:
    kind = cast(PushChannelKind, spec.kind)  # _register_push is called for push specs only
    needs = ("push_channels",)

    async def get(call: Call) -> ChannelResponse:
        doc = await _push_store(call).get_channel(call.app_id, kind)
        if doc is None:
            raise _missing(call, spec)
        return doc

    async def update(call: Call) -> ChannelResponse:
        store = _push_store(call)
        previous = await store.get_channel(call.app_id, kind)
        check_request(spec.kind, call.body, existing=previous is not None)
        return await store.update_channel(call.app_id, kind, call.body)

    async def delete(call: Call) -> ChannelResponse:
        doc = await _push_store(call).delete_channel(call.app_id, kind)
        if doc is None:
            raise _missing(call, spec)
        return doc

    operation(f"Get{spec.op}Channel", needs=needs)(get)
    operation(f"Update{spec.op}Channel", needs=needs)(update)
    operation(f"Delete{spec.op}Channel", needs=needs)(delete)


for _spec in CHANNELS.values():
    (_register_push if _spec.push else _register_plain)(_spec)


@operation("GetChannels")
async def get_channels(call: Call) -> models.ChannelsResponse:
    found: dict[ChannelKind, ChannelResponse] = dict(await call.services.channels.list_channels(call.app_id))
    if call.services.push_channels is not None:
        found.update(await call.services.push_channels.list_channels(call.app_id))
    return models.ChannelsResponse(
        Channels={k: msgspec.convert(msgspec.to_builtins(v), models.ChannelResponse) for k, v in sorted(found.items())}
    )
