"""Campaign hooks and custom delivery as the runner runs them, against an independent https peer on 127.0.0.1:
FILTER hooks that keep, remove and change endpoints; DELIVERY hooks; hooks that fail, stall or answer garbage
(counted, with events, retried per batch, never stalling the run); the application's default hook; custom delivery
split by EndpointTypes; the HEAD check at CreateCampaign; and a whole campaign through a worker to the webhook."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from gateway import models
from gateway.api.apps import check_settings
from gateway.api.appstore import AppStore
from gateway.api.errors import BadRequest
from gateway.campaigns import runs
from gateway.campaigns.errors import CampaignValidationError
from gateway.campaigns.runner import Scheduler
from gateway.campaigns.store import CampaignStore
from gateway.channels.custom import Delivery, delivery_key
from gateway.channels.webhook import WebhookClient
from gateway.config import CampaignsConfig
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from gateway.segments.store import SegmentStore
from gateway.sms.webhook_auth import verify_hmac
from gateway.templates.store import TemplateStore
from tests.webhook_peer import ACCOUNT, WebhookPeer

APP = "hookapp"
SECRET = "hook-secret"
T0 = dt.datetime(2030, 3, 1, 12, 0, tzinfo=dt.UTC)
EMAIL = {"EmailMessage": {"FromAddress": "news@gateway.test", "Title": "Hi", "HtmlBody": "<p>{{Attributes.plan}}</p>"}}


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[WebhookPeer]:
    p = await WebhookPeer(tmp_path).start()
    yield p
    await p.aclose()


def config(peer: WebhookPeer, **over: Any) -> CampaignsConfig:
    hooks = {"allow_networks": ["127.0.0.1/32"], "ca_file": peer.ca_file, "timeout_s": 1.0, **over}
    return msgspec.convert({"webhooks": hooks}, CampaignsConfig)


class Sleeps:
    """The scheduler's sleep: records the hook's backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


_SCHEDULERS: list[Scheduler] = []


@pytest.fixture(autouse=True)
async def _close_schedulers() -> AsyncIterator[None]:
    yield
    while _SCHEDULERS:
        await _SCHEDULERS.pop().aclose()


def scheduler(redis: Any, peer: WebhookPeer, sleeps: Sleeps | None = None, **over: Any) -> Scheduler:
    cfg = config(peer, **over)
    client = WebhookClient(cfg.webhooks, account_id=ACCOUNT, environ={"GATEWAY_WEBHOOK_SECRET": SECRET})
    s = Scheduler(redis, producer=Producer(redis), config=cfg, clock=lambda: T0, sleep=sleeps or Sleeps(),
                  webhooks=client)
    _SCHEDULERS.append(s)
    return s


def store(redis: Any, peer: WebhookPeer | None = None) -> CampaignStore:
    head = None
    if peer is not None:
        head = WebhookClient(config(peer).webhooks, account_id=ACCOUNT, environ={}).head_check
    return CampaignStore(redis, SegmentStore(redis), TemplateStore(redis), clock=lambda: T0, head_check=head)


