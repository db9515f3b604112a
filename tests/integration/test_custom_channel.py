"""The campaign webhook client and the custom channel against an independent https peer on 127.0.0.1 (aiohttp with
a throwaway CA): signing, the SSRF guard, the HEAD check, how each failure maps to an outcome, and the custom
channel through the real dispatcher (50 endpoints per POST, Pinpoint's payload, events and retries)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from gateway import errors, models
from gateway.campaigns.messages import run_requests
from gateway.campaigns.plan import Content
from gateway.channels.base import Runtime
from gateway.channels.custom import Delivery, delivery_key
from gateway.channels.registry import build_routes
from gateway.channels.webhook import HeadCheckFailed, WebhookClient
from gateway.config import CampaignWebhooksConfig, GatewayConfig, from_dict
from gateway.dispatch import Dispatcher
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from gateway.sms.webhook_auth import verify_hmac
from tests.webhook_peer import ACCOUNT, WebhookPeer

APP = "customapp"
SECRET = "s3cret-webhook-key"
ENV = {"GATEWAY_WEBHOOK_SECRET": SECRET}


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[WebhookPeer]:
    p = await WebhookPeer(tmp_path).start()
    yield p
    await p.aclose()


def webhooks(peer: WebhookPeer, **over: Any) -> CampaignWebhooksConfig:
    cfg: dict[str, Any] = {"allow_networks": ["127.0.0.1/32"], "ca_file": peer.ca_file, "timeout_s": 2.0, **over}
    return msgspec.convert(cfg, CampaignWebhooksConfig)


def client(peer: WebhookPeer, environ: dict[str, str] | None = None, **over: Any) -> WebhookClient:
    return WebhookClient(webhooks(peer, **over), account_id=ACCOUNT, environ=ENV if environ is None else environ)


def status(code: int, headers: dict[str, str] | None = None) -> Any:
    async def answer(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(status=code, headers=headers or {}, text="no")
    return answer


# -- the client ----------------------------------------------------------------------------------------------------


async def test_a_post_is_signed_so_the_receiver_can_verify_it(peer: WebhookPeer) -> None:
    c = client(peer)
    try:
        await c.post(peer.url("/deliver?x=1"), b'{"hello":"world"}')
    finally:
        await c.aclose()
    (seen,) = peer.posts()
    assert seen.body == b'{"hello":"world"}' and seen.headers["Content-Type"] == "application/json"
    # the inbound webhooks' verifier accepts it (id, timestamp, path and query, body are all covered)...
    verify_hmac([SECRET], seen.headers, seen.path_qs, seen.body, time.time())
    # ...and refuses it with another body, another target or another key
    for secrets, target, body in (([SECRET], seen.path_qs, b"{}"), ([SECRET], "/deliver?x=2", seen.body),
                                  (["other"], seen.path_qs, seen.body)):
        with pytest.raises(Exception, match="signature"):
            verify_hmac(secrets, seen.headers, target, body, time.time())


@pytest.mark.parametrize(("answer", "error", "retryable"), [
    (status(500), errors.ProviderUnavailable, True),
    (status(503, {"Retry-After": "7"}), errors.ProviderUnavailable, True),
    (status(429, {"Retry-After": "7"}), errors.Throttled, True),
    (status(502), errors.ProviderUnavailable, True),
    (status(400), errors.PermanentError, False),
    (status(404), errors.PermanentError, False),
    (status(302, {"Location": "https://127.0.0.1/elsewhere"}), errors.PermanentError, False),
])
async def test_each_failure_means_one_outcome(peer: WebhookPeer, answer: Any, error: type[errors.DeliveryError],
                                              retryable: bool) -> None:
    peer.behaviour = answer
    c = client(peer)
    try:
        with pytest.raises(error) as caught:
            await c.post(peer.url(), b"{}")
    finally:
        await c.aclose()
    assert caught.value.retryable is retryable
    if error is errors.Throttled:
        assert caught.value.retry_after == 7.0
    assert len(peer.posts()) == 1  # a redirect is not followed


async def test_a_stalled_webhook_times_out_as_maybe_sent(peer: WebhookPeer) -> None:
    peer.behaviour = peer.stall
    c = client(peer, timeout_s=0.3)
    try:
        with pytest.raises(errors.MaybeSent, match=r"no complete answer within 0\.3s"):
            await c.post(peer.url(), b"{}")
    finally:
        await c.aclose()


async def test_nothing_is_posted_without_a_signing_secret(peer: WebhookPeer) -> None:
    c = client(peer, environ={})
    with pytest.raises(errors.PermanentError, match="GATEWAY_WEBHOOK_SECRET"):
        await c.post(peer.url(), b"{}")
    assert peer.seen == []


async def test_the_ssrf_guard_refuses_loopback_unless_allowlisted(peer: WebhookPeer) -> None:
    c = client(peer, allow_networks=[])
    try:
        with pytest.raises(errors.PermanentError, match="SSRF"):
            await c.post(peer.url(), b"{}")
        with pytest.raises(HeadCheckFailed, match="SSRF"):
            await c.head_check(peer.url())
        with pytest.raises(errors.PermanentError, match="scheme 'http'"):
            await c.post(f"http://127.0.0.1:{peer.port}/hook", b"{}")
    finally:
        await c.aclose()
    assert peer.seen == []


async def test_the_head_check_wants_this_gateways_account_id(peer: WebhookPeer) -> None:
    c = client(peer)
    try:
        await c.head_check(peer.url())
        peer.head_account = "999999999999"
        with pytest.raises(HeadCheckFailed, match="'999999999999', not this gateway's account id '123456789012'"):
            await c.head_check(peer.url())
        peer.head_account = None
        with pytest.raises(HeadCheckFailed, match="without the header X-Amz-Pinpoint-AccountId"):
            await c.head_check(peer.url())
    finally:
        await c.aclose()
    assert [s.method for s in peer.seen] == ["HEAD"] * 3


async def test_an_untrusted_certificate_is_refused(peer: WebhookPeer) -> None:
    c = client(peer, ca_file=None)
    try:
        with pytest.raises(errors.ConnectError):
            await c.post(peer.url(), b"{}")
    finally:
        await c.aclose()
    assert peer.seen == []


# -- the custom channel through the dispatcher ----------------------------------------------------------------------


def engine_config(peer: WebhookPeer) -> GatewayConfig:
    return from_dict({
        "retry": {"base_s": 0.02, "cap_s": 0.1, "max_attempts": 3},
        "api": {"account_id": ACCOUNT},
        "campaigns": {"webhooks": {"allow_networks": ["127.0.0.1/32"], "ca_file": peer.ca_file, "timeout_s": 0.5}},
    })


async def seed(redis: Any, n: int) -> None:
    items = [models.EndpointBatchItem(Id=f"e{i:03d}", ChannelType="EMAIL" if i % 2 else "SMS",
                                      Address=f"u{i:03d}@example.com" if i % 2 else f"+1206555{i:04d}",
                                      Attributes={"plan": ["gold"]}) for i in range(n)]
    for i in range(0, n, 100):
        await EndpointStore(redis).update_endpoints_batch(APP, models.EndpointBatchRequest(Item=items[i : i + 100]))


async def dispatch_run(redis: Any, peer: WebhookPeer, monkeypatch: pytest.MonkeyPatch, ids: list[str],
                       data: str = '{"text":"hi"}') -> tuple[Dispatcher, list[dict[str, Any]]]:
    """A campaign run's custom requests for `ids` through the dispatcher once; the events it wrote."""
    monkeypatch.setenv("GATEWAY_WEBHOOK_SECRET", SECRET)
    cfg = engine_config(peer)
    routes = build_routes(cfg, Runtime(redis, EndpointStore(redis)))
    dispatcher = Dispatcher(redis, cfg, routes)
    delivery = Delivery(uri=peer.url("/custom"), data=data, scheduled_time="2030-03-01T12:00:00.000Z")
    await redis.set(delivery_key(APP, "camp1", "act1"), msgspec.json.encode(delivery))
    content = Content(None, None, models.CustomDeliveryConfiguration(DeliveryUri=peer.url("/custom")),
                      models.Schedule(StartTime="IMMEDIATE"))
    requests = run_requests(content, ids, campaign_id="camp1", activity_id="act1", treatment_id=1, custom=True)
    await Producer(redis).send_many(APP, requests)
    raw = [(eid.decode(), fields) for eid, fields in await redis.xrange("gateway:send")]
    try:
        await dispatcher.process(raw)
    finally:
        for r in routes.values():
            await r.channel.aclose()
    events = [msgspec.json.decode(f[b"record"]) for _, f in await redis.xrange("gateway:events")]
    return dispatcher, events


