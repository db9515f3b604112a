"""Campaign runs against a real Redis: the scheduler inside a worker sending an A/B campaign with a holdout through
the sandbox SMTP, scheduled and recurring runs on a mocked clock, the lease between workers, a takeover after a
worker dies mid-run, pause and delete stopping a run, local-time waves and MessagesPerSecond pacing."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns import runs
from gateway.campaigns.runner import Scheduler
from gateway.campaigns.split import endpoint_cohort, plan_split
from gateway.campaigns.store import CampaignStore
from gateway.config import CampaignsConfig
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

APP = "campapp"
SEND = "gateway:send"
T0 = dt.datetime(2030, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A settable wall clock for the store and the scheduler."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def email_message(subject: str) -> dict[str, Any]:
    return {"EmailMessage": {"FromAddress": "news@gateway.test", "Title": subject, "HtmlBody": f"<p>{subject}</p>"}}


async def seed(redis: aioredis.Redis, n: int, zones: Callable[[int], str | None] = lambda i: None) -> tuple[str, dict[str, int]]:
    """n EMAIL endpoints e000.. in a segment; returns the segment id and each endpoint's CohortId."""
    items = [models.EndpointBatchItem(
        Id=f"e{i:03d}", ChannelType="EMAIL", Address=f"u{i:03d}@example.com",
        Attributes={"list": ["news"]},
        Demographic=models.EndpointDemographic(Timezone=zones(i)) if zones(i) else None,
    ) for i in range(n)]
    for i in range(0, n, 100):
        await EndpointStore(redis).update_endpoints_batch(APP, models.EndpointBatchRequest(Item=items[i : i + 100]))
    seg = await SegmentStore(redis).create(APP, msgspec.convert(
        {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
    eps = await EndpointStore(redis).get_many(APP, [f"e{i:03d}" for i in range(n)])
    return seg.Id, {ep.Id or "": endpoint_cohort(ep.Id or "", ep.CohortId) for ep in eps if ep is not None}


def store(redis: aioredis.Redis, clock: Callable[[], dt.datetime]) -> CampaignStore:
    return CampaignStore(redis, SegmentStore(redis), TemplateStore(redis), clock=clock)


async def create(redis: aioredis.Redis, clock: Clock, segment: str, **members: Any) -> models.CampaignResponse:
    request = {"Name": "c", "SegmentId": segment, "MessageConfiguration": email_message("A"),
               "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}, **members}
    return await store(redis, clock).create_campaign(APP, msgspec.convert(request, models.WriteCampaignRequest))


def scheduler(redis: aioredis.Redis, clock: Callable[[], dt.datetime], producer: Any = None, **cfg: Any) -> Scheduler:
    return Scheduler(redis, producer=producer or Producer(redis), clock=clock, config=CampaignsConfig(**cfg))


async def enqueued(redis: aioredis.Redis) -> list[tuple[str, dict[str, str]]]:
    """(endpoint id, Context) of every recipient in the stream's requests, in order."""
    out = []
    for _, fields in await redis.xrange(SEND):
        req = msgspec.json.decode(fields[b"request"], type=models.MessageRequest)
        out += [(eid, req.Context or {}) for eid in req.Endpoints or {}]
    return out


async def test_a_worker_runs_an_ab_campaign_with_a_holdout_end_to_end(redis: Any, engine: Any, sink: Any) -> None:
    segment, cohorts = await seed(redis, 120)
    clock = Clock(dt.datetime.now(dt.UTC))
    camp = await create(redis, clock, segment, HoldoutPercent=10, AdditionalTreatments=[
        {"SizePercent": 40, "TreatmentName": "B", "MessageConfiguration": email_message("B")}])
    split = plan_split(camp.Id, 10, [40])
    group = {eid: split.group(c) for eid, c in cohorts.items()}
    expected = {eid: "AB"[g] for eid, g in group.items() if g >= 0}
    assert 0 < len(expected) < 120 and set(expected.values()) == {"A", "B"}

    run = await engine(campaigns={"poll_ms": 20})  # the worker's own scheduler, real clock
    events = await run.outcomes(len(expected), timeout=20)
    await run.stop()  # the run finished writing before the worker stopped: outcomes imply every chunk was enqueued

    got = Counter()
    subjects = {}
    for _, rcpt, data in sink.messages:
        eid = "e" + rcpt.split("@")[0][1:]
        got[eid] += 1
        subjects[eid] = email.message_from_bytes(data)["Subject"]
    assert got == Counter(dict.fromkeys(expected, 1))  # every non-held-out endpoint exactly once, nobody else
    assert subjects == expected  # each its own treatment's message
    by_endpoint = {e["client"]["client_id"]: e["attributes"] for e in events}
    for eid, letter in expected.items():
        attrs = by_endpoint[eid]
        assert attrs["campaign_id"] == camp.Id and attrs["treatment_id"] == ("0" if letter == "A" else "1")
        assert attrs["campaign_activity_id"] == runs.activity_id(camp.Id, 0, int(attrs["treatment_id"]))

    camps = store(redis, clock)
    assert (await camps.get_campaign(APP, camp.Id, None)).State == models.CampaignState(CampaignStatus="COMPLETED")
    acts = (await camps.list_activities(APP, camp.Id, None, None)).Item
    assert [(a.TreatmentId, a.State, a.Result) for a in acts] == [("0", "COMPLETED", "SUCCESS"), ("1", "COMPLETED", "SUCCESS")]
    for a in acts:
        n = sum(1 for g in group.values() if g == int(a.TreatmentId or 0))
        assert a.TotalEndpointCount == a.SuccessfulEndpointCount == n
        assert a.ExecutionMetrics is not None and a.ExecutionMetrics["ENDPOINT_PRODUCED"] == "120"
        assert int(a.ExecutionMetrics["TREATMENT_HOLDOUT"]) == 120 - n
        assert a.Start and a.End and a.ScheduledStart == camp.CreationDate


async def test_a_scheduled_campaign_runs_once_the_clock_passes_its_start(redis: Any) -> None:
    segment, _ = await seed(redis, 30)
    clock = Clock(T0)
    start = T0 + dt.timedelta(hours=2)
    camp = await create(redis, clock, segment, Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"})
    s = scheduler(redis, clock)
    clock.now = start - dt.timedelta(seconds=1)
    assert await s.tick() == 0 and await redis.exists(SEND) == 0
    clock.now = start
    assert await s.tick() == 1
    assert sorted(e for e, _ in await enqueued(redis)) == [f"e{i:03d}" for i in range(30)]
    answered = await store(redis, clock).get_campaign(APP, camp.Id, None)
    assert answered.State == models.CampaignState(CampaignStatus="COMPLETED")
    clock.now = start + dt.timedelta(days=1)
    assert await s.tick() == 0 and len(await enqueued(redis)) == 30  # a ONCE campaign runs once


async def test_a_recurring_campaign_runs_again_at_its_next_run_until_its_end(redis: Any) -> None:
    segment, _ = await seed(redis, 5)
    clock = Clock(T0)
    start, end = T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(days=2, minutes=10)
    camp = await create(redis, clock, segment, Schedule={
        "StartTime": start.isoformat(), "EndTime": end.isoformat(), "Frequency": "DAILY"})
    camps, s = store(redis, clock), scheduler(redis, clock)
    clock.now = start
    assert await s.tick() == 1
    assert (await camps.get_campaign(APP, camp.Id, None)).State == models.CampaignState(CampaignStatus="PENDING_NEXT_RUN")
    assert await redis.zscore(runs.due_key(APP), camp.Id) == runs.ms(start + dt.timedelta(days=1))
    clock.now = start + dt.timedelta(hours=23)
    assert await s.tick() == 0
    clock.now = start + dt.timedelta(days=1)
    assert await s.tick() == 1
    clock.now = start + dt.timedelta(days=2)
    assert await s.tick() == 1
    assert len(await enqueued(redis)) == 15  # three runs of 5
    assert (await camps.get_campaign(APP, camp.Id, None)).State == models.CampaignState(CampaignStatus="COMPLETED")
    acts = (await camps.list_activities(APP, camp.Id, None, None)).Item
    assert [a.ScheduledStart for a in acts] == [
        f"2030-03-0{d}T12:05:00.000Z" for d in (3, 2, 1)]  # newest run first
    assert {a.Id for a in acts} == {runs.activity_id(camp.Id, n, 0) for n in range(3)}
    assert await redis.zscore(runs.due_key(APP), camp.Id) is None


async def test_two_workers_exactly_one_runs_a_run(redis: Any) -> None:
    segment, _ = await seed(redis, 250)
    clock = Clock(T0)
    await create(redis, clock, segment)
    a, b = scheduler(redis, clock, chunk_requests=1), scheduler(redis, clock, chunk_requests=1)
    ran = await asyncio.gather(a.tick(), b.tick())
    assert sorted(ran) == [0, 1]
    ids = [e for e, _ in await enqueued(redis)]
    assert sorted(ids) == [f"e{i:03d}" for i in range(250)]  # once each


class Hanging:
    """A producer that enqueues its first `good` batches, then enqueues one more and hangs (a worker dying
    between its XADDs and its cursor write)."""

    def __init__(self, producer: Producer, good: int) -> None:
        self.producer, self.good = producer, good
        self.hung = asyncio.Event()

    async def send_many(self, app: str, requests: Any, **kw: Any) -> list[str]:
        ids = await self.producer.send_many(app, requests, **kw)
        self.good -= 1
        if self.good < 0:
            self.hung.set()
            await asyncio.Event().wait()  # never returns: the worker is "dead" here
        return ids


async def test_a_takeover_after_the_lease_expires_repeats_at_most_one_chunk(redis: Any) -> None:
    segment, _ = await seed(redis, 350)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    dying = scheduler(redis, clock, Hanging(Producer(redis), good=1), chunk_requests=1)
    task = asyncio.create_task(dying.tick())
    await dying.producer.hung.wait()  # type: ignore[attr-defined]  # "dead": it never runs again nor gives the lease back
    assert await scheduler(redis, clock).tick() == 0  # the lease still holds
    await redis.delete(runs.lease_key(APP, camp.Id))  # the lease expires
    assert await scheduler(redis, clock, chunk_requests=1).tick() == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    ids = [e for e, _ in await enqueued(redis)]
    counts = Counter(ids)
    assert set(counts) == {f"e{i:03d}" for i in range(350)}  # nothing skipped
    assert sorted(counts.values()).count(2) == 100 and max(counts.values()) == 2  # the one chunk in flight, twice
    acts = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert [(a.State, a.SuccessfulEndpointCount) for a in acts] == [("COMPLETED", 350)]


async def test_a_worker_whose_lease_was_taken_writes_nothing_more(redis: Any) -> None:
    segment, _ = await seed(redis, 300)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    gate = asyncio.Event()
    taken = asyncio.Event()

    class Slow:
        async def send_many(self, app: str, requests: Any, **kw: Any) -> list[str]:
            taken.set()
            await gate.wait()
            return await Producer(redis).send_many(app, requests, **kw)

    stale = scheduler(redis, clock, Slow(), chunk_requests=1)
    task = asyncio.create_task(stale.tick())
    await taken.wait()
    await redis.delete(runs.lease_key(APP, camp.Id))  # its lease expired while it was stuck
    assert await scheduler(redis, clock, chunk_requests=1).tick() == 1  # another worker runs the whole run
    gate.set()
    assert await task == 1  # the stale one enqueued its chunk, then found the lease gone and stopped
    counts = Counter(e for e, _ in await enqueued(redis))
    assert len(counts) == 300 and sum(counts.values()) == 400  # its one in-flight chunk is the only repeat
    record = await redis.hgetall(runs.run_key(APP, camp.Id, 0))
    assert record[b"t0:sent"] == b"300" and record[b"state"] == b"COMPLETED"


@pytest.mark.parametrize("action", ["pause", "delete"])
async def test_pause_or_delete_stops_a_run_in_progress(redis: Any, action: str) -> None:
    segment, _ = await seed(redis, 250)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    camps = store(redis, clock)

    class Interrupting:
        async def send_many(self, app: str, requests: Any, **kw: Any) -> list[str]:
            ids = await Producer(redis).send_many(app, requests, **kw)
            if action == "pause":
                await camps.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=True))
            elif await redis.exists(runs.run_key(APP, camp.Id, 0)):
                await camps.delete_campaign(APP, camp.Id)
            return ids

    assert await scheduler(redis, clock, Interrupting(), chunk_requests=1).tick() == 1
    assert len(await enqueued(redis)) == 100  # stopped after the chunk in flight
    if action == "delete":
        assert await redis.exists(runs.run_key(APP, camp.Id, 0), runs.lease_key(APP, camp.Id)) == 0
        assert await redis.zscore(runs.due_key(APP), camp.Id) is None
        return
    paused = await camps.get_campaign(APP, camp.Id, None)
    assert paused.State == models.CampaignState(CampaignStatus="PAUSED")
    [act] = (await camps.list_activities(APP, camp.Id, None, None)).Item
    assert (act.State, act.SuccessfulEndpointCount) == ("PAUSED", 100)
    assert await scheduler(redis, clock).tick() == 0  # paused: not due
    await camps.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=False))
    assert await scheduler(redis, clock).tick() == 1  # resumed from its cursor
    counts = Counter(e for e, _ in await enqueued(redis))
    assert len(counts) == 250 and set(counts.values()) == {1}


async def test_a_local_time_run_reaches_each_zone_at_its_wall_time(redis: Any) -> None:
    zones = ["Europe/Berlin", "America/New_York", None]  # UTC+1, UTC-5, no zone
    segment, _ = await seed(redis, 9, lambda i: zones[i % 3])
    clock = Clock(T0)
    wall = "2030-03-02T09:00:00"
    camp = await create(redis, clock, segment, Schedule={
        "StartTime": wall, "Timezone": "UTC+01", "Frequency": "ONCE", "IsLocalTime": True})
    s = scheduler(redis, clock)
    berlin = dt.datetime(2030, 3, 2, 8, 0, tzinfo=dt.UTC)
    new_york = dt.datetime(2030, 3, 2, 14, 0, tzinfo=dt.UTC)
    clock.now = berlin
    assert await s.tick() == 1
    assert sorted(e for e, _ in await enqueued(redis)) == ["e000", "e003", "e006"]
    assert await redis.zscore(runs.due_key(APP), camp.Id) == runs.ms(new_york)  # back when New York's 09:00 comes
    clock.now = new_york - dt.timedelta(minutes=1)
    assert await s.tick() == 0
    clock.now = new_york
    assert await s.tick() == 1
    assert sorted(e for e, _ in await enqueued(redis)) == ["e000", "e001", "e003", "e004", "e006", "e007"]
    [act] = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert act.State == "COMPLETED" and act.ExecutionMetrics is not None
    assert act.ExecutionMetrics["ENDPOINT_MISSING_TIMEZONE"] == "3"


async def test_messages_per_second_paces_the_enqueueing(redis: Any) -> None:
    segment, _ = await seed(redis, 350)
    clock = Clock(T0)
    await create(redis, clock, segment, Limits={"MessagesPerSecond": 100})
    t = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        t[0] += seconds

    s = Scheduler(redis, producer=Producer(redis), clock=clock, sleep=sleep, monotonic=lambda: t[0])
    assert await s.tick() == 1
    assert slept == [1.0, 1.0, 1.0, 0.5]  # 350 recipients at 100 per second, in steps of at most a second
    assert len(await enqueued(redis)) == 350


async def test_the_campaign_command(redis: Any, redis_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from gateway.campaigns import cli

    segment, _ = await seed(redis, 12)
    clock = Clock(dt.datetime.now(dt.UTC))
    later = (clock.now + dt.timedelta(days=3)).replace(microsecond=0)
    camp = await create(redis, clock, segment, Name="spring", Schedule={"StartTime": later.isoformat(), "Frequency": "WEEKLY"})
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))

    async def gw(*argv: str) -> tuple[int, str, str]:
        code = await cli._run(parser.parse_args(["campaign", *argv, "--redis", redis_server.url]))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await gw("list", APP)
    assert code == 0 and out.split("\t")[:4] == [camp.Id, "SCHEDULED", "spring", "WEEKLY"]
    assert (await gw("pause", APP, camp.Id))[1].startswith(f"{camp.Id}\tPAUSED\tversion 2")
    assert await redis.zscore(runs.due_key(APP), camp.Id) is None
    assert (await gw("resume", APP, camp.Id))[1].startswith(f"{camp.Id}\tSCHEDULED\tversion 3")
    assert await redis.zscore(runs.due_key(APP), camp.Id) == runs.ms(later)
    code, out, _ = await gw("run-now", APP, camp.Id)  # the first run, three days early
    assert (code, out) == (0, f"{camp.Id}\tPENDING_NEXT_RUN\n")
    assert len(await enqueued(redis)) == 12
    assert await redis.zscore(runs.due_key(APP), camp.Id) == runs.ms(later + dt.timedelta(days=7))
    code, out, _ = await gw("show", APP, camp.Id)
    shown = json.loads(out)
    assert shown["Campaign"]["Version"] == 3 and [a["SuccessfulEndpointCount"] for a in shown["Activities"]] == [12]
    code, _, err = await gw("show", APP, "nope")
    assert code == 2 and "not found" in err


