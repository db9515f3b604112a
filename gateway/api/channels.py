"""Channels: Get, Update and Delete for Email, Sms, Voice, Apns, ApnsSandbox, ApnsVoip, ApnsVoipSandbox, Gcm,
Adm and Baidu, and GetChannels.

The API builds each channel's public document (the model's XxxChannelResponse: Platform, Version, dates,
HasCredential...) and splits credentials off the request: every request member the response shape does not
echo (certificates, keys, API keys, service JSON, bundle and team ids) goes to the store's `secrets` map and is
never answered. EMAIL, SMS and VOICE settings go to `Services.channels`; the push channels go to
`Services.push_channels` (the encrypted credential store) and are served only where one is configured.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from gateway import models
from gateway.api.appstore import now_iso
from gateway.api.errors import BadRequest, NotFound
from gateway.api.registry import Call, operation
from gateway.api.services import ChannelKind, ChannelResponse, ChannelSettingsStore


class ChannelSpec:
    __slots__ = ("kind", "op", "push", "request", "response")

    def __init__(self, kind: ChannelKind, op: str, request: type[Any], response: type[Any], push: bool) -> None:
        self.kind = kind
        self.op = op
        self.request = request
        self.response = response
        self.push = push


CHANNELS: dict[ChannelKind, ChannelSpec] = {
    s.kind: s
    for s in (
        ChannelSpec("EMAIL", "Email", models.EmailChannelRequest, models.EmailChannelResponse, False),
        ChannelSpec("SMS", "Sms", models.SMSChannelRequest, models.SMSChannelResponse, False),
        ChannelSpec("VOICE", "Voice", models.VoiceChannelRequest, models.VoiceChannelResponse, False),
        ChannelSpec("APNS", "Apns", models.APNSChannelRequest, models.APNSChannelResponse, True),
        ChannelSpec(
            "APNS_SANDBOX", "ApnsSandbox", models.APNSSandboxChannelRequest, models.APNSSandboxChannelResponse, True
        ),
        ChannelSpec("APNS_VOIP", "ApnsVoip", models.APNSVoipChannelRequest, models.APNSVoipChannelResponse, True),
        ChannelSpec(
            "APNS_VOIP_SANDBOX", "ApnsVoipSandbox", models.APNSVoipSandboxChannelRequest,
            models.APNSVoipSandboxChannelResponse, True,
        ),
        ChannelSpec("GCM", "Gcm", models.GCMChannelRequest, models.GCMChannelResponse, True),
        ChannelSpec("ADM", "Adm", models.ADMChannelRequest, models.ADMChannelResponse, True),
        ChannelSpec("BAIDU", "Baidu", models.BaiduChannelRequest, models.BaiduChannelResponse, True),
    )
}

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}$")
_MASKED = "********"


def check_request(kind: ChannelKind, req: Any) -> None:
    """Pinpoint's per-channel rules; the message names the member."""
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
        if not cert and not token:
            raise BadRequest(f"{root}: give Certificate and PrivateKey, or TokenKey, TokenKeyId, TeamId and BundleId")
        method = req.DefaultAuthenticationMethod
        if method is not None and method.upper() not in ("CERTIFICATE", "TOKEN"):
            raise BadRequest(f"{root}.DefaultAuthenticationMethod must be CERTIFICATE or TOKEN")
    elif kind == "GCM":
        if not req.ApiKey and not req.ServiceJson:
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
    """The channel's new public document and the credentials to store with it."""
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
    if spec.push:
        fields["HasCredential"] = bool(secrets) or bool(previous is not None and previous.HasCredential)
    if spec.kind.startswith("APNS"):
        fields["HasTokenKey"] = req.TokenKey is not None or bool(
            previous is not None and getattr(previous, "HasTokenKey", False) and req.Certificate is None
        )
    if spec.kind == "GCM":
        fields["HasFcmServiceCredentials"] = req.ServiceJson is not None
        if req.ApiKey:
            fields["Credential"] = _MASKED
    if spec.kind == "BAIDU":
        fields["Credential"] = _MASKED
    doc: ChannelResponse = msgspec.convert(fields, spec.response)
    return doc, secrets


def _store(call: Call, spec: ChannelSpec) -> ChannelSettingsStore:
    store = call.services.push_channels if spec.push else call.services.channels
    assert store is not None  # operations are registered with needs=("push_channels",) for push kinds
    return store


def _register(spec: ChannelSpec) -> None:
    needs = ("push_channels",) if spec.push else ()

    async def get(call: Call) -> ChannelResponse:
        doc = await _store(call, spec).get_channel(call.app_id, spec.kind)
        if doc is None:
            raise NotFound(f"Application {call.app_id} has no {spec.kind} channel")
        return doc

    async def update(call: Call) -> ChannelResponse:
        check_request(spec.kind, call.body)
        store = _store(call, spec)
        previous = await store.get_channel(call.app_id, spec.kind)
        doc, secrets = build_document(spec, call.app_id, call.body, previous)
        await store.put_channel(call.app_id, spec.kind, doc, secrets)
        return doc

    async def delete(call: Call) -> ChannelResponse:
        doc = await _store(call, spec).delete_channel(call.app_id, spec.kind)
        if doc is None:
            raise NotFound(f"Application {call.app_id} has no {spec.kind} channel")
        return doc

    operation(f"Get{spec.op}Channel", needs=needs)(get)
    operation(f"Update{spec.op}Channel", needs=needs)(update)
    operation(f"Delete{spec.op}Channel", needs=needs)(delete)


for _spec in CHANNELS.values():
    _register(_spec)


@operation("GetChannels")
async def get_channels(call: Call) -> models.ChannelsResponse:
    found: dict[str, Any] = {}
    stores = [call.services.channels, call.services.push_channels]
    for store in stores:
        if store is not None:
            for kind, doc in (await store.list_channels(call.app_id)).items():
                found[kind] = doc
    return models.ChannelsResponse(
        Channels={k: msgspec.convert(msgspec.to_builtins(v), models.ChannelResponse) for k, v in sorted(found.items())}
    )
