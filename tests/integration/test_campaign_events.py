"""EVENT campaigns against a real Redis: PutEvents records triggering a send through the run path (split, opt-out,
run metrics, campaign attributes), the engine's own events triggering a SYSTEM campaign in a running worker,
Pinpoint's five-minute drop on a mocked clock, redelivery and restart without a second send, and the compiled
filters following campaign writes."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.api.events import event_record
from gateway.campaigns import runs, triggers
from gateway.campaigns.listener import EventListener, idempotency_key
from gateway.campaigns.split import endpoint_cohort, plan_split
from gateway.campaigns.store import CampaignStore
from gateway.config import CampaignsConfig
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

APP = "evapp"
SEND = "gateway:send"
EVENTS = "gateway:events"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


async def seed(redis: aioredis.Redis, n: int) -> tuple[str, dict[str, int]]:
    """n EMAIL endpoints e000.. with list=news (the segment), plus `outsider` (not in it); e001 opted out."""
    items = [models.EndpointBatchItem(Id=f"e{i:03d}", ChannelType="EMAIL", Address=f"u{i:03d}@example.com",
                                      Attributes={"list": ["news"]}, OptOut="ALL" if i == 1 else None)
             for i in range(n)]
    items.append(models.EndpointBatchItem(Id="outsider", ChannelType="EMAIL", Address="o@example.com"))
    await EndpointStore(redis).update_endpoints_batch(APP, models.EndpointBatchRequest(Item=items))
    seg = await SegmentStore(redis).create(APP, msgspec.convert(
        {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
    eps = await EndpointStore(redis).get_many(APP, [f"e{i:03d}" for i in range(n)])
    return seg.Id, {ep.Id or "": endpoint_cohort(ep.Id or "", ep.CohortId) for ep in eps if ep is not None}


def campaigns(redis: aioredis.Redis, clock: Clock) -> CampaignStore:
    return CampaignStore(redis, SegmentStore(redis), TemplateStore(redis), clock=clock)


async def create(redis: aioredis.Redis, clock: Clock, segment: str, dimensions: dict[str, Any],
                 filter_type: str = "ENDPOINT", **members: Any) -> models.CampaignResponse:
    request = {
        "Name": "ev", "SegmentId": segment,
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "shop@gateway.test", "Title": "A", "HtmlBody": "<p>A</p>"}},
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "EVENT",
                     "EventFilter": {"FilterType": filter_type, "Dimensions": dimensions}},
        **members,
    }
    return await campaigns(redis, clock).create_campaign(APP, msgspec.convert(request, models.WriteCampaignRequest))


async def put_event(redis: aioredis.Redis, endpoint_id: str, event_type: str, arrival: dt.datetime,
                    **event: Any) -> str:
    """An events-stream entry exactly as PutEvents writes it."""
    ev = msgspec.convert({"EventType": event_type, "Timestamp": arrival.isoformat(), **event}, models.Event)
    record = event_record(APP, endpoint_id, models.PublicEndpoint(), ev, ms(arrival), "000000000000")
    entry = await redis.xadd(EVENTS, {"app": APP, "event_type": event_type, "record": json.dumps(record)})
    return entry.decode()


def listener(redis: aioredis.Redis, clock: Clock, consumer: str = "w1") -> EventListener:
    return EventListener(redis, producer=Producer(redis), consumer=consumer, clock=clock, config=CampaignsConfig())


async def enqueued(redis: aioredis.Redis) -> list[tuple[str, dict[str, str], str]]:
    """(endpoint id, Context, idempotency key) of every recipient in the ingest stream, in order."""
    out = []
    for _, fields in await redis.xrange(SEND):
        req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
        out += [(eid, req.Context or {}, fields.get(b"idempotency_key", b"").decode()) for eid in req.Endpoints or {}]
    return out


async def activity_metrics(redis: aioredis.Redis, clock: Clock, cid: str) -> dict[str, dict[str, str]]:
    acts = (await campaigns(redis, clock).list_activities(APP, cid, None, None)).Item
    return {a.TreatmentId or "": dict(a.ExecutionMetrics or {}) for a in acts}


async def test_putevents_records_send_the_campaign_to_their_endpoints_through_the_run_path(redis: Any) -> None:
    segment, cohorts = await seed(redis, 40)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]},
                                                "Attributes": {"sku": {"Values": ["42"]}}},
                        HoldoutPercent=20, AdditionalTreatments=[{"SizePercent": 30, "MessageConfiguration": {
                            "EmailMessage": {"FromAddress": "shop@gateway.test", "Title": "B", "HtmlBody": "<p>B</p>"}}}])
    for eid in cohorts:
        await put_event(redis, eid, "purchase", clock.now, Attributes={"sku": "42"})
    await put_event(redis, "e000", "purchase", clock.now, Attributes={"sku": "7"})  # attribute does not match
    await put_event(redis, "e000", "signup", clock.now)  # event type does not match
    await put_event(redis, "outsider", "purchase", clock.now, Attributes={"sku": "42"})  # not in the segment
    await put_event(redis, "ghost", "purchase", clock.now, Attributes={"sku": "42"})  # no such endpoint

    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    assert await lst.step(block_ms=1) == 44

    split = plan_split(camp.Id, 20, [30])
    group = {eid: split.group(c) for eid, c in cohorts.items()}
    expected = {eid: g for eid, g in group.items() if g >= 0 and eid != "e001"}  # e001 opted out
    got = await enqueued(redis)
    assert sorted(e for e, _, _ in got) == sorted(expected)  # each once, nobody else
    entry_ids = {}
    for eid, context, key in got:
        tid = expected[eid]
        assert context == {"campaign_id": camp.Id, "treatment_id": str(tid),
                           "campaign_activity_id": runs.activity_id(camp.Id, 0, tid)}
        entry_ids[eid] = key
    assert all(k.startswith(f"campaign-event:{camp.Id}:") for k in entry_ids.values())
    assert len(set(entry_ids.values())) == len(entry_ids)  # one idempotency key per event

    metrics = await activity_metrics(redis, clock, camp.Id)
    held = sum(1 for g in group.values() if g < 0)
    for tid in ("0", "1"):
        in_t = [e for e, g in group.items() if g == int(tid)]
        want = {"ENDPOINT_PRODUCED": 40, "TREATMENT_HOLDOUT": 40 - len(in_t), "FILTERED_OUT_BY_SEGMENT": 1}
        if "e001" in in_t:
            want["ENDPOINT_OPT_OUT"] = 1
        assert {k: int(v) for k, v in metrics[tid].items()} == want, (tid, held)
    state = (await campaigns(redis, clock).get_campaign(APP, camp.Id, None)).State
    assert state == models.CampaignState(CampaignStatus="EXECUTING")


async def test_a_trigger_five_minutes_after_the_event_is_dropped_with_a_metric_and_an_event(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    arrival = clock.now
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    await put_event(redis, "e000", "purchase", arrival)
    clock.now = arrival + dt.timedelta(seconds=300)  # exactly five minutes: still in time
    await lst.step(block_ms=1)
    assert [e for e, _, _ in await enqueued(redis)] == ["e000"]
    # the engine is held to the same five minutes: the request's deadline is the event's arrival + 300 s
    [(_, fields)] = await redis.xrange(SEND)
    assert int(fields[b"deadline_ms"]) == ms(arrival) + 300_000

    last = (await redis.xrevrange(EVENTS, count=1))[0][0]
    await put_event(redis, "e002", "purchase", arrival)  # handled a little more than five minutes after it arrived
    clock.now = arrival + dt.timedelta(seconds=300, milliseconds=1)
    await lst.step(block_ms=1)
    assert [e for e, _, _ in await enqueued(redis)] == ["e000"]  # nothing new enqueued
    tid = 0
    metrics = await activity_metrics(redis, clock, camp.Id)
    assert metrics["0"]["EVENT_EXPIRED"] == "1"
    acts = (await campaigns(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert (acts[0].TotalEndpointCount, acts[0].SuccessfulEndpointCount) == (2, 1)
    dropped = [json.loads(f[b"record"]) for _, f in await redis.xrange(EVENTS, min=f"({last.decode()}")
               if f[b"event_type"] == b"_campaign.send"]
    assert len(dropped) == 1
    assert dropped[0]["client"] == {"client_id": "e002"}
    assert dropped[0]["attributes"] == {"campaign_id": camp.Id, "treatment_id": "0", "campaign_send_status": "EXPIRED",
                                        "campaign_activity_id": runs.activity_id(camp.Id, 0, tid)}


async def test_redelivered_and_restarted_entries_send_nothing_twice(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    first = listener(redis, clock, consumer="w1")
    await first.consumer.ensure_group()
    entry = await put_event(redis, "e000", "purchase", clock.now)
    await put_event(redis, "e002", "purchase", clock.now)

    # w1 reads both entries and dies before handling them: they stay pending, and w1 restarted reads them first
    read = await first.consumer.read(10, 1)
    assert len(read) == 2
    restarted = listener(redis, clock, consumer="w1")
    assert await restarted.step(block_ms=1) == 2
    assert sorted(e for e, _, _ in await enqueued(redis)) == ["e000", "e002"]
    assert (await redis.xpending(EVENTS, "campaign-triggers"))["pending"] == 0

    # the same entries delivered again (a claim after an ack was lost): nothing is sent or counted twice
    before = await activity_metrics(redis, clock, camp.Id)
    await listener(redis, clock, consumer="w2").handle(read)
    assert sorted(e for e, _, _ in await enqueued(redis)) == ["e000", "e002"]
    assert await activity_metrics(redis, clock, camp.Id) == before

    # a worker that died between its enqueue and its marker: the redelivery enqueues again, with the same
    # idempotency key, which the dispatcher refuses as a DUPLICATE (tests/unit/test_dispatcher.py)
    await redis.delete(triggers.handled_key(APP, camp.Id, entry))
    await listener(redis, clock, consumer="w2").handle([r for r in read if r[0] == entry])
    keys = [k for e, _, k in await enqueued(redis) if e == "e000"]
    assert keys == [idempotency_key(camp.Id, entry)] * 2


async def test_event_campaign_limits_count_every_event_and_a_redelivery_once(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}}, Limits={"Total": 2, "Daily": 1})
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    first = await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)
    await put_event(redis, "e000", "purchase", clock.now)  # the same day: over Daily
    await lst.step(block_ms=1)
    assert [e for e, _, _ in await enqueued(redis)] == ["e000"]
    # the first event redelivered after a crash before its marker: admitted again, not counted a second time (its
    # message is enqueued again with the same idempotency key, which the dispatcher refuses as a DUPLICATE)
    await redis.delete(triggers.handled_key(APP, camp.Id, first))
    await lst.handle([(first, fields) for _, fields in await redis.xrange(EVENTS, first, first)])
    assert [e for e, _, _ in await enqueued(redis)] == ["e000", "e000"]
    clock.now += dt.timedelta(hours=25)  # the next day: the second message of Total 2, then no more
    await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)
    clock.now += dt.timedelta(hours=25)
    await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)
    assert [e for e, _, _ in await enqueued(redis)] == ["e000", "e000", "e000"]
    metrics = await activity_metrics(redis, clock, camp.Id)
    assert metrics["0"]["DAILY_CAP"] == "1" and metrics["0"]["CAMPAIGN_CAP"] == "1"


async def test_filters_follow_campaign_writes(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)  # no campaign yet: compiled as none
    assert await enqueued(redis) == []

    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)
    assert len(await enqueued(redis)) == 1

    store = campaigns(redis, clock)
    await store.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=True))
    await put_event(redis, "e000", "purchase", clock.now)
    await lst.step(block_ms=1)
    assert len(await enqueued(redis)) == 1  # paused: no trigger

    await store.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=False, Schedule=models.Schedule(
        StartTime="IMMEDIATE", Frequency="EVENT", EventFilter=models.CampaignEventFilter(
            FilterType="ENDPOINT", Dimensions=models.EventDimensions(EventType=models.SetDimension(Values=["refund"]))))))
    await put_event(redis, "e000", "purchase", clock.now)
    await put_event(redis, "e002", "refund", clock.now)
    await lst.step(block_ms=1)
    assert [e for e, _, _ in await enqueued(redis)][1:] == ["e002"]  # the new filter

    await store.delete_campaign(APP, camp.Id)
    await put_event(redis, "e000", "refund", clock.now)
    await lst.step(block_ms=1)
    assert len(await enqueued(redis)) == 2
    assert await redis.scard(triggers.events_key(APP)) == 0


async def test_an_engine_event_triggers_a_system_campaign_in_a_running_worker(redis: Any, engine: Any, sink: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["_email.delivered"]}}, filter_type="SYSTEM",
                        MessageConfiguration={"EmailMessage": {"FromAddress": "shop@gateway.test", "Title": "Thanks",
                                                               "HtmlBody": "<p>thanks</p>"}})
    run = await engine()
    await run.producer.send_messages(APP, {"Endpoints": {"e002": {}}, "MessageConfiguration": {"EmailMessage": {
        "SimpleEmail": {"Subject": {"Data": "Receipt"}, "TextPart": {"Data": "r"}}}}})
    # the receipt's _email.delivered triggers the campaign; its own _email.delivered does not trigger it again
    done = await run.outcomes(1, timeout=20, where=lambda e: e["attributes"].get("campaign_id") == camp.Id)
    assert done[0]["client"]["client_id"] == "e002" and done[0]["event_type"] == "_email.delivered"
    assert done[0]["attributes"]["treatment_id"] == "0"
    subjects = Counter(m[2].split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for m in sink.messages)
    assert subjects == Counter({b"Receipt": 1, b"Thanks": 1})
    assert run.worker.event_listener is not None and run.worker.event_listener.handled >= 2


@pytest.mark.parametrize("n", [20])
async def test_putevents_to_stream_entry_within_a_second(redis: Any, engine: Any, sink: Any, n: int) -> None:
    """Event-driven latency: the ingest-stream entry's id (Redis' clock) minus the events-stream entry's id, for
    events handled by a running worker's listener (no mocked clock)."""
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    run = await engine()
    sent: list[str] = []
    for _ in range(n):
        sent.append(await put_event(redis, "e000", "purchase", dt.datetime.now(dt.UTC)))
    await run.outcomes(n, timeout=30, where=lambda e: "campaign_id" in e["attributes"])
    by_key = {f[b"idempotency_key"].decode().rsplit(":", 1)[1]: i.decode() for i, f in await redis.xrange(SEND)}
    latencies = sorted(int(by_key[e].split("-")[0]) - int(e.split("-")[0]) for e in sent)
    assert latencies[-1] < 1000, latencies