async def test_a_broken_campaign_does_not_keep_the_others_from_running(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(T0)
    broken = await create(redis, clock, segment)
    fine = await create(redis, clock, segment)
    await redis.hset(f"gw:{{{APP}}}:camp:{broken.Id}", "v1", b"{not json")
    assert await scheduler(redis, clock).tick() == 1
    assert {c["campaign_id"] for _, c in await enqueued(redis)} == {fine.Id}
    assert await redis.zscore(runs.due_key(APP), broken.Id) is not None  # still due: retried at the next poll


async def test_a_resume_racing_a_poll_that_saw_the_campaign_paused_stays_due(redis: Any) -> None:
    segment, _ = await seed(redis, 3)
    clock = Clock(T0)
    camp = await create(redis, clock, segment, IsPaused=True)
    camps = store(redis, clock)
    assert await redis.zscore(runs.due_key(APP), camp.Id) is None

    class ResumeAfterRead:
        """The scheduler's client; right after the poll reads the campaign's run state, the user resumes it."""

        def __init__(self) -> None:
            self.done = False

        def __getattr__(self, name: str) -> Any:
            return getattr(redis, name)

        async def hmget(self, key: str, fields: list[str]) -> Any:
            values = await redis.hmget(key, fields)
            if not self.done and fields[:2] == ["latest", "paused"]:
                self.done = True
                await camps.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=False))
            return values

    s = Scheduler(ResumeAfterRead(), producer=Producer(redis), clock=clock)  # type: ignore[arg-type]
    await redis.zadd(runs.due_key(APP), {camp.Id: runs.ms(T0)})  # a poll finds it due while still paused
    assert await s.run_campaign(APP, camp.Id)
    assert await redis.zscore(runs.due_key(APP), camp.Id) is not None  # the resume's due entry survived
    assert await scheduler(redis, clock).tick() == 1 and len(await enqueued(redis)) == 3


