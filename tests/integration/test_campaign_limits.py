"""Campaign limits against a real Redis on a mocked clock: Total across recurrences, Daily over a rolling 24 h
window, counters shared exactly by two schedulers, MaximumDuration cutting a slow or late run short, the
application's defaults, duplicate addresses, and a treatment running on its own Schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway import models
from gateway.api.appstore import AppStore
from gateway.campaigns import runs
from gateway.campaigns.runner import Scheduler
from gateway.campaigns.split import plan_split
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from tests.integration.test_campaign_runs import (
    APP,
    T0,
    Clock,
    create,
    email_message,
    enqueued,
    scheduler,
    seed,
    store,
)


async def metrics(redis: aioredis.Redis, clock: Clock, cid: str) -> list[dict[str, str]]:
    """Each run's run metrics (treatment 0), oldest run first."""
    acts = (await store(redis, clock).list_activities(APP, cid, None, None)).Item
    return [a.ExecutionMetrics or {} for a in reversed(acts) if a.TreatmentId == "0"]


async def app_limits(redis: aioredis.Redis, **limits: int) -> None:
    await AppStore(redis, "").update_settings(APP, models.WriteApplicationSettingsRequest(
        Limits=models.CampaignLimits(**limits)))


async def test_total_caps_an_endpoint_across_the_recurrences(redis: Any) -> None:
    segment, _ = await seed(redis, 4)
    clock = Clock(T0)
    start = T0 + dt.timedelta(minutes=5)
    camp = await create(redis, clock, segment, Limits={"Total": 2},
                        Schedule={"StartTime": start.isoformat(), "Frequency": "DAILY"})
    s = scheduler(redis, clock)
    for day in range(4):
        clock.now = start + dt.timedelta(days=day)
        assert await s.tick() == 1
    assert Counter(e for e, _ in await enqueued(redis)) == Counter({f"e{i:03d}": 2 for i in range(4)})
    got = await metrics(redis, clock, camp.Id)
    assert [m.get("CAMPAIGN_CAP") for m in got] == [None, None, "4", "4"]
    acts = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert [a.SuccessfulEndpointCount for a in reversed(acts)] == [4, 4, 0, 0]
    cap_keys = [k async for k in redis.scan_iter(match=f"gw:\\{{{APP}\\}}:camp:{camp.Id}:cap:*")]
    assert len(cap_keys) == 4  # kept for Total (no expiry) ...
    assert set(await asyncio.gather(*(redis.ttl(k) for k in cap_keys))) == {-1}
    await store(redis, clock).delete_campaign(APP, camp.Id)
    assert [k async for k in redis.scan_iter(match=f"gw:\\{{{APP}\\}}:camp:{camp.Id}:cap:*")] == []  # ... until deleted


