"""Event destinations (gateway/eventdest/): records of the events stream delivered to Kinesis and Firehose (moto
in server mode as the AWS stand-in, on a free loopback port), an https webhook that fails on purpose, and a Redis
stream; each destination with its own cursor, at-least-once across restarts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from moto.server import ThreadedMotoServer

from gateway import keys, models
from gateway.config import GatewayConfig, from_dict
from gateway.eventdest import targets
from gateway.eventdest.runner import DestinationRunner, attach
from gateway.eventdest.senders import AwsSender, Item, Outcome, Sender
from gateway.sms.webhook_auth import verify_hmac
from tests.webhook_peer import WebhookPeer

EVENTS = "gateway:events"
ROLE = "arn:aws:iam::123456789012:role/pinpoint-events"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENV = {"GATEWAY_WEBHOOK_SECRET": SECRET}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()  # raises when it cannot bind: the fixture fails, never skips
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[WebhookPeer]:
    p = await WebhookPeer(tmp_path).start()
    yield p
    await p.aclose()


def config(**over: Any) -> GatewayConfig:
    dest: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "block_ms": 50, "poll_ms": 50, **over}
    return from_dict({"event_destinations": dest})


def webhook_config(peer: WebhookPeer, **over: Any) -> GatewayConfig:
    return config(webhook={"allow_networks": ["127.0.0.1/32"], "ca_file": peer.ca_file, "timeout_s": 2.0}, **over)


async def configure(redis: aioredis.Redis, app: str, spec: str, role: str = "") -> str:
    """Store `app`'s event stream as PutEventStream does; its group."""
    doc = models.EventStream(ApplicationId=app, DestinationStreamArn=spec, RoleArn=role, LastModifiedDate="now")
    await redis.set(keys.app_key(app, "eventstream"), msgspec.json.encode(doc))
    await attach(redis, EVENTS, app, spec, None)
    return targets.group_name(app, spec)


async def emit(redis: aioredis.Redis, app: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    records = [{"event_type": "_email.send", "application": {"app_id": app}, "attributes": {"n": i}}
               for i in range(start, start + n)]
    pipe = redis.pipeline(transaction=False)
    for r in records:
        pipe.xadd(EVENTS, {"app": app, "event_type": r["event_type"], "record": json.dumps(r)})
    await pipe.execute()
    return records


async def running(runner: DestinationRunner) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    return stop, task


async def halt(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await asyncio.wait_for(task, 10)


def aws(service: str, url: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=url)


def kinesis_records(url: str, name: str) -> list[dict[str, Any]]:
    client = aws("kinesis", url)
    shard = client.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]["ShardId"]
    it = client.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [json.loads(r["Data"]) for r in client.get_records(ShardIterator=it, Limit=10_000)["Records"]]


async def test_kinesis_receives_the_apps_records_after_configuration_as_its_role(
        redis: aioredis.Redis, moto_url: str) -> None:
    aws("kinesis", moto_url).create_stream(StreamName="pinpoint-a", ShardCount=1)
    await emit(redis, "app-a", 3)  # before PutEventStream: not the destination's
    group = await configure(redis, "app-a", "arn:aws:kinesis:us-east-1:123456789012:stream/pinpoint-a", ROLE)
    records = await emit(redis, "app-a", 1200, start=3)  # more than one PutRecords call (500)
    await emit(redis, "app-b", 5)  # another application's: filtered out
    await redis.xadd(EVENTS, {"app": "app-a", "event_type": "_push.success",  # transactional push: as Pinpoint
                              "record": json.dumps({"event_type": "_push.success", "attributes": {}})})
    runner = DestinationRunner(redis, config(aws_endpoint_url=moto_url), "w1")
    stop, task = await running(runner)
    records += await emit(redis, "app-a", 1, start=1203)
    await asyncio.wait_for(runner.wait_delivered(group, 1201), 30)
    await halt(stop, task)
    assert kinesis_records(moto_url, "pinpoint-a") == records
    pending = await redis.xpending(EVENTS, group)
    assert pending["pending"] == 0


async def test_firehose_writes_newline_delimited_records_to_s3(redis: aioredis.Redis, moto_url: str) -> None:
    s3 = aws("s3", moto_url)
    s3.create_bucket(Bucket="pinpoint-export")
    aws("firehose", moto_url).create_delivery_stream(
        DeliveryStreamName="pinpoint-f", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::pinpoint-export",
                                            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    group = await configure(redis, "app-f", "arn:aws:firehose:us-east-1:123456789012:deliverystream/pinpoint-f",
                            ROLE)
    records = await emit(redis, "app-f", 40)
    runner = DestinationRunner(redis, config(aws_endpoint_url=moto_url), "w1")
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 40), 30)
    await halt(stop, task)
    objects = s3.list_objects_v2(Bucket="pinpoint-export").get("Contents", [])
    body = b"".join(s3.get_object(Bucket="pinpoint-export", Key=o["Key"])["Body"].read()
                    for o in sorted(objects, key=lambda o: o["Key"]))
    lines = body.split(b"\n")
    assert lines[-1] == b"" and [json.loads(line) for line in lines[:-1]] == records