async def test_a_stopping_worker_hands_its_run_over_at_once_between_chunks(redis: Any) -> None:
    segment, _ = await seed(redis, 250)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    stopping = asyncio.Event()

    class StopAfterFirst:
        async def send_many(self, app: str, requests: Any, **kw: Any) -> list[str]:
            stopping.set()  # SIGTERM arrives while the first chunk is enqueued
            return await Producer(redis).send_many(app, requests, **kw)

    s = Scheduler(redis, producer=StopAfterFirst(), clock=clock, config=CampaignsConfig(chunk_requests=1),  # type: ignore[arg-type]
                  stopping=stopping)
    assert await s.tick() == 1
    assert len(await enqueued(redis)) == 100 and not await redis.exists(runs.lease_key(APP, camp.Id))  # lease given back
    assert await scheduler(redis, clock).tick() == 1  # another worker continues now, not after lease_ms
    counts = Counter(e for e, _ in await enqueued(redis))
    assert len(counts) == 250 and set(counts.values()) == {1}


async def test_a_runs_start_is_stamped_by_the_schedulers_clock(redis: Any) -> None:
    # the activity's Start came from the real clock while ScheduledStart and End came from the scheduler's
    segment, _ = await seed(redis, 3)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    assert await scheduler(redis, clock).tick() == 1
    (act,) = (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item
    assert act.Start == act.End == "2030-03-01T12:00:00.000Z"


class CountingConnection(aioredis.Connection):
    """Counts the writes to Redis: one per command, per pipeline or per transaction step (a round trip each)."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


async def test_a_run_costs_about_two_round_trips_per_chunk(redis: Any, redis_server: Any) -> None:
    # each chunk was a check, the XADDs and a WATCH transaction (WATCH, GET, HEXISTS, MULTI/EXEC): 6 round trips;
    # now the XADDs and one script that checks the lease and moves the cursor
    n, chunk = 3000, 100
    segment, _ = await seed(redis, n)
    clock = Clock(T0)
    camp = await create(redis, clock, segment)
    counted = aioredis.Redis.from_url(redis_server.url, connection_class=CountingConnection)
    try:
        s = scheduler(counted, clock, chunk_requests=chunk // 100)
        assert len(await s.resolver.resolve(APP, segment)) == n  # the index is built before counting
        await s.resolver.drain()  # and its snapshot saved
        CountingConnection.writes = 0
        assert await s.run_campaign(APP, camp.Id)
        writes = CountingConnection.writes
    finally:
        await counted.aclose()
    assert sorted(e for e, _ in await enqueued(redis)) == sorted(f"e{i:03d}" for i in range(n))
    chunks = n // chunk
    assert writes <= 2 * chunks + 30, writes  # 30: the lease, the plan, the run's start and end


async def test_a_pause_while_pacing_stops_before_the_next_chunk(redis: Any) -> None:
    # the cursor script checks the campaign as it moves the cursor; a pause during MessagesPerSecond's wait that
    # follows must still stop the run before its next chunk
    segment, _ = await seed(redis, 350)
    clock = Clock(T0)
    camp = await create(redis, clock, segment, Limits={"MessagesPerSecond": 100})
    camps = store(redis, clock)
    t = [0.0]

    async def sleep(seconds: float) -> None:
        t[0] += seconds
        await camps.update_campaign(APP, camp.Id, models.WriteCampaignRequest(IsPaused=True))

    s = Scheduler(redis, producer=Producer(redis), clock=clock, sleep=sleep, monotonic=lambda: t[0])
    assert await s.tick() == 1
    assert len(await enqueued(redis)) == 100  # the first second's chunk only


async def test_a_starting_worker_runs_a_campaign_from_the_index_snapshot_another_saved(
    redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's segment resolver starts from the application's saved index (a cold build of a million
    endpoints is seconds of a run): the first worker to build one saves it, the next loads it and replays the
    endpoint writes since."""
    from gateway.segments import index as index_mod
    from gateway.segments import snapshot

    segment, _ = await seed(redis, 30)
    clock = Clock(T0)
    first = scheduler(redis, clock)
    assert len(await first.resolver.resolve(APP, segment)) == 30
    await first.resolver.drain()
    assert await redis.get(snapshot.pointer_key(APP)) is not None
    await EndpointStore(redis).delete_endpoint(APP, "e000")  # after the snapshot: replayed from the change stream

    async def no_build(*a: Any, **k: Any) -> Any:
        raise AssertionError("a worker with a usable snapshot must not read every endpoint to build its index")

    monkeypatch.setattr(index_mod, "build", no_build)
    await create(redis, clock, segment)
    assert await scheduler(redis, clock).tick() == 1
    assert sorted(e for e, _ in await enqueued(redis)) == [f"e{i:03d}" for i in range(1, 30)]


class EndpointReads(aioredis.Connection):
    """Counts the endpoint documents read (keys `gw:{app}:ep:<id>` in the commands sent)."""

    reads = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        parts = [command] if isinstance(command, bytes | str) else command
        for part in parts:
            raw = part.encode() if isinstance(part, str) else bytes(part)
            EndpointReads.reads += raw.count(b":ep:")
        await super().send_packed_command(command, check_health)


async def test_a_run_plans_from_the_segment_index_and_reads_no_endpoint_document(
    redis: Any, redis_server: Any
) -> None:
    """The index carries what planning reads (OptOut, EndpointStatus, whether there is an Address, Timezone,
    CohortId, ChannelType), kept current by the endpoint writes since it was built: a run reads no document (it
    read one per endpoint, ~3.5 us each), and only the documents of endpoints whose address may repeat."""
    n = 200
    segment, cohorts = await seed(redis, n, zones=lambda i: "Asia/Tokyo" if i % 2 else "Europe/Lisbon")
    clock = Clock(T0)
    eps = EndpointStore(redis)
    counted = aioredis.Redis.from_url(redis_server.url, connection_class=EndpointReads)
    try:
        s = scheduler(counted, clock)
        assert len(await s.resolver.resolve(APP, segment)) == n  # the index is built before counting
        await s.resolver.drain()
        # written after the index was built: the run sees them through the change stream
        await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
            models.EndpointBatchItem(Id="e001", OptOut="ALL"),
            models.EndpointBatchItem(Id="e002", EndpointStatus="INACTIVE"),
            models.EndpointBatchItem(Id="e003", Demographic=models.EndpointDemographic(Timezone="Mars/Olympus")),
        ]))
        camp = await create(redis, clock, segment, HoldoutPercent=20, Schedule={
            "StartTime": (T0 + dt.timedelta(hours=1)).isoformat(), "Frequency": "ONCE", "IsLocalTime": True,
            "Timezone": "UTC"})
        clock.now = T0 + dt.timedelta(days=1)
        EndpointReads.reads = 0
        assert await s.tick() == 1
        reads_without_duplicates = EndpointReads.reads
        # the same address on a second endpoint: the two documents are read to decide which is messaged
        await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
            models.EndpointBatchItem(Id="e900", ChannelType="EMAIL", Address="u010@example.com",
                                     Attributes={"list": ["news"]})]))
        await eps.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[  # e010 ACTIVE again, no address
            models.EndpointBatchItem(Id="e010", EndpointStatus="ACTIVE", EffectiveDate="2000-01-01T00:00:00.000Z")]))
        await redis.delete(SEND)
        camp2 = await create(redis, clock, segment)
        EndpointReads.reads = 0
        assert await s.tick() == 1
        reads_with_duplicates = EndpointReads.reads
    finally:
        await counted.aclose()
    # the change-stream refresh reads the 3 (then 2) endpoints written; the run itself reads none (then the 2)
    assert reads_without_duplicates == 3
    assert reads_with_duplicates == 2 + 2
    split = plan_split(camp.Id, 20, [])
    held = {e for e, c in cohorts.items() if split.group(c) != 0}
    [m] = [a.ExecutionMetrics for a in (await store(redis, clock).list_activities(APP, camp.Id, None, None)).Item]
    assert m is not None
    expected = {"ENDPOINT_PRODUCED": n, "TREATMENT_HOLDOUT": len(held)}
    for eid, reason in (("e001", "ENDPOINT_OPT_OUT"), ("e002", "ENDPOINT_INACTIVE"),
                        ("e003", "ENDPOINT_MISSING_TIMEZONE")):
        if eid not in held:
            expected[reason] = 1
    assert {k: int(v) for k, v in m.items()} == expected
    got = sorted(e for e, _ in await enqueued(redis))
    assert "e010" not in got and "e900" in got  # e900 written last
    [m2] = [a.ExecutionMetrics for a in (await store(redis, clock).list_activities(APP, camp2.Id, None, None)).Item]
    assert m2 is not None and m2.get("DUPLICATE_ENDPOINT") == "1", m2
