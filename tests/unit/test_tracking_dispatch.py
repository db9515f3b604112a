"""Tracking applied by the dispatcher to real composed email (the EMAIL family), with fake Redis and channel."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.channels.base import Route
from gateway.channels.smtp.compose import FAMILY
from gateway.channels.smtp.mime import EmailContent
from gateway.config import GatewayConfig, TrackingConfig
from gateway.dispatch import Dispatcher
from gateway.kpi import attribution
from gateway.tracking.tokens import CLICK, OPEN, UNSUBSCRIBE, Verifier
from tests.unit.dispatcher_fakes import FakeChannel, FakeRedis

APP = "app1"
KEYS = "k1:0123456789abcdef0123456789abcdef"
HTML = ('<html><body><p>Hi {{Attributes.name}}</p><a href="https://shop.example/p?id=1&amp;x=2">buy</a>'
        '<a ses:no-track href="https://shop.example/raw">raw</a>'
        '<a href="{{amazonSESUnsubscribeUrl}}">unsubscribe</a></body></html>')


def rig(monkeypatch: pytest.MonkeyPatch, **tracking: Any) -> tuple[Dispatcher, FakeChannel]:
    monkeypatch.setenv("GATEWAY_TRACKING_KEYS", KEYS)
    cfg = GatewayConfig(tracking=TrackingConfig(public_url="https://t.example/", **tracking))
    channel = FakeChannel()
    return Dispatcher(FakeRedis(), cfg, {"EMAIL": Route(channel, FAMILY)}), channel  # type: ignore[arg-type]


def request(context: dict[str, str] | None = None, html: str = HTML) -> dict[str, Any]:
    return {"Addresses": {"a@x.example": {"ChannelType": "EMAIL", "Substitutions": {"Attributes.name": ["Ann"]}}},
            "Context": context or {},
            "MessageConfiguration": {"EmailMessage": {"FromAddress": "s@x.example", "SimpleEmail": {
                "Subject": {"Data": "s {{unsubscribeUrl}}"}, "HtmlPart": {"Data": html}, "TextPart": {"Data": "bye {{unsubscribeUrl}}"}}}}}


async def send(d: Dispatcher, req: dict[str, Any]) -> None:
    await d.process([("1-0", {b"app": APP.encode(), b"request": msgspec.json.encode(req)})])


async def test_links_pixel_and_unsubscribe_url_in_a_campaign_email(monkeypatch: pytest.MonkeyPatch) -> None:
    d, channel = rig(monkeypatch)
    await send(d, request({"campaign_id": "c1"}))
    [msg] = channel.sent
    content: Any = msg.content
    assert isinstance(content, EmailContent)
    html = content.html
    v = Verifier({"k1": KEYS.split(":")[1].encode()})
    # the tracked link carries the decoded URL, signed with the message's ids
    click = html.split('<a href="https://t.example/c/', 1)[1].split('"', 1)[0]
    token = v.verify(click, CLICK)
    assert (token.app, token.message_id, token.link, token.url) == (APP, msg.message_id, 0,
                                                                     "https://shop.example/p?id=1&x=2")
    assert '<a href="https://shop.example/raw">raw</a>' in html  # no-track: untouched, attribute gone
    unsub = html.split('<a href="https://t.example/u/', 1)[1].split('"', 1)[0]  # not rewritten to a click
    assert v.verify(unsub, UNSUBSCRIBE).address == "a@x.example"
    assert content.text == f"bye https://t.example/u/{unsub}"
    assert content.subject == f"s https://t.example/u/{unsub}"
    pixel = html.split('src="https://t.example/o/', 1)[1].split('"', 1)[0]
    assert v.verify(pixel, OPEN).message_id == msg.message_id
    assert html.endswith(" /></body></html>") and "<p>Hi Ann</p>" in html
    assert dict(content.headers) == {"List-Unsubscribe": f"<https://t.example/u/{unsub}>",
                                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


async def test_direct_sends_are_transactional_no_list_unsubscribe_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    d, channel = rig(monkeypatch, unsubscribe_mailto="unsub@x.example")
    await send(d, request())
    assert channel.sent[0].content.headers == ()
    d, channel = rig(monkeypatch, unsubscribe_mailto="unsub@x.example", unsubscribe_headers="all")
    await send(d, request())
    value = dict(channel.sent[0].content.headers)["List-Unsubscribe"]
    assert value.startswith("<https://t.example/u/") and value.endswith(", <mailto:unsub@x.example?subject=unsubscribe>")


async def test_an_application_turned_off_gets_no_rewriting_but_keeps_its_unsubscribe_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    d, channel = rig(monkeypatch, apps={APP: False})
    await send(d, request(html='<a href="https://a.example/">a</a> <a href="{{amazonSESUnsubscribeUrl}}">u</a>'))
    html = channel.sent[0].content.html
    assert html.startswith('<a href="https://a.example/">a</a> <a href="https://t.example/u/')
    assert "/o/" not in html


async def test_without_a_tracking_section_nothing_changes() -> None:
    channel = FakeChannel()
    d = Dispatcher(FakeRedis(), GatewayConfig(), {"EMAIL": Route(channel, FAMILY)})  # type: ignore[arg-type]
    await send(d, request({"campaign_id": "c1"}))
    content = channel.sent[0].content
    assert content.html == ('<html><body><p>Hi Ann</p><a href="https://shop.example/p?id=1&amp;x=2">buy</a>'
                            '<a ses:no-track href="https://shop.example/raw">raw</a><a href="">unsubscribe</a>'
                            '</body></html>')
    assert content.headers == ()


async def test_the_one_click_headers_reach_the_mime_message_and_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    import email
    from email import policy

    from gateway.channels.smtp.mime import assemble

    d, channel = rig(monkeypatch, unsubscribe_mailto="unsub@x.example")
    await send(d, request({"journey_id": "j1"}))
    msg = channel.sent[0]
    data = assemble(msg.content, "s@x.example", msg.message_id, "x.example", True, False)
    parsed = email.message_from_bytes(data, policy=policy.SMTP)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    value = str(parsed["List-Unsubscribe"])
    assert value.startswith("<https://t.example/u/") and value.endswith(">, <mailto:unsub@x.example?subject=unsubscribe>")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


async def test_a_tracked_campaign_email_leaves_its_attribution_for_the_tracking_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    d, channel = rig(monkeypatch, attribution_days=7)
    camp = {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "2", "other": "x"}
    await send(d, request(camp))
    [msg] = channel.sent
    redis: Any = d.redis
    key = attribution.key(APP, msg.message_id)
    assert key.startswith("gw:{app1}:")  # the application's slot, beside its rollups
    assert attribution.decode(redis.strings[key]) == {"campaign_id": "c1", "campaign_activity_id": "a1",
                                                       "treatment_id": "2"}
    assert redis.ttl[key] == 7 * 86_400
    # a direct (transactional) send leaves none
    d, channel = rig(monkeypatch)
    await send(d, request())
    assert not [k for k in d.redis.strings if ":mattr:" in k]  # type: ignore[attr-defined]