async def test_event_campaign_sends_do_not_cascade_but_scheduled_ones_trigger(redis: Any) -> None:
    """Two SYSTEM campaigns on _email.delivered: the delivery of one's message must not trigger the other (they
    would trigger each other forever); the delivery of a scheduled campaign's message triggers both."""
    from gateway.events import message_record

    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    delivered = {"EventType": {"Values": ["_email.delivered"]}}
    a = await create(redis, clock, segment, delivered, filter_type="SYSTEM")
    b = await create(redis, clock, segment, delivered, filter_type="SYSTEM")
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()

    async def engine_delivered(endpoint_id: str, campaign_id: str) -> None:
        record = message_record(
            event_type="_email.delivered", app=APP, now_ms=ms(clock.now), message_id="m", request_id="r",
            channel_type="EMAIL", address="x@example.com", endpoint_id=endpoint_id, delivery_status="SUCCESSFUL",
            status_code=200, status_message="OK", attempt=1, trace_id=None,
            context={"campaign_id": campaign_id, "campaign_activity_id": "act", "treatment_id": "0"})
        await redis.xadd(EVENTS, {"app": APP, "event_type": "_email.delivered", "record": record})

    await engine_delivered("e000", a.Id)  # A's own message delivered: neither A nor B
    await engine_delivered("e002", "scheduled-campaign")  # a scheduled campaign's: both
    await lst.step(block_ms=1)
    got = sorted((eid, ctx["campaign_id"]) for eid, ctx, _ in await enqueued(redis))
    assert got == sorted([("e002", a.Id), ("e002", b.Id)])