async def test_daily_counts_over_a_rolling_24_hours(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(T0)
    start = T0 + dt.timedelta(minutes=1)
    camp = await create(redis, clock, segment, Limits={"Daily": 2},
                        Schedule={"StartTime": start.isoformat(), "Frequency": "HOURLY"})
    s = scheduler(redis, clock)
    sent_per_run = []
    for hour in range(27):
        clock.now = start + dt.timedelta(hours=hour)
        before = len(await enqueued(redis))
        assert await s.tick() == 1
        sent_per_run.append(len(await enqueued(redis)) - before)
    # hours 0 and 1 send; 2..23 are capped; at 24 the send of hour 0 has left the window, at 25 hour 1's,
    # and at 26 the two of hours 24 and 25 are within it again
    assert sent_per_run == [3, 3] + [0] * 22 + [3, 3, 0]
    got = await metrics(redis, clock, camp.Id)
    assert [m.get("DAILY_CAP") for m in got] == [None, None] + ["3"] * 22 + [None, None, "3"]


async def test_the_applications_daily_is_shared_exactly_by_two_schedulers(redis: Any) -> None:
    """The application's Daily counts every campaign's messages: two campaigns on one segment, run at once by two
    workers interleaving chunk by chunk, reach each endpoint once between them."""
    segment, _ = await seed(redis, 250)
    clock = Clock(T0)
    await app_limits(redis, Daily=1)
    one = await create(redis, clock, segment)
    two = await create(redis, clock, segment, MessageConfiguration=email_message("B"))
    a, b = scheduler(redis, clock, chunk_requests=1), scheduler(redis, clock, chunk_requests=1)
    ran = await asyncio.gather(a.tick(), b.tick())
    assert sum(ran) >= 2  # each campaign run by one of them (a lease taken after a run ended runs nothing)
    counts = Counter(e for e, _ in await enqueued(redis))
    assert counts == Counter({f"e{i:03d}": 1 for i in range(250)})  # nobody twice, nobody left out
    capped = [int((await metrics(redis, clock, c.Id))[0].get("DAILY_CAP", "0")) for c in (one, two)]
    assert sum(capped) == 250


async def test_a_campaigns_own_limits_override_the_applications(redis: Any) -> None:
    segment, _ = await seed(redis, 5)
    clock = Clock(T0)
    await app_limits(redis, Daily=1, Total=1)
    start = T0 + dt.timedelta(minutes=1)
    defaults = await create(redis, clock, segment, Schedule={"StartTime": start.isoformat(), "Frequency": "HOURLY"})
    own = await create(redis, clock, segment, Limits={"Daily": 3, "Total": 0},
                       Schedule={"StartTime": start.isoformat(), "Frequency": "HOURLY"})
    s = scheduler(redis, clock)
    for hour in range(4):
        clock.now = start + dt.timedelta(hours=hour)
        assert await s.tick() == 2
    by_campaign = Counter(ctx["campaign_id"] for _, ctx in await enqueued(redis))
    # the application's Daily of 1: the campaign without limits reaches each endpoint once in its first run (or
    # the other campaign got there first); the other takes its own Daily of 3 instead, Total 0 being no limit
    assert by_campaign[own.Id] == 3 * 5
    assert by_campaign[defaults.Id] <= 5
    assert [m.get("DAILY_CAP") for m in await metrics(redis, clock, own.Id)] == [None, None, None, "5"]
    capped = [m.get("DAILY_CAP") or m.get("CAMPAIGN_CAP") for m in await metrics(redis, clock, defaults.Id)]
    assert capped[1:] == ["5", "5", "5"]


async def test_maximum_duration_stops_a_slow_run_and_counts_the_rest_expired(redis: Any) -> None:
    segment, _ = await seed(redis, 100)
    clock = Clock(T0)
    camp = await create(redis, clock, segment, Limits={"MessagesPerSecond": 1, "MaximumDuration": 60})
    t = [0.0]

    async def sleep(seconds: float) -> None:  # the wall clock moves with the pacing
        t[0] += seconds
        clock.now = T0 + dt.timedelta(seconds=t[0])

    s = Scheduler(redis, producer=Producer(redis), clock=clock, sleep=sleep, monotonic=lambda: t[0])
    assert await s.tick() == 1
    sent = [e for e, _ in await enqueued(redis)]
    assert len(sent) == 61  # one per second from 0 s to 60 s after the scheduled start, inclusive
    [act] = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert act.State == "COMPLETED" and act.SuccessfulEndpointCount == 61
    assert act.ExecutionMetrics is not None and act.ExecutionMetrics["EXPIRED"] == "39"


async def test_maximum_duration_expires_a_run_that_starts_too_late(redis: Any) -> None:
    segment, _ = await seed(redis, 5)
    clock = Clock(T0)
    start = T0 + dt.timedelta(hours=1)
    camp = await create(redis, clock, segment, Limits={"MaximumDuration": 120},
                        Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"})
    clock.now = start + dt.timedelta(seconds=121)  # no worker ran until now
    assert await scheduler(redis, clock).tick() == 1
    assert await enqueued(redis) == []
    assert (await metrics(redis, clock, camp.Id))[0]["EXPIRED"] == "5"


async def deadlines(redis: aioredis.Redis) -> list[tuple[list[str], int | None]]:
    """(endpoint ids, deadline_ms) of every request in the stream, in order."""
    out = []
    for _, fields in await redis.xrange("gateway:send"):
        req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
        raw = fields.get(b"deadline_ms")
        out.append((sorted(req.Endpoints or {}), int(raw) if raw is not None else None))
    return out


async def test_every_request_carries_its_maximum_duration_as_the_engines_deadline(redis: Any) -> None:
    segment, _ = await seed(redis, 5)
    clock = Clock(T0)
    start = T0 + dt.timedelta(hours=1)
    await create(redis, clock, segment, Limits={"MaximumDuration": 120},
                 Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"})
    clock.now = start + dt.timedelta(seconds=30)  # a worker 30 s late: 90 s left
    assert await scheduler(redis, clock).tick() == 1
    end = int((start + dt.timedelta(seconds=120)).timestamp() * 1000)
    assert await deadlines(redis) == [(["e000", "e001", "e002", "e003", "e004"], end)]


async def test_a_local_time_runs_requests_carry_each_zones_own_deadline(redis: Any) -> None:
    zones = ["Europe/Berlin", "America/New_York"]
    segment, _ = await seed(redis, 4, lambda i: zones[i % 2])
    clock = Clock(T0)
    await create(redis, clock, segment, Limits={"MaximumDuration": 600}, Schedule={
        "StartTime": "2030-03-02T09:00:00", "Timezone": "UTC+01", "Frequency": "ONCE", "IsLocalTime": True})
    s = scheduler(redis, clock)
    for now in (dt.datetime(2030, 3, 2, 8, 0, tzinfo=dt.UTC), dt.datetime(2030, 3, 2, 14, 0, tzinfo=dt.UTC)):
        clock.now = now
        assert await s.tick() == 1
    assert await deadlines(redis) == [
        (["e000", "e002"], int(dt.datetime(2030, 3, 2, 8, 10, tzinfo=dt.UTC).timestamp() * 1000)),
        (["e001", "e003"], int(dt.datetime(2030, 3, 2, 14, 10, tzinfo=dt.UTC).timestamp() * 1000))]


async def test_without_a_maximum_duration_requests_have_no_deadline(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(T0)
    await create(redis, clock, segment)
    assert await scheduler(redis, clock).tick() == 1
    assert [d for _, d in await deadlines(redis)] == [None]


async def test_a_takeover_does_not_count_a_repeated_chunk_twice(redis: Any) -> None:
    """The limits' counters are idempotent per run: a chunk enqueued again after a takeover passes again, and
    the endpoints in it are counted once towards Total."""
    segment, _ = await seed(redis, 150)
    clock = Clock(T0)
    start = T0 + dt.timedelta(minutes=1)
    camp = await create(redis, clock, segment, Limits={"Total": 1},
                        Schedule={"StartTime": start.isoformat(), "Frequency": "DAILY"})
    clock.now = start

    class Dies:
        """Enqueues its first chunk, then dies before the cursor is written."""

        def __init__(self) -> None:
            self.dead = asyncio.Event()

        async def send_many(self, app: str, requests: Any, **kw: Any) -> list[str]:
            ids = await Producer(redis).send_many(app, requests, **kw)
            self.dead.set()
            await asyncio.Event().wait()
            return ids

    dying = scheduler(redis, clock, Dies(), chunk_requests=1)
    task = asyncio.create_task(dying.tick())
    await dying.producer.dead.wait()  # type: ignore[attr-defined]
    await redis.delete(runs.lease_key(APP, camp.Id))
    assert await scheduler(redis, clock, chunk_requests=1).tick() == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    counts = Counter(e for e, _ in await enqueued(redis))
    assert len(counts) == 150 and sorted(counts.values()).count(2) == 100  # the repeated chunk passed again
    got = await metrics(redis, clock, camp.Id)
    assert "CAMPAIGN_CAP" not in got[0]
    clock.now = start + dt.timedelta(days=1)
    assert await scheduler(redis, clock).tick() == 1
    assert (await metrics(redis, clock, camp.Id))[1]["CAMPAIGN_CAP"] == "150"


async def test_two_active_endpoints_with_one_address_get_one_message(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    eps = EndpointStore(redis)
    # a second EMAIL endpoint with e000's address (the store makes e000 INACTIVE), then e000 re-activated without
    # writing its address: both ACTIVE with one address; and e001's user has an SMS endpoint too
    await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
        models.EndpointBatchItem(Id="e900", ChannelType="EMAIL", Address="u000@example.com",
                                 Attributes={"list": ["news"]}, User=models.EndpointUser(UserId="u0")),
        models.EndpointBatchItem(Id="e901", ChannelType="SMS", Address="+14155550101",
                                 Attributes={"list": ["news"]}, User=models.EndpointUser(UserId="u1")),
    ]))
    await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
        models.EndpointBatchItem(Id="e000", EndpointStatus="ACTIVE", EffectiveDate="2030-01-01T00:00:00Z")]))
    assert [e.EndpointStatus for e in await eps.get_many(APP, ["e000", "e900"]) if e] == ["ACTIVE", "ACTIVE"]
    clock = Clock(T0)
    camp = await create(redis, clock, segment, MessageConfiguration={
        **email_message("A"), "SMSMessage": {"Body": "A"}})
    assert await scheduler(redis, clock).tick() == 1
    # one message per address: e000, written last; a user's endpoints on two channels get one each
    assert sorted(e for e, _ in await enqueued(redis)) == ["e000", "e001", "e002", "e901"]
    [m] = await metrics(redis, clock, camp.Id)
    assert m["DUPLICATE_ENDPOINT"] == "1" and m["ENDPOINT_PRODUCED"] == "5"


