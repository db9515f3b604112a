"""Composers: Pinpoint push messages → APNs and FCM HTTP v1 request content (pure functions, no I/O).

Precedence, highest first (Pinpoint's): the recipient's overrides (TitleOverride, BodyOverride, RawContent),
the channel message (APNSMessage / GCMMessage), DefaultPushNotificationMessage, the template's channel part
(APNS / GCM), the template's Default part. RawContent overrides every content field.

APNs payload: `{"aps": {"alert": {"title", "body"}, "sound", "badge", "category", "thread-id",
"content-available" (SilentPush), "mutable-content" (MediaUrl)}, "data": {"pinpoint": {"deeplink" (Url, with
Action URL or DEEP_LINK), "jsonBody" (Data), <Context>}, "media": MediaUrl}}`.

FCM message: `notification` {title, body, image} unless SilentPush (then data-only), `android` {collapse_key,
priority, ttl, restricted_package_name, notification {sound, icon, click_action}}, and `data` carrying Data
plus the `pinpoint.*` keys Pinpoint's own GCM payloads carried (pinpoint.notification.title/body/silentPush,
pinpoint.url, pinpoint.deeplink, pinpoint.openApp, pinpoint.jsonBody, image URLs), so apps built with the
Amplify/Pinpoint SDK keep working.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from gateway import models
from gateway.channels import families
from gateway.channels.base import Composer, Family, Recipient, Render
from gateway.errors import ContentRejected

APNS_LIMIT = 4096
APNS_VOIP_LIMIT = 5120
FCM_LIMIT = 4096
COLLAPSE_ID_LIMIT = 64
VOIP_TYPES = frozenset({"APNS_VOIP", "APNS_VOIP_SANDBOX"})
PUSH_TYPES = frozenset({
    "alert", "background", "voip", "complication", "fileprovider", "mdm", "location", "liveactivity", "pushtotalk",
    "controls", "widgets",
})

_enc = msgspec.json.Encoder()
_encode = _enc.encode


class ApnsContent(msgspec.Struct, frozen=True, kw_only=True):
    """What the APNs channel sends: the JSON payload and the values of the apns-* headers."""

    payload: bytes
    push_type: str
    priority: int
    ttl: int | None = None  # seconds; None: no apns-expiration header; 0: deliver now or never
    collapse_id: str | None = None
    voip: bool = False


class FcmContent(msgspec.Struct, frozen=True, kw_only=True):
    """What the FCM channel sends: the whole HTTP v1 request body, token included."""

    body: bytes


def _r(render: Render, value: str | None) -> str | None:
    """Render `value`; text without a mustache renders to itself, so the template engine is skipped for it."""
    if value is None or "{{" not in value:
        return value
    return render(value)


# Stand-ins for absent message parts (never mutated): saves building empty structs per recipient.
_NO_APNS = models.APNSMessage()
_NO_GCM = models.GCMMessage()
_NO_DEFAULT = models.DefaultPushNotificationMessage()
_NO_APNS_T = models.APNSPushNotificationTemplate()
_NO_ANDROID_T = models.AndroidPushNotificationTemplate()
_NO_DEFAULT_T = models.DefaultPushNotificationTemplate()


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _parse_object(raw: str, what: str) -> dict[str, Any]:
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ContentRejected(f"{what} RawContent is not valid JSON", detail="RawContent") from exc
    if not isinstance(obj, dict):
        raise ContentRejected(f"{what} RawContent must be a JSON object", detail="RawContent")
    return obj


def _apns_priority(value: str | None, push_type: str) -> int:
    if push_type == "background":
        return 5  # Apple: priority 10 is an error for content-available-only pushes
    if value is None:
        return 10
    v = value.strip().lower()
    if v in ("10", "high"):
        return 10
    if v in ("5", "normal"):
        return 5
    if v == "1":
        return 1
    raise ContentRejected("APNSMessage.Priority must be 10, 5 or 1 (or high/normal)", detail="BadPriority")


def compose_apns(
    config: models.DirectMessageConfiguration,
    template: models.PushNotificationTemplateResponse | None,
    recipient: Recipient,
    render: Render,
) -> ApnsContent:
    """Build the APNs payload and header values for one recipient (see the module docstring for the mapping).

    Raises ContentRejected for content APNs would refuse: a bad RawContent, push type, priority or TTL, a
    collapse id over 64 bytes, or a payload over 4096 bytes (5120 for VoIP).
    """
    m = config.APNSMessage or _NO_APNS
    d = config.DefaultPushNotificationMessage or _NO_DEFAULT
    ta = template.APNS if template is not None and template.APNS is not None else _NO_APNS_T
    td = template.Default if template is not None and template.Default is not None else _NO_DEFAULT_T
    voip = recipient.channel_type in VOIP_TYPES
    raw = _first(recipient.raw_content, m.RawContent, ta.RawContent)
    silent = bool(_first(m.SilentPush, d.SilentPush, False))

    if raw is not None:
        rendered = _r(render, raw) or ""
        obj = _parse_object(rendered, "APNs")
        payload = rendered.encode()
        aps = obj.get("aps")
        if isinstance(aps, dict):
            silent = aps.get("content-available") == 1 and not ({"alert", "badge", "sound"} & aps.keys())
    else:
        title = _r(render, _first(recipient.title_override, m.Title, d.Title, ta.Title, td.Title))
        body = _r(render, _first(recipient.body_override, m.Body, d.Body, ta.Body, td.Body))
        url = _r(render, _first(m.Url, d.Url, ta.Url, td.Url))
        action = _first(m.Action, d.Action, ta.Action, td.Action)
        media = _r(render, _first(m.MediaUrl, ta.MediaUrl))
        sound = _first(m.Sound, ta.Sound, td.Sound)
        aps_out: dict[str, Any] = {}
        if silent:
            aps_out["content-available"] = 1  # a silent push may carry no alert, badge or sound
        else:
            alert: dict[str, str] = {}
            if title:
                alert["title"] = title
            if body:
                alert["body"] = body
            if alert:
                aps_out["alert"] = alert
            if sound:
                aps_out["sound"] = sound
            if m.Badge is not None:
                aps_out["badge"] = m.Badge
        if m.Category:
            aps_out["category"] = m.Category
        if m.ThreadId:
            aps_out["thread-id"] = m.ThreadId
        if media:
            aps_out["mutable-content"] = 1
        pinpoint: dict[str, Any] = dict(recipient.context)
        if url and action in ("URL", "DEEP_LINK"):
            pinpoint["deeplink"] = url
        data = _first(m.Data, d.Data)
        if data:
            pinpoint["jsonBody"] = data
        doc: dict[str, Any] = {"aps": aps_out}
        extra: dict[str, Any] = {}
        if pinpoint:
            extra["pinpoint"] = pinpoint
        if media:
            extra["media"] = media
        if extra:
            doc["data"] = extra
        payload = _encode(doc)

    if m.APNSPushType is not None:
        push_type = m.APNSPushType.strip().lower()
        if push_type not in PUSH_TYPES:
            raise ContentRejected("APNSMessage.APNSPushType is not an APNs push type", detail="InvalidPushType")
    elif voip:
        push_type = "voip"
    else:
        push_type = "background" if silent else "alert"
    priority = _apns_priority(m.Priority, push_type)
    if m.TimeToLive is not None and m.TimeToLive < 0:
        raise ContentRejected("APNSMessage.TimeToLive must be >= 0", detail="BadExpirationDate")
    if m.CollapseId is not None and len(m.CollapseId.encode()) > COLLAPSE_ID_LIMIT:
        raise ContentRejected("APNSMessage.CollapseId is longer than 64 bytes", detail="BadCollapseId")
    limit = APNS_VOIP_LIMIT if voip else APNS_LIMIT
    if len(payload) > limit:
        raise ContentRejected(
            f"APNs payload is {len(payload)} bytes, over the {limit}-byte limit", code=413, detail="PayloadTooLarge"
        )
    return ApnsContent(
        payload=payload, push_type=push_type, priority=priority, ttl=m.TimeToLive, collapse_id=m.CollapseId or None,
        voip=voip,
    )


# -- FCM ---------------------------------------------------------------------------------------------------------

_LEGACY_ANDROID = {"collapse_key": "collapse_key", "restricted_package_name": "restricted_package_name"}
_V1_NOTIFICATION = frozenset({"title", "body", "image"})


def _fcm_priority(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("high", "10"):
        return "HIGH"
    if v in ("normal", "5"):
        return "NORMAL"
    raise ContentRejected("GCMMessage.Priority must be high or normal (or 10/5)", detail="INVALID_ARGUMENT")


def _stringify(data: dict[str, Any]) -> dict[str, str]:
    """FCM data values must be strings: keep strings, JSON-encode the rest."""
    return {str(k): v if isinstance(v, str) else _encode(v).decode() for k, v in data.items()}


def _from_raw(obj: dict[str, Any]) -> dict[str, Any]:
    """A RawContent object as an FCM v1 message: `{"message": {...}}` or a bare v1 message pass through;
    legacy GCM keys (collapse_key, priority, time_to_live, restricted_package_name, notification extras) are
    translated to their v1 places."""
    msg: dict[str, Any] = dict(obj["message"]) if isinstance(obj.get("message"), dict) else dict(obj)
    android: dict[str, Any] = dict(msg.get("android") or {})
    for legacy, v1 in _LEGACY_ANDROID.items():
        if legacy in msg:
            android[v1] = msg.pop(legacy)
    if "priority" in msg:
        android["priority"] = _fcm_priority(str(msg.pop("priority")))
    if "time_to_live" in msg:
        android["ttl"] = f"{int(msg.pop('time_to_live'))}s"
    msg.pop("to", None)
    msg.pop("registration_ids", None)
    notif = msg.get("notification")
    if isinstance(notif, dict):
        extras = {k: v for k, v in notif.items() if k not in _V1_NOTIFICATION}
        if extras:
            msg["notification"] = {k: v for k, v in notif.items() if k in _V1_NOTIFICATION}
            an = dict(android.get("notification") or {})
            an.update(extras)
            android["notification"] = an
    if android:
        msg["android"] = android
    if isinstance(msg.get("data"), dict):
        msg["data"] = _stringify(msg["data"])
    return msg


def compose_gcm(
    config: models.DirectMessageConfiguration,
    template: models.PushNotificationTemplateResponse | None,
    recipient: Recipient,
    render: Render,
) -> FcmContent:
    """Build the FCM HTTP v1 `messages:send` body for one recipient (mapping in the module docstring).

    Raises ContentRejected for a bad RawContent, priority or TTL, or a payload over 4096 bytes.
    """
    m = config.GCMMessage or _NO_GCM
    d = config.DefaultPushNotificationMessage or _NO_DEFAULT
    tg = template.GCM if template is not None and template.GCM is not None else _NO_ANDROID_T
    td = template.Default if template is not None and template.Default is not None else _NO_DEFAULT_T
    raw = _first(recipient.raw_content, m.RawContent, tg.RawContent)
    if raw is not None:
        msg = _from_raw(_parse_object(_r(render, raw) or "", "GCM"))
    else:
        silent = bool(_first(m.SilentPush, d.SilentPush, False))
        title = _r(render, _first(recipient.title_override, m.Title, d.Title, tg.Title, td.Title))
        body = _r(render, _first(recipient.body_override, m.Body, d.Body, tg.Body, td.Body))
        url = _r(render, _first(m.Url, d.Url, tg.Url, td.Url))
        action = _first(m.Action, d.Action, tg.Action, td.Action) or "OPEN_APP"
        image = _r(render, _first(m.ImageUrl, tg.ImageUrl))
        icon_url = _r(render, _first(m.ImageIconUrl, tg.ImageIconUrl))
        small_icon_url = _r(render, _first(m.SmallImageIconUrl, tg.SmallImageIconUrl))
        sound = _first(m.Sound, tg.Sound, td.Sound)
        data: dict[str, str] = {f"pinpoint.{k}": v for k, v in recipient.context.items()}
        if m.Data or d.Data:
            data.update(_first(m.Data, d.Data))
            data["pinpoint.jsonBody"] = _encode(_first(m.Data, d.Data)).decode()
        data["pinpoint.notification.silentPush"] = "1" if silent else "0"
        if title:
            data["pinpoint.notification.title"] = title
        if body:
            data["pinpoint.notification.body"] = body
        if image:
            data["pinpoint.notification.imageUrl"] = image
        if icon_url:
            data["pinpoint.notification.imageIconUrl"] = icon_url
        if small_icon_url:
            data["pinpoint.notification.imageSmallIconUrl"] = small_icon_url
        if sound:
            data["pinpoint.notification.sound"] = sound
        if action == "URL" and url:
            data["pinpoint.url"] = url
        elif action == "DEEP_LINK" and url:
            data["pinpoint.deeplink"] = url
        else:
            data["pinpoint.openApp"] = "true"
        msg = {"data": data}
        android: dict[str, Any] = {}
        if not silent:
            notification: dict[str, str] = {}
            if title:
                notification["title"] = title
            if body:
                notification["body"] = body
            if image:
                notification["image"] = image
            if notification:
                msg["notification"] = notification
            an: dict[str, str] = {}
            if sound:
                an["sound"] = sound
            if m.IconReference:
                an["icon"] = m.IconReference
            if url and action in ("URL", "DEEP_LINK"):
                an["click_action"] = url
            if an:
                android["notification"] = an
        if m.CollapseKey:
            android["collapse_key"] = m.CollapseKey
        prio = _fcm_priority(m.Priority)
        if prio is not None:
            android["priority"] = prio
        if m.RestrictedPackageName:
            android["restricted_package_name"] = m.RestrictedPackageName
        if android:
            msg["android"] = android
    if m.TimeToLive is not None:
        if not 0 <= m.TimeToLive <= 2_419_200:
            raise ContentRejected("GCMMessage.TimeToLive must be 0..2419200 seconds", detail="INVALID_ARGUMENT")
        msg.setdefault("android", {})["ttl"] = f"{m.TimeToLive}s"
    size = len(_encode(msg))
    if size > FCM_LIMIT:
        raise ContentRejected(
            f"FCM message is {size} bytes, over the {FCM_LIMIT}-byte limit", code=400, detail="INVALID_ARGUMENT"
        )
    msg["token"] = recipient.address
    return FcmContent(body=_encode({"message": msg}))


C = TypeVar("C")


def _push_family(compose: Composer[models.PushNotificationTemplateResponse, C],
                 message_member: str) -> Family[models.PushNotificationTemplateResponse, C]:
    return Family(events=families.PUSH, compose=compose, message_member=message_member,
                  default_member="DefaultPushNotificationMessage", template_member="PushTemplate", template_type="PUSH",
                  template_class=models.PushNotificationTemplateResponse)


#: The APNs family: APNSMessage (else DefaultPushNotificationMessage) / PushTemplate.
APNS: Family[models.PushNotificationTemplateResponse, ApnsContent] = _push_family(compose_apns, "APNSMessage")
#: The FCM family: GCMMessage (else DefaultPushNotificationMessage) / PushTemplate.
GCM: Family[models.PushNotificationTemplateResponse, FcmContent] = _push_family(compose_gcm, "GCMMessage")