# -- no EVENT campaign: the listener skips the stream ------------------------------------------------------------


async def group_info(redis: aioredis.Redis, group: str = "campaign-triggers") -> dict[str, Any]:
    [info] = [g for g in await redis.xinfo_groups(EVENTS) if g["name"].decode() == group]
    return {"last": info["last-delivered-id"].decode(), "pending": info["pending"]}


async def test_without_event_campaigns_the_listener_reads_nothing_yet_its_cursor_advances(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    old = [await put_event(redis, f"e00{i}", "purchase", clock.now) for i in (0, 2)]
    assert await lst.step(block_ms=1) == 0
    assert lst.handled == 0
    assert await group_info(redis) == {"last": old[-1], "pending": 0}

    # a campaign created afterwards triggers on the next event, not on the older ones
    clock.now += dt.timedelta(seconds=1)
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    assert await redis.hexists(triggers.EVENT_APPS_KEY, APP)
    new = await put_event(redis, "e000", "purchase", clock.now)
    assert await lst.step(block_ms=1) == 1
    assert [(e, k) for e, _, k in await enqueued(redis)] == [("e000", idempotency_key(camp.Id, new))]
    assert await group_info(redis) == {"last": new, "pending": 0}


async def test_a_skipping_listener_still_acknowledges_its_own_backlog(redis: Any) -> None:
    clock = Clock(dt.datetime.now(dt.UTC))
    first = listener(redis, clock)
    await first.consumer.ensure_group()
    await put_event(redis, "e000", "purchase", clock.now)
    assert len(await first.consumer.read(10, 1)) == 1  # read, then the worker died before acknowledging it
    assert (await group_info(redis))["pending"] == 1
    restarted = listener(redis, clock)
    assert await restarted.step(block_ms=1) == 1
    assert (await group_info(redis))["pending"] == 0
    assert await restarted.step(block_ms=1) == 0


async def test_the_cursor_never_moves_back(redis: Any) -> None:
    clock = Clock(dt.datetime.now(dt.UTC))
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    early = await put_event(redis, "e000", "purchase", clock.now)
    late = await put_event(redis, "e000", "purchase", clock.now)
    assert await lst._advance(keys=[EVENTS], args=["campaign-triggers", late]) == 1
    assert await lst._advance(keys=[EVENTS], args=["campaign-triggers", early]) == 0  # a slower worker's L
    assert (await group_info(redis))["last"] == late


async def test_a_stale_event_app_only_makes_the_listener_read(redis: Any) -> None:
    clock = Clock(dt.datetime.now(dt.UTC))
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    await redis.hset(triggers.EVENT_APPS_KEY, "gone-app", "token")
    last = await put_event(redis, "e000", "purchase", clock.now)
    assert await lst.step(block_ms=1) == 1
    assert lst.handled == 1
    assert await group_info(redis) == {"last": last, "pending": 0}
    assert await enqueued(redis) == []


async def test_the_app_leaves_the_event_apps_with_its_last_event_campaign(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    store = campaigns(redis, clock)
    one = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    two = await create(redis, clock, segment, {"EventType": {"Values": ["refund"]}})
    await store.delete_campaign(APP, one.Id)
    assert await redis.hexists(triggers.EVENT_APPS_KEY, APP)  # `two` is left
    await store.update_campaign(APP, two.Id, models.WriteCampaignRequest(Schedule=models.Schedule(
        StartTime="IMMEDIATE", Frequency="ONCE")))
    assert not await redis.hexists(triggers.EVENT_APPS_KEY, APP)  # updated to another Frequency

    three = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    assert await redis.hexists(triggers.EVENT_APPS_KEY, APP)
    await store.delete_campaign(APP, three.Id)
    assert await redis.hlen(triggers.EVENT_APPS_KEY) == 0


async def test_a_write_in_flight_keeps_the_app_among_the_event_apps(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    store = campaigns(redis, clock)
    one = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    # another CreateCampaign marked the app and has not committed yet (or was refused): its token is not the
    # application's committed one, so deleting `one` must leave the app in
    await store._mark_event_app(APP)
    await store.delete_campaign(APP, one.Id)
    assert await redis.hexists(triggers.EVENT_APPS_KEY, APP)


async def test_a_campaign_an_update_made_event_ignores_events_from_before_the_update(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    store = campaigns(redis, clock)
    camp = await store.create_campaign(APP, msgspec.convert({
        "Name": "later", "SegmentId": segment,
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "shop@gateway.test", "Title": "A", "HtmlBody": "A"}},
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}}, models.WriteCampaignRequest))
    lst = listener(redis, clock)
    await lst.consumer.ensure_group()
    clock.now += dt.timedelta(seconds=1)
    before = await put_event(redis, "e000", "purchase", clock.now)  # after the creation, before the update
    clock.now += dt.timedelta(seconds=1)
    await store.update_campaign(APP, camp.Id, models.WriteCampaignRequest(Schedule=models.Schedule(
        StartTime="IMMEDIATE", Frequency="EVENT", EventFilter=models.CampaignEventFilter(
            FilterType="ENDPOINT", Dimensions=models.EventDimensions(EventType=models.SetDimension(Values=["purchase"]))))))
    after = await put_event(redis, "e002", "purchase", clock.now)
    assert await lst.step(block_ms=1) == 2  # the listener lagged: both entries are read
    assert [(e, k) for e, _, k in await enqueued(redis)] == [("e002", idempotency_key(camp.Id, after))]
    assert before < after


async def test_an_event_campaign_is_completed_once_its_end_time_has_passed(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(dt.datetime.now(dt.UTC))
    end = (clock.now + dt.timedelta(hours=1)).isoformat()
    camp = await create(redis, clock, segment, {"EventType": {"Values": ["purchase"]}})
    camp = await campaigns(redis, clock).update_campaign(APP, camp.Id, msgspec.convert(
        {"Schedule": {**msgspec.to_builtins(camp.Schedule), "EndTime": end}}, models.WriteCampaignRequest))
    assert camp.State == models.CampaignState(CampaignStatus="SCHEDULED")
    clock.now += dt.timedelta(hours=1)  # EndTime: Pinpoint's listener sends nothing more, and says COMPLETED
    got = await campaigns(redis, clock).get_campaign(APP, camp.Id, None)
    assert got.State == got.DefaultState == models.CampaignState(CampaignStatus="COMPLETED")