async def test_a_treatment_runs_on_its_own_schedule(redis: Any) -> None:
    segment, cohorts = await seed(redis, 60)
    clock = Clock(T0)
    start, later = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=3)
    camp = await create(redis, clock, segment, Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"},
                        AdditionalTreatments=[{"SizePercent": 50, "MessageConfiguration": email_message("B"),
                                               "Schedule": {"StartTime": later.isoformat(), "Frequency": "ONCE"}}])
    split = plan_split(camp.Id, None, [50])
    group = {eid: split.group(c) for eid, c in cohorts.items()}
    s = scheduler(redis, clock)
    clock.now = start
    assert await s.tick() == 1
    first = {e: ctx["treatment_id"] for e, ctx in await enqueued(redis)}
    assert first == {e: "0" for e, g in group.items() if g == 0}
    assert await redis.zscore(runs.due_key(APP), camp.Id) == runs.ms(later)  # back for treatment 1 at its start
    clock.now = later - dt.timedelta(seconds=1)
    assert await s.tick() == 0
    clock.now = later
    assert await s.tick() == 1
    both = {e: ctx["treatment_id"] for e, ctx in await enqueued(redis)}
    assert both == {e: str(g) for e, g in group.items()}
    answered = await store(redis, clock).get_campaign(APP, camp.Id, None)
    assert answered.State == models.CampaignState(CampaignStatus="COMPLETED")