async def seed(redis: Any, n: int) -> str:
    """n endpoints e000.. (even: EMAIL, odd: SMS) in a segment; its id."""
    items = [models.EndpointBatchItem(
        Id=f"e{i:03d}", ChannelType="EMAIL" if i % 2 == 0 else "SMS",
        Address=f"u{i:03d}@example.com" if i % 2 == 0 else f"+1206555{i:04d}",
        Attributes={"list": ["news"], "plan": ["basic"]}) for i in range(n)]
    for i in range(0, n, 100):
        await EndpointStore(redis).update_endpoints_batch(APP, models.EndpointBatchRequest(Item=items[i : i + 100]))
    seg = await SegmentStore(redis).create(APP, msgspec.convert(
        {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
    return seg.Id


async def create(redis: Any, segment: str, peer: WebhookPeer | None = None, **members: Any) -> models.CampaignResponse:
    request = {"Name": "c", "SegmentId": segment, "MessageConfiguration": {**EMAIL, "SMSMessage": {"Body": "hi"}},
               "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}, **members}
    return await store(redis, peer).create_campaign(APP, msgspec.convert(request, models.WriteCampaignRequest))


async def enqueued(redis: Any) -> dict[str, tuple[models.EndpointSendConfiguration, dict[str, str]]]:
    """endpoint id -> (its settings in the request, the request's Context), over every request in the stream."""
    out = {}
    for _, fields in await redis.xrange("gateway:send"):
        req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
        for eid, cfg in (req.Endpoints or {}).items():
            assert eid not in out  # one message per endpoint
            out[eid] = (cfg, req.Context or {})
    return out


async def events(redis: Any) -> list[dict[str, Any]]:
    return [msgspec.json.decode(f[b"record"]) for _, f in await redis.xrange("gateway:events")]


async def activity(redis: Any, cid: str) -> models.ActivityResponse:
    (act,) = (await store(redis).list_activities(APP, cid, None, None)).Item or []
    return act


def hook_bodies(peer: WebhookPeer) -> list[dict[str, Any]]:
    return [json.loads(p.body) for p in peer.posts()]


# -- FILTER ---------------------------------------------------------------------------------------------------------


async def test_a_filter_hook_removes_and_changes_endpoints_before_the_send(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 120)

    async def keep_multiples_of_three(request: web.Request, body: bytes) -> web.StreamResponse:
        event = json.loads(body)
        kept = {}
        for eid, ep in event["Endpoints"].items():
            if int(eid[1:]) % 3 == 0:
                if eid == "e000":
                    ep["Attributes"]["plan"] = ["gold"]  # a change the message must see
                kept[eid] = ep
        kept["intruder"] = {"ChannelType": "EMAIL", "Address": "x@example.com"}  # a hook cannot add recipients
        return web.json_response(kept)

    peer.behaviour = keep_multiples_of_three
    camp = await create(redis, segment, Hook={"WebUrl": peer.url("/filter"), "Mode": "FILTER"})
    assert await scheduler(redis, peer).tick() == 1

    bodies = hook_bodies(peer)
    assert sorted(len(b["Endpoints"]) for b in bodies) == [20, 50, 50]
    for p, b in zip(peer.posts(), bodies, strict=True):
        verify_hmac([SECRET], p.headers, p.path_qs, p.body, time.time())
        assert b["ApplicationId"] == APP and b["CampaignId"] == camp.Id and b["TreatmentId"] == "0"
        assert b["ActivityId"] == runs.activity_id(camp.Id, 0, 0) and b["ScheduledTime"] == camp.CreationDate
        assert b["MessageConfiguration"]["EmailMessage"]["Title"] == "Hi"
        assert b["MessageConfiguration"]["SMSMessage"] == {"Body": "hi"}
    sent = await enqueued(redis)
    assert sorted(sent) == [f"e{i:03d}" for i in range(0, 120, 3)]
    assert sent["e000"][0].Substitutions == {"Attributes.plan": ["gold"]}  # the change reaches the template
    assert sent["e003"][0].Substitutions is None
    act = await activity(redis, camp.Id)
    assert act.ExecutionMetrics is not None and act.ExecutionMetrics["HOOK_FILTERED"] == "80"
    assert act.SuccessfulEndpointCount == 40 and act.State == "COMPLETED"


async def test_the_applications_default_hook_is_used_and_a_campaigns_own_wins(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 4)

    async def drop_all(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.json_response({"Endpoints": {}} if request.path == "/app" else json.loads(body)["Endpoints"])

    peer.behaviour = drop_all
    await AppStore(redis, "").update_settings(APP, models.WriteApplicationSettingsRequest(
        CampaignHook=models.CampaignHook(WebUrl=peer.url("/app"), Mode="FILTER")))
    first = await create(redis, segment)
    assert await scheduler(redis, peer).tick() == 1
    assert [p.path_qs for p in peer.posts()] == ["/app"] and await enqueued(redis) == {}
    assert (await activity(redis, first.Id)).ExecutionMetrics["HOOK_FILTERED"] == "4"  # type: ignore[index]

    await create(redis, segment, Hook={"WebUrl": peer.url("/own"), "Mode": "FILTER"})
    assert await scheduler(redis, peer).tick() == 1
    assert [p.path_qs for p in peer.posts()] == ["/app", "/own"] and len(await enqueued(redis)) == 4


# -- DELIVERY -------------------------------------------------------------------------------------------------------


async def test_a_delivery_hook_delivers_and_the_gateway_sends_nothing(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 60)
    camp = await create(redis, segment, Hook={"WebUrl": peer.url("/deliver"), "Mode": "DELIVERY"})
    assert await scheduler(redis, peer).tick() == 1
    assert sorted(len(b["Endpoints"]) for b in hook_bodies(peer)) == [10, 50]
    assert await enqueued(redis) == {}
    evs = await events(redis)
    assert sorted(e["client"]["client_id"] for e in evs) == [f"e{i:03d}" for i in range(60)]
    assert {(e["event_type"], e["attributes"]["delivery_status"], e["attributes"]["campaign_id"]) for e in evs} == {
        ("_campaign.hook_delivered", "SUCCESSFUL", camp.Id)}
    act = await activity(redis, camp.Id)
    assert act.SuccessfulEndpointCount == 60 and act.ExecutionMetrics["HOOK_DELIVERED"] == "60"  # type: ignore[index]


# -- failing hooks --------------------------------------------------------------------------------------------------


async def test_a_failing_hook_is_retried_per_batch_then_counted_with_events(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 60)
    calls: dict[str, int] = {}

    async def second_batch_fails(request: web.Request, body: bytes) -> web.StreamResponse:
        eps = json.loads(body)["Endpoints"]
        key = min(eps)
        calls[key] = calls.get(key, 0) + 1
        if key == "e050":
            return web.Response(status=503, text="down")
        return web.json_response(eps)

    peer.behaviour = second_batch_fails
    sleeps = Sleeps()
    camp = await create(redis, segment, Hook={"WebUrl": peer.url(), "Mode": "FILTER"})
    assert await scheduler(redis, peer, sleeps, hook_attempts=3, hook_backoff_s=0.5).tick() == 1
    assert calls == {"e000": 1, "e050": 3}  # the failing batch was tried three times, the other once
    assert sleeps.delays == [0.5, 1.0]  # doubling backoff between tries
    assert sorted(await enqueued(redis)) == [f"e{i:03d}" for i in range(50)]  # the run went on
    failed = await events(redis)
    assert sorted(e["client"]["client_id"] for e in failed) == [f"e{i:03d}" for i in range(50, 60)]
    for e in failed:
        assert e["event_type"] == "_campaign.hook_failure" and e["attributes"]["delivery_status"] == "PERMANENT_FAILURE"
        assert "HTTP 503" in e["attributes"]["status_message"] and "after 3 attempts" in e["attributes"]["status_message"]
    act = await activity(redis, camp.Id)
    assert act.State == "COMPLETED" and act.ExecutionMetrics["HOOK_FAILURE"] == "10"  # type: ignore[index]
    assert act.SuccessfulEndpointCount == 50


@pytest.mark.parametrize(("answer", "tries", "reason"), [
    ("garbage", 1, "not JSON"),
    ("list", 1, "not a JSON object of endpoints"),
    ("bad-endpoint", 1, "is not a JSON object"),
    ("reject", 1, "HTTP 400"),
    ("stall", 2, "no complete answer within 0.3s"),
])
async def test_a_hook_answering_garbage_or_stalling_fails_clearly(redis: Any, peer: WebhookPeer, answer: str,
                                                                 tries: int, reason: str) -> None:
    segment = await seed(redis, 3)

    async def garbage(request: web.Request, body: bytes) -> web.StreamResponse:
        if answer == "garbage":
            return web.Response(status=200, text="<html>oops")
        if answer == "list":
            return web.json_response(["e000"])
        if answer == "bad-endpoint":
            return web.json_response({"e000": "yes"})
        return web.Response(status=400, text="no")

    peer.behaviour = peer.stall if answer == "stall" else garbage
    camp = await create(redis, segment, Hook={"WebUrl": peer.url(), "Mode": "FILTER"})
    assert await scheduler(redis, peer, hook_attempts=2, timeout_s=0.3).tick() == 1
    assert len(peer.posts()) == tries  # garbage and refusals are not asked again; a stalled FILTER call is
    assert await enqueued(redis) == {}
    evs = await events(redis)
    assert len(evs) == 3 and all(reason in e["attributes"]["status_message"] for e in evs), evs
    act = await activity(redis, camp.Id)
    assert act.State == "COMPLETED" and act.ExecutionMetrics["HOOK_FAILURE"] == "3"  # type: ignore[index]


async def test_a_stalled_delivery_hook_is_not_called_again(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 2)
    peer.behaviour = peer.stall
    camp = await create(redis, segment, Hook={"WebUrl": peer.url(), "Mode": "DELIVERY"})
    assert await scheduler(redis, peer, hook_attempts=3, timeout_s=0.3).tick() == 1
    assert len(peer.posts()) == 1  # it may have delivered: asking again could deliver twice
    assert (await activity(redis, camp.Id)).ExecutionMetrics["HOOK_FAILURE"] == "2"  # type: ignore[index]


# -- custom delivery ------------------------------------------------------------------------------------------------


async def test_custom_delivery_takes_the_endpoint_types_it_names(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 10)
    camp = await create(redis, segment, peer, CustomDeliveryConfiguration={
        "DeliveryUri": peer.url("/custom"), "EndpointTypes": ["SMS"]},
        MessageConfiguration={**EMAIL, "CustomMessage": {"Data": '{"promo":"spring"}'}})
    assert [s.method for s in peer.seen] == ["HEAD"]  # checked at creation
    assert await scheduler(redis, peer).tick() == 1
    sent = await enqueued(redis)
    custom = sorted(eid for eid, (_, ctx) in sent.items() if ctx.get("gateway.channel") == "CUSTOM")
    plain = sorted(eid for eid, (_, ctx) in sent.items() if "gateway.channel" not in ctx)
    assert custom == [f"e{i:03d}" for i in range(1, 10, 2)] and plain == [f"e{i:03d}" for i in range(0, 10, 2)]
    raw = await redis.get(delivery_key(APP, camp.Id, runs.activity_id(camp.Id, 0, 0)))
    assert msgspec.json.decode(raw, type=Delivery) == Delivery(uri=peer.url("/custom"), data='{"promo":"spring"}',
                                                               scheduled_time=camp.CreationDate or "")


async def test_create_campaign_head_checks_a_new_delivery_uri(redis: Any, peer: WebhookPeer) -> None:
    segment = await seed(redis, 1)
    custom = {"DeliveryUri": peer.url("/custom"), "EndpointTypes": ["EMAIL"]}
    message = {**EMAIL, "CustomMessage": {"Data": "x"}}
    peer.head_account = "000000000000"
    with pytest.raises(CampaignValidationError, match=r"^WriteCampaignRequest\.CustomDeliveryConfiguration\."
                                                      r"DeliveryUri: HEAD 127\.0\.0\.1: X-Amz-Pinpoint-AccountId"):
        await create(redis, segment, peer, CustomDeliveryConfiguration=custom, MessageConfiguration=message)
    with pytest.raises(CampaignValidationError, match=r"AdditionalTreatments\[0\]\.CustomDeliveryConfiguration"):
        await create(redis, segment, peer, AdditionalTreatments=[
            {"SizePercent": 10, "CustomDeliveryConfiguration": custom, "MessageConfiguration": message}])
    assert await store(redis).list_campaigns(APP, None, None) == models.CampaignsResponse(Item=[])
    peer.head_account = ACCOUNT
    camp = await create(redis, segment, peer, CustomDeliveryConfiguration=custom, MessageConfiguration=message)
    heads = len(peer.seen)
    peer.head_account = None  # an update that keeps the URI is not checked again
    await store(redis, peer).update_campaign(APP, camp.Id, models.WriteCampaignRequest(Name="renamed"))
    assert len(peer.seen) == heads


@pytest.mark.parametrize(("members", "reason"), [
    ({"Hook": {"LambdaFunctionName": "arn:aws:lambda:us-east-1:1:function:f", "Mode": "FILTER"}},
     "Hook.LambdaFunctionName: Gateway runs no AWS Lambda"),
    ({"CustomDeliveryConfiguration": {"DeliveryUri": "arn:aws:lambda:us-east-1:1:function:f"},
      "MessageConfiguration": {"CustomMessage": {"Data": "x"}}},
     "CustomDeliveryConfiguration.DeliveryUri: Gateway runs no AWS Lambda"),
    ({"CustomDeliveryConfiguration": {"DeliveryUri": "https://hooks.example.com/a b"},
      "MessageConfiguration": {"CustomMessage": {"Data": "x"}}},
     "CustomDeliveryConfiguration.DeliveryUri: must be an https URL of RFC 3986 characters"),
    ({"CustomDeliveryConfiguration": {"DeliveryUri": "https://hooks.example.com/x"}},
     "MessageConfiguration.CustomMessage: is required with a CustomDeliveryConfiguration"),
    ({"MessageConfiguration": {"CustomMessage": {"Data": "x"}}},
     "MessageConfiguration.CustomMessage: goes with a CustomDeliveryConfiguration"),
])
async def test_what_cannot_be_honoured_is_refused_naming_the_member(redis: Any, members: dict[str, Any],
                                                                    reason: str) -> None:
    segment = await seed(redis, 1)
    with pytest.raises(CampaignValidationError, match="^WriteCampaignRequest." + reason):
        await create(redis, segment, **members)


def test_an_application_hook_must_be_an_https_web_url() -> None:
    for hook, reason in ((models.CampaignHook(LambdaFunctionName="f"), "CampaignHook.LambdaFunctionName: Gateway runs no"),
                         (models.CampaignHook(WebUrl="http://x.example.com/"), "CampaignHook.WebUrl: must be an https")):
        with pytest.raises(BadRequest, match=reason):
            check_settings(models.WriteApplicationSettingsRequest(CampaignHook=hook))
    check_settings(models.WriteApplicationSettingsRequest(CampaignHook=models.CampaignHook()))  # removes the default


async def test_a_campaign_reaches_its_custom_channel_through_a_worker(redis: Any, peer: WebhookPeer, engine: Any,
                                                                      sink: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole way: a worker's scheduler runs the campaign, the EMAIL endpoints get their email through SMTP and
    the SMS ones (the custom delivery's EndpointTypes) reach the webhook through the engine, with their events."""
    monkeypatch.setenv("GATEWAY_WEBHOOK_SECRET", SECRET)
    segment = await seed(redis, 10)  # even: EMAIL, odd: SMS
    clock_now = dt.datetime.now(dt.UTC)
    camps = CampaignStore(redis, SegmentStore(redis), TemplateStore(redis), clock=lambda: clock_now)
    camp = await camps.create_campaign(APP, msgspec.convert({
        "Name": "c", "SegmentId": segment, "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {**EMAIL, "CustomMessage": {"Data": "custom!"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": peer.url("/custom"), "EndpointTypes": ["SMS"]}},
        models.WriteCampaignRequest))
    webhooks = {"allow_networks": ["127.0.0.1/32"], "ca_file": peer.ca_file}
    run = await engine(campaigns={"poll_ms": 20, "webhooks": webhooks})
    outcomes = await run.outcomes(10, timeout=20)
    await run.stop()
    got = {e["client"]["client_id"]: e["event_type"] for e in outcomes}
    assert got == {f"e{i:03d}": "_email.delivered" if i % 2 == 0 else "_custom.delivered" for i in range(10)}
    assert all(e["attributes"]["campaign_id"] == camp.Id for e in outcomes)
    assert len(sink.messages) == 5
    (body,) = hook_bodies(peer)
    assert sorted(body["Endpoints"]) == [f"e{i:03d}" for i in range(1, 10, 2)] and body["Data"] == "custom!"