async def test_custom_recipients_are_posted_50_per_call_in_pinpoints_payload(
        redis: Any, peer: WebhookPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(redis, 120)
    ids = [f"e{i:03d}" for i in range(120)]
    _, events = await dispatch_run(redis, peer, monkeypatch, ids)

    posts = peer.posts()
    bodies = [json.loads(p.body) for p in posts]
    assert sorted(len(b["Endpoints"]) for b in bodies) == [20, 50, 50]  # 120 endpoints of two requests, 50 per call
    assert sorted(e for b in bodies for e in b["Endpoints"]) == ids  # each endpoint once
    for p, b in zip(posts, bodies, strict=True):
        assert p.path_qs == "/custom"
        verify_hmac([SECRET], p.headers, p.path_qs, p.body, time.time())
        assert {k: v for k, v in b.items() if k != "Endpoints"} == {
            "Message": {}, "Data": '{"text":"hi"}', "ApplicationId": APP, "CampaignId": "camp1", "TreatmentId": "1",
            "ActivityId": "act1", "ScheduledTime": "2030-03-01T12:00:00.000Z"}
    ep = bodies[0]["Endpoints"]["e001"] if "e001" in bodies[0]["Endpoints"] else next(
        b["Endpoints"]["e001"] for b in bodies if "e001" in b["Endpoints"])
    assert ep["ChannelType"] == "EMAIL" and ep["Address"] == "u001@example.com" and ep["Attributes"] == {"plan": ["gold"]}
    assert "Id" not in ep

    outcomes = [e for e in events if e["event_type"] == "_custom.delivered"]
    assert sorted(e["client"]["client_id"] for e in outcomes) == ids
    for e in outcomes:
        a = e["attributes"]
        assert a["delivery_status"] == "SUCCESSFUL" and a["channel_type"] == "CUSTOM"
        assert (a["campaign_id"], a["campaign_activity_id"], a["treatment_id"]) == ("camp1", "act1", "1")
    assert len(events) == 120  # nothing else


async def test_a_failing_webhook_is_retried_by_the_engine(redis: Any, peer: WebhookPeer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(redis, 60)
    peer.behaviour = status(503)
    ids = [f"e{i:03d}" for i in range(60)]
    _, events = await dispatch_run(redis, peer, monkeypatch, ids)
    assert len(peer.posts()) == 2  # 50 + 10
    assert {(e["event_type"], e["attributes"]["delivery_status"]) for e in events} == {
        ("_custom.failure", "TEMPORARY_FAILURE")}
    assert len(events) == 60
    retried = await redis.zrange("gateway:retry", 0, -1)
    assert len(retried) == 1  # the request (60 endpoints) is retried, every endpoint of it
    flat = [json.loads(m) for m in retried]
    only = [eid for f in flat for eid in json.loads(dict(zip(f[::2], f[1::2], strict=True))["only"])]
    assert sorted(only) == ids


@pytest.mark.parametrize(("behaviour", "status_", "code"), [
    ("reject", "PERMANENT_FAILURE", "400"),
    ("stall", "UNKNOWN_FAILURE", "500"),
])
async def test_a_rejecting_or_stalled_webhook_is_not_resent(redis: Any, peer: WebhookPeer,
                                                            monkeypatch: pytest.MonkeyPatch, behaviour: str,
                                                            status_: str, code: str) -> None:
    await seed(redis, 3)
    peer.behaviour = status(400) if behaviour == "reject" else peer.stall
    _, events = await dispatch_run(redis, peer, monkeypatch, ["e000", "e001", "e002"])
    assert {(e["event_type"], e["attributes"]["delivery_status"], e["attributes"]["status_code"]) for e in events} == {
        ("_custom.failure", status_, code)}
    assert await redis.zcard("gateway:retry") == 0


async def test_a_missing_or_opted_out_endpoint_is_refused_before_any_post(redis: Any, peer: WebhookPeer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(redis, 2)
    await EndpointStore(redis).update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
        models.EndpointBatchItem(Id="e001", ChannelType="EMAIL", Address="u001@example.com", OptOut="ALL")]))
    _, events = await dispatch_run(redis, peer, monkeypatch, ["e000", "e001", "nobody"])
    got = {e["client"]["client_id"]: (e["event_type"], e["attributes"]["delivery_status"]) for e in events}
    assert got == {"e000": ("_custom.delivered", "SUCCESSFUL"), "e001": ("_custom.rejected", "OPT_OUT"),
                   "nobody": ("_custom.rejected", "PERMANENT_FAILURE")}
    assert [list(json.loads(p.body)["Endpoints"]) for p in peer.posts()] == [["e000"]]


async def test_a_gone_delivery_record_fails_with_a_reason(redis: Any, peer: WebhookPeer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(redis, 1)
    monkeypatch.setenv("GATEWAY_WEBHOOK_SECRET", SECRET)
    cfg = engine_config(peer)
    routes = build_routes(cfg, Runtime(redis, EndpointStore(redis)))
    content = Content(None, None, models.CustomDeliveryConfiguration(DeliveryUri=peer.url()),
                      models.Schedule(StartTime="IMMEDIATE"))
    await Producer(redis).send_many(APP, run_requests(content, ["e000"], campaign_id="c", activity_id="a",
                                                      treatment_id=0, custom=True))
    raw = [(eid.decode(), fields) for eid, fields in await redis.xrange("gateway:send")]
    await Dispatcher(redis, cfg, routes).process(raw)
    (event,) = [msgspec.json.decode(f[b"record"]) for _, f in await redis.xrange("gateway:events")]
    assert event["event_type"] == "_custom.failure" and "custom delivery record is gone" in event["attributes"]["status_message"]
    assert peer.seen == []