async def test_a_treatment_observes_its_own_quiet_time(redis: Any) -> None:
    segment, cohorts = await seed(redis, 40, lambda i: "Europe/Berlin")
    clock = Clock(T0)  # 12:00 UTC = 13:00 in Berlin
    camp = await create(redis, clock, segment, AdditionalTreatments=[
        {"SizePercent": 50, "MessageConfiguration": email_message("B"), "Schedule": {
            "StartTime": "IMMEDIATE", "Frequency": "ONCE", "QuietTime": {"Start": "12:00", "End": "14:00"}}}])
    split = plan_split(camp.Id, None, [50])
    assert await scheduler(redis, clock).tick() == 1
    sent = {e for e, _ in await enqueued(redis)}
    assert sent == {e for e, c in cohorts.items() if split.group(c) == 0}
    acts = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    quiet = {a.TreatmentId: (a.ExecutionMetrics or {}).get("QUIET_TIME") for a in acts}
    assert quiet == {"0": None, "1": str(sum(1 for c in cohorts.values() if split.group(c) == 1))}



async def test_of_two_active_endpoints_with_one_address_the_one_written_last_wins_over_a_smaller_id(
    redis: Any,
) -> None:
    """The run decides duplicates by the endpoints it loads (runner.Member): EffectiveDate included, so the
    endpoint written last is messaged even when the other one has the smaller Id."""
    segment, _ = await seed(redis, 2)
    eps = EndpointStore(redis)
    await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
        models.EndpointBatchItem(Id="e900", ChannelType="EMAIL", Address="u000@example.com",
                                 Attributes={"list": ["news"]}, EffectiveDate="2031-01-01T00:00:00Z")]))
    await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
        models.EndpointBatchItem(Id="e000", EndpointStatus="ACTIVE", EffectiveDate="2030-01-01T00:00:00Z")]))
    clock = Clock(T0)
    camp = await create(redis, clock, segment, MessageConfiguration=email_message("A"))
    assert await scheduler(redis, clock).tick() == 1
    assert sorted(e for e, _ in await enqueued(redis)) == ["e001", "e900"]
    [m] = await metrics(redis, clock, camp.Id)
    assert m["DUPLICATE_ENDPOINT"] == "1" and m["ENDPOINT_PRODUCED"] == "3"