class _FlakyKinesis:
    """A moto Kinesis client whose first PutRecords call fails every odd record (as Kinesis reports throttling:
    FailedRecordCount and a per-record ErrorCode) after delivering the even ones."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Records))
        if len(self.calls) > 1:
            return dict(self.real.put_records(StreamName=StreamName, Records=Records))
        ok = self.real.put_records(StreamName=StreamName, Records=Records[::2])["Records"]
        out: list[dict[str, Any]] = []
        for i in range(len(Records)):
            out.append(ok[i // 2] if i % 2 == 0 else {"ErrorCode": "ProvisionedThroughputExceededException",
                                                      "ErrorMessage": "Rate exceeded for shard"})
        return {"FailedRecordCount": len(Records) // 2, "Records": out}


async def test_kinesis_partial_failure_resends_only_the_failed_records(redis: aioredis.Redis, moto_url: str) -> None:
    aws("kinesis", moto_url).create_stream(StreamName="pinpoint-p", ShardCount=1)
    group = await configure(redis, "app-p", "arn:aws:kinesis:us-east-1:123456789012:stream/pinpoint-p", ROLE)
    records = await emit(redis, "app-p", 10)
    cfg = config(aws_endpoint_url=moto_url)
    flaky: list[_FlakyKinesis] = []

    class Session:
        def client(self, service: str, **kw: Any) -> Any:
            real = boto3.session.Session().client(service, **kw)
            if service != "kinesis":
                return real
            flaky.append(_FlakyKinesis(real))
            return flaky[-1]

    pool = concurrent.futures.ThreadPoolExecutor(1)

    def factory(dest: targets.Destination, role: str) -> Sender:
        return AwsSender(dest, role, cfg.event_destinations, pool, Session)

    runner = DestinationRunner(redis, cfg, "w1", sender_factory=factory)
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 10), 30)
    await halt(stop, task)
    pool.shutdown()
    assert flaky[0].calls == [10, 5]  # the retry carried only the five refused records
    got = kinesis_records(moto_url, "pinpoint-p")
    assert sorted(r["attributes"]["n"] for r in got) == [r["attributes"]["n"] for r in records]  # each once


async def test_webhook_that_fails_then_recovers_gets_every_record_in_order_signed(
        redis: aioredis.Redis, peer: WebhookPeer) -> None:
    failures = 3

    async def flaky(request: web.Request, body: bytes) -> web.StreamResponse:
        nonlocal failures
        if failures:
            failures -= 1
            return web.Response(status=503)
        return web.Response(status=200)

    peer.behaviour = flaky
    group = await configure(redis, "app-w", peer.url("/pinpoint"))
    records = await emit(redis, "app-w", 30)
    runner = DestinationRunner(redis, webhook_config(peer, batch_size=7), "w1", environ=ENV)
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 30), 30)
    records += await emit(redis, "app-w", 5, start=30)
    await asyncio.wait_for(runner.wait_delivered(group, 35), 30)
    await halt(stop, task)
    posts = peer.posts()
    accepted = posts[3:]  # three refused, then the batches (at most 7 records each)
    assert all(len(json.loads(p.body)) <= 7 for p in posts)
    got = [r for p in accepted for r in json.loads(p.body)]
    assert got == records  # nothing lost, nothing reordered
    for p in posts:
        headers = {k.lower(): v for k, v in p.headers.items()}
        assert verify_hmac([SECRET], headers, p.path_qs, p.body, time.time())
    assert [p.body for p in posts[:3]] == [posts[3].body] * 3  # the refused batch was resent as it was


async def test_redis_stream_destination_copies_entries(redis: aioredis.Redis) -> None:
    group = await configure(redis, "app-r", "redis:exports:app-r")
    records = await emit(redis, "app-r", 20)
    push = {"event_type": "_push.success", "attributes": {}}  # transactional push: Gateway's destinations get it
    await redis.xadd(EVENTS, {"app": "app-r", "event_type": "_push.success", "record": json.dumps(push)})
    records.append(push)
    await emit(redis, "app-other", 4)
    runner = DestinationRunner(redis, config(), "w1")
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 21), 30)
    await halt(stop, task)
    entries = await redis.xrange("exports:app-r")
    assert [json.loads(f[b"record"]) for _, f in entries] == records
    assert {f[b"app"] for _, f in entries} == {b"app-r"}


class _Gate:
    """A sender that records what it is given and refuses until opened (or hangs, with `hang`)."""

    def __init__(self, dest: targets.Destination, hang: bool = False) -> None:
        self.dest = dest
        self.hang = hang
        self.open = asyncio.Event()
        self.got: list[Item] = []
        self.tried = asyncio.Event()

    async def send(self, batch: Sequence[Item]) -> Outcome:
        self.tried.set()
        if self.hang:
            await asyncio.Event().wait()
        if not self.open.is_set():
            return Outcome(list(range(len(batch))), "closed")
        self.got += batch
        return Outcome([])

    async def aclose(self) -> None:
        pass


async def test_a_restart_resumes_from_the_cursor_at_least_once(redis: aioredis.Redis) -> None:
    group = await configure(redis, "app-x", "redis:exports:x")
    records = await emit(redis, "app-x", 12)
    first = _Gate(targets.parse("redis:exports:x"), hang=True)
    runner = DestinationRunner(redis, config(batch_size=5), "w1", sender_factory=lambda d, r: first)
    stop, task = await running(runner)
    await asyncio.wait_for(first.tried.wait(), 10)
    await halt(stop, task)  # killed mid-batch: that batch was never acknowledged
    assert (await redis.xpending(EVENTS, group))["pending"] >= 5  # that batch (and the one read ahead)
    second = _Gate(targets.parse("redis:exports:x"))
    second.open.set()
    runner = DestinationRunner(redis, config(batch_size=5), "w1", sender_factory=lambda d, r: second)
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 12), 10)
    await halt(stop, task)
    assert [json.loads(i.record) for i in second.got] == records
    assert (await redis.xpending(EVENTS, group))["pending"] == 0


async def test_another_worker_takes_over_a_dead_workers_batch(redis: aioredis.Redis) -> None:
    group = await configure(redis, "app-y", "redis:exports:y")
    records = await emit(redis, "app-y", 4)
    dead = _Gate(targets.parse("redis:exports:y"), hang=True)
    runner = DestinationRunner(redis, config(), "dead-worker", sender_factory=lambda d, r: dead)
    stop, task = await running(runner)
    await asyncio.wait_for(dead.tried.wait(), 10)
    await halt(stop, task)
    live = _Gate(targets.parse("redis:exports:y"))
    live.open.set()
    runner = DestinationRunner(redis, config(claim_idle_ms=1), "live-worker", sender_factory=lambda d, r: live)
    stop, task = await running(runner)
    await asyncio.wait_for(runner.wait_delivered(group, 4), 10)
    await halt(stop, task)
    assert [json.loads(i.record) for i in live.got] == records


async def test_a_down_destination_blocks_neither_another_nor_the_engine(redis: aioredis.Redis,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    down_group = await configure(redis, "app-down", "redis:exports:down")
    up_group = await configure(redis, "app-up", "redis:exports:up")
    down = _Gate(targets.parse("redis:exports:down"))
    senders: dict[str, Sender] = {"redis:exports:down": down}
    runner = DestinationRunner(redis, config(), "w1",
                               sender_factory=lambda d, r: senders.get(d.spec) or runner.make_sender(d, r))
    stop, task = await running(runner)
    await emit(redis, "app-down", 10)
    await emit(redis, "app-up", 10)
    await asyncio.wait_for(runner.wait_delivered(up_group, 10), 10)
    await asyncio.wait_for(down.tried.wait(), 10)
    assert await redis.xlen("exports:up") == 10 and runner.delivered.get(down_group, 0) == 0
    await emit(redis, "app-up", 10, start=10)  # the engine keeps writing, the healthy destination keeps up
    await asyncio.wait_for(runner.wait_delivered(up_group, 20), 10)
    down.open.set()
    await asyncio.wait_for(runner.wait_delivered(down_group, 10), 10)
    await halt(stop, task)
    outage = [r for r in caplog.records if "refuses records" in r.getMessage()]
    assert len(outage) == 1 and "closed" in outage[0].getMessage()  # one line per outage, not per retry
    assert [r for r in caplog.records if "accepts records again" in r.getMessage()]


async def test_every_worker_delivers_its_apps_event_stream(redis: aioredis.Redis, engine: Any) -> None:
    """The engine's own records (an email's send and delivery) reach the destination through a worker."""
    from gateway.producer import Producer
    from tests.integration.test_email_engine import email_request

    await configure(redis, "app1", "redis:exports:app1")
    run = await engine(event_destinations={"block_ms": 50, "poll_ms": 50})
    await Producer(redis).send_many("app1", [email_request("someone@example.com")])
    await run.outcomes(1, timeout=10)
    got: list[str] = []
    last = "0"
    while len(got) < 2:  # blocks on the destination stream itself: no polling
        reply = await redis.xread({"exports:app1": last}, block=10_000)
        assert reply, "the worker delivered nothing to the destination within 10 s"
        for eid, fields in reply[0][1]:
            got.append(json.loads(fields[b"record"])["event_type"])
            last = eid
    assert got == ["_email.send", "_email.delivered"]
