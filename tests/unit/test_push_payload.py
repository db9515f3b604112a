"""Composers: Pinpoint push messages → APNs payload + header values, FCM v1 message."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import models
from gateway.channels.base import Recipient
from gateway.channels.push_payload import compose_apns, compose_gcm
from gateway.errors import ContentRejected
from tests.push_support import apns_config, identity


def rcpt(channel_type: str = "APNS", **kw: object) -> Recipient:
    return Recipient(key="k", address="tok123", channel_type=channel_type, **kw)  # type: ignore[arg-type]


def apns(cfg: models.DirectMessageConfiguration, template: models.PushNotificationTemplateResponse | None = None,
         r: Recipient | None = None):  # type: ignore[no-untyped-def]
    return compose_apns(cfg, template, r or rcpt(), identity)


def template(**parts: object) -> models.PushNotificationTemplateResponse:
    return models.PushNotificationTemplateResponse(CreationDate="x", LastModifiedDate="x", TemplateName="t",
                                                   TemplateType="PUSH", **parts)  # type: ignore[arg-type]


# -- APNs --------------------------------------------------------------------------------------------------------

def test_apns_alert_fields_map_to_aps() -> None:
    c = apns(apns_config(Title="T", Body="B", Sound="ping.aiff", Badge=3, Category="cat", ThreadId="th"))
    doc = json.loads(c.payload)
    assert doc == {"aps": {"alert": {"title": "T", "body": "B"}, "sound": "ping.aiff", "badge": 3,
                           "category": "cat", "thread-id": "th"}}
    assert (c.push_type, c.priority, c.ttl, c.collapse_id, c.voip) == ("alert", 10, None, None, False)


def test_apns_badge_zero_is_sent() -> None:
    assert json.loads(apns(apns_config(Body="b", Badge=0)).payload)["aps"]["badge"] == 0


def test_apns_silent_push_is_background_content_available_without_alert() -> None:
    c = apns(apns_config(Title="T", Body="B", Sound="s", Badge=1, SilentPush=True))
    assert json.loads(c.payload) == {"aps": {"content-available": 1}}
    assert c.push_type == "background"
    assert c.priority == 5  # Apple: 10 is an error for content-available-only


def test_apns_data_url_action_media_and_context_go_to_data() -> None:
    r = rcpt(context={"campaign": "c1"})
    c = apns(apns_config(Body="B", Data={"k": "v"}, Url="https://x/y", Action="URL", MediaUrl="https://img/a.png"),
             r=r)
    doc = json.loads(c.payload)
    assert doc["aps"]["mutable-content"] == 1
    assert doc["data"] == {"pinpoint": {"campaign": "c1", "deeplink": "https://x/y", "jsonBody": {"k": "v"}},
                           "media": "https://img/a.png"}


def test_apns_url_without_link_action_is_not_a_deeplink() -> None:
    doc = json.loads(apns(apns_config(Body="B", Url="https://x", Action="OPEN_APP")).payload)
    assert "data" not in doc


def test_apns_precedence_override_message_default_template() -> None:
    cfg = models.DirectMessageConfiguration(
        APNSMessage=models.APNSMessage(Body="apns body"),
        DefaultPushNotificationMessage=models.DefaultPushNotificationMessage(Title="default title", Body="d",
                                                                             Url="https://d", Action="DEEP_LINK"),
    )
    t = template(APNS=models.APNSPushNotificationTemplate(Title="tpl", Sound="tpl.caf"),
                 Default=models.DefaultPushNotificationTemplate(Sound="def.caf"))
    doc = json.loads(apns(cfg, t).payload)
    assert doc["aps"]["alert"] == {"title": "default title", "body": "apns body"}
    assert doc["aps"]["sound"] == "tpl.caf"
    assert doc["data"]["pinpoint"]["deeplink"] == "https://d"
    over = json.loads(apns(cfg, t, rcpt(title_override="O", body_override="OB")).payload)
    assert over["aps"]["alert"] == {"title": "O", "body": "OB"}


def test_apns_template_only() -> None:
    t = template(Default=models.DefaultPushNotificationTemplate(Title="x", Body="y"))
    assert json.loads(apns(models.DirectMessageConfiguration(), t).payload)["aps"]["alert"] == {"title": "x",
                                                                                                "body": "y"}


def test_apns_render_is_applied_to_text() -> None:
    c = compose_apns(apns_config(Title="Hi {{Name}}", Body="b"), None, rcpt(),
                     lambda s: None if s is None else s.replace("{{Name}}", "Ann"))
    assert json.loads(c.payload)["aps"]["alert"]["title"] == "Hi Ann"


def test_apns_raw_content_is_verbatim_and_wins() -> None:
    raw = '{"aps": {"alert": "raw"}, "x": 1}'
    c = apns(apns_config(Title="ignored", RawContent=raw, TimeToLive=0, CollapseId="cid", Priority="5"))
    assert c.payload == raw.encode()
    assert (c.push_type, c.priority, c.ttl, c.collapse_id) == ("alert", 5, 0, "cid")
    silent = apns(apns_config(RawContent='{"aps":{"content-available":1}}'))
    assert silent.push_type == "background" and silent.priority == 5
    per_recipient = apns(apns_config(RawContent=raw), r=rcpt(raw_content='{"aps":{"badge":1}}'))
    assert per_recipient.payload == b'{"aps":{"badge":1}}'


@pytest.mark.parametrize("raw", ["not json", "[1,2]", '"s"'])
def test_apns_raw_content_must_be_a_json_object(raw: str) -> None:
    with pytest.raises(ContentRejected):
        apns(apns_config(RawContent=raw))


@pytest.mark.parametrize(("value", "expected"), [("10", 10), ("high", 10), ("5", 5), ("normal", 5), ("1", 1),
                                                 (None, 10)])
def test_apns_priority(value: str | None, expected: int) -> None:
    assert apns(apns_config(Body="b", Priority=value)).priority == expected


def test_apns_bad_priority_push_type_ttl_collapse() -> None:
    for fields, detail in [({"Priority": "7"}, "BadPriority"), ({"APNSPushType": "nope"}, "InvalidPushType"),
                           ({"TimeToLive": -1}, "BadExpirationDate"), ({"CollapseId": "x" * 65}, "BadCollapseId")]:
        with pytest.raises(ContentRejected) as ei:
            apns(apns_config(Body="b", **fields))
        assert ei.value.detail == detail
    assert apns(apns_config(Body="b", CollapseId="é" * 32)).collapse_id == "é" * 32  # 64 bytes exactly


def test_apns_push_type_explicit_and_voip() -> None:
    assert apns(apns_config(Body="b", APNSPushType="mdm")).push_type == "mdm"
    v = apns(apns_config(Body="b"), r=rcpt("APNS_VOIP_SANDBOX"))
    assert v.push_type == "voip" and v.voip


def test_apns_size_limits_4k_and_5k_voip() -> None:
    body = "x" * 4100
    with pytest.raises(ContentRejected) as ei:
        apns(apns_config(Body=body))
    assert ei.value.code == 413 and ei.value.detail == "PayloadTooLarge"
    assert len(apns(apns_config(Body=body), r=rcpt("APNS_VOIP")).payload) <= 5120
    with pytest.raises(ContentRejected):
        apns(apns_config(Body="x" * 5200), r=rcpt("APNS_VOIP"))


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=3000), body=st.text(max_size=3000))
def test_apns_payload_is_json_within_limit_or_rejected(title: str, body: str) -> None:
    try:
        c = apns(apns_config(Title=title, Body=body))
    except ContentRejected:
        assert len(json.dumps({"aps": {"alert": {"title": title, "body": body}}}, ensure_ascii=False).encode()) > 4000
        return
    assert len(c.payload) <= 4096
    alert = json.loads(c.payload)["aps"].get("alert", {})
    assert alert.get("title", "") == title and alert.get("body", "") == body


# -- FCM ---------------------------------------------------------------------------------------------------------

def gcm(cfg: models.DirectMessageConfiguration, r: Recipient | None = None,
        t: models.PushNotificationTemplateResponse | None = None) -> dict:  # type: ignore[type-arg]
    return json.loads(compose_gcm(cfg, t, r or rcpt("GCM"), identity).body)["message"]


def gcm_config(**fields: object) -> models.DirectMessageConfiguration:
    return models.DirectMessageConfiguration(GCMMessage=models.GCMMessage(**fields))  # type: ignore[arg-type]


def test_gcm_notification_android_and_data() -> None:
    m = gcm(gcm_config(Title="T", Body="B", ImageUrl="https://i", CollapseKey="ck", Priority="high",
                       RestrictedPackageName="com.x", TimeToLive=60, Sound="s", IconReference="ic",
                       Data={"k": "v"}, Url="https://u", Action="URL"))
    assert m["token"] == "tok123"
    assert m["notification"] == {"title": "T", "body": "B", "image": "https://i"}
    assert m["android"] == {"collapse_key": "ck", "priority": "HIGH", "restricted_package_name": "com.x",
                            "ttl": "60s", "notification": {"sound": "s", "icon": "ic", "click_action": "https://u"}}
    d = m["data"]
    assert d["k"] == "v" and json.loads(d["pinpoint.jsonBody"]) == {"k": "v"}
    assert d["pinpoint.notification.title"] == "T" and d["pinpoint.notification.body"] == "B"
    assert d["pinpoint.url"] == "https://u" and d["pinpoint.notification.silentPush"] == "0"
    assert all(isinstance(v, str) for v in d.values())


@pytest.mark.parametrize(("value", "expected"), [("normal", "NORMAL"), ("5", "NORMAL"), ("10", "HIGH")])
def test_gcm_priority(value: str, expected: str) -> None:
    assert gcm(gcm_config(Body="b", Priority=value))["android"]["priority"] == expected


def test_gcm_silent_push_is_data_only() -> None:
    m = gcm(gcm_config(Title="T", Body="B", SilentPush=True))
    assert "notification" not in m and "notification" not in m.get("android", {})
    assert m["data"]["pinpoint.notification.silentPush"] == "1"


def test_gcm_deeplink_open_app_and_context() -> None:
    assert gcm(gcm_config(Body="b", Url="app://x", Action="DEEP_LINK"))["data"]["pinpoint.deeplink"] == "app://x"
    m = gcm(gcm_config(Body="b"), r=rcpt("GCM", context={"journey": "j"}))
    assert m["data"]["pinpoint.openApp"] == "true" and m["data"]["pinpoint.journey"] == "j"


def test_gcm_default_message_and_template() -> None:
    cfg = models.DirectMessageConfiguration(
        DefaultPushNotificationMessage=models.DefaultPushNotificationMessage(Title="dt", Body="db"))
    t = template(GCM=models.AndroidPushNotificationTemplate(ImageUrl="https://tpl"))
    m = gcm(cfg, t=t)
    assert m["notification"] == {"title": "dt", "body": "db", "image": "https://tpl"}


def test_gcm_raw_content_v1_and_legacy_shapes() -> None:
    v1 = gcm(gcm_config(RawContent='{"message": {"data": {"a": 1}, "notification": {"title": "t"}}}'))
    assert v1 == {"data": {"a": "1"}, "notification": {"title": "t"}, "token": "tok123"}
    legacy = gcm(gcm_config(RawContent='{"collapse_key": "c", "priority": "high", "time_to_live": 30, '
                            '"notification": {"title": "t", "sound": "s"}, "data": {"x": "y"}}'))
    assert legacy == {"notification": {"title": "t"}, "data": {"x": "y"}, "token": "tok123",
                      "android": {"collapse_key": "c", "priority": "HIGH", "ttl": "30s",
                                  "notification": {"sound": "s"}}}


def test_gcm_rejections() -> None:
    for cfg in [gcm_config(Body="b", Priority="urgent"), gcm_config(Body="b", TimeToLive=2_419_201),
                gcm_config(RawContent="nope"), gcm_config(Body="x" * 5000)]:
        with pytest.raises(ContentRejected):
            gcm(cfg)
