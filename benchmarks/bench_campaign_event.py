"""How soon after an event does an EVENT campaign's message reach the ingest stream?

One run against a private Redis: N endpoints (default 10,000) in a dynamic segment, 25 EVENT campaigns in the
application (Pinpoint's quota per project; one matches, the others filter other event types, so matching work is
the realistic worst case), and the campaign listener (gateway/campaigns/listener.py) running in this process as a
worker runs it. Events are written exactly as PutEvents writes them, paced at --rate per second, each for a random
endpoint of the segment. Latency is measured on Redis' own clock: the ingest-stream entry's id minus the
events-stream entry's id, so the client's clock and scheduling do not enter it.

The baseline is the floor of the design: a consumer in the same group setup that reads each event with XREADGROUP
BLOCK and XADDs a fixed MessageRequest at once (no filter, no endpoint, no segment, no plan, no markers). The
target is p99 under one second. Rows go to benchmarks/RESULTS.md.

    /work/main/.venv/bin/python benchmarks/bench_campaign_event.py [--endpoints 10000] [--events 5000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import msgspec
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import append_rows
from gateway import models
from gateway.api.events import event_record
from gateway.campaigns.listener import EventListener
from gateway.campaigns.store import CampaignStore
from gateway.config import CampaignsConfig
from gateway.embedded_redis import EmbeddedRedis
from gateway.endpoints.store import EndpointStore
from gateway.producer import Producer
from gateway.segments.store import SegmentStore
from gateway.stream import codec
from gateway.templates.store import TemplateStore

APP = "bench"
EVENTS = "gateway:events"
SEND = "gateway:send"
CAMPAIGNS = 25


def percentile(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def seed(redis: aioredis.Redis, n: int) -> None:
    store = EndpointStore(redis)
    for i in range(0, n, 100):
        await store.update_endpoints_batch(APP, models.EndpointBatchRequest(Item=[
            models.EndpointBatchItem(Id=f"e{j:06d}", ChannelType="EMAIL", Address=f"u{j}@example.com",
                                     Attributes={"list": ["news"]}) for j in range(i, min(n, i + 100))]))
    seg = await SegmentStore(redis).create(APP, msgspec.convert(
        {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
    camps = CampaignStore(redis, SegmentStore(redis), TemplateStore(redis))
    for k in range(CAMPAIGNS):
        event_type = "purchase" if k == CAMPAIGNS - 1 else f"other{k}"
        await camps.create_campaign(APP, msgspec.convert({
            "Name": f"c{k}", "SegmentId": seg.Id, "HoldoutPercent": 0,
            "MessageConfiguration": {"EmailMessage": {"FromAddress": "a@b.test", "Title": "t", "HtmlBody": "<p>x</p>"}},
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "EVENT", "EventFilter": {
                "FilterType": "ENDPOINT", "Dimensions": {"EventType": {"Values": [event_type]},
                                                         "Attributes": {"sku": {"Values": ["42"]}}}}},
        }, models.WriteCampaignRequest))


async def put_events(redis: aioredis.Redis, n: int, endpoints: int, rate: float) -> list[str]:
    """n PutEvents-shaped entries at `rate` per second; their entry ids."""
    ids: list[str] = []
    began = time.perf_counter()
    for i in range(n):
        now = dt.datetime.now(dt.UTC)
        ev = models.Event(EventType="purchase", Timestamp=now.isoformat(), Attributes={"sku": "42"})
        eid = f"e{random.randrange(endpoints):06d}"
        record = event_record(APP, eid, models.PublicEndpoint(), ev, int(now.timestamp() * 1000), "000000000000")
        ids.append((await redis.xadd(EVENTS, {"app": APP, "event_type": "purchase", "record": json.dumps(record)})).decode())
        ahead = (i + 1) / rate - (time.perf_counter() - began)
        if ahead > 0:
            await asyncio.sleep(ahead)  # pacing the load generator, not synchronisation
    return ids


def latencies(event_ids: list[str], send_entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[int]:
    """Per event: the ms between its events-stream entry and the ingest entry keyed by it (Redis' clock)."""
    by_event = {}
    for sid, fields in send_entries:
        key = fields.get(b"idempotency_key", b"").decode()
        by_event[key.rsplit(":", 1)[-1]] = int(sid.decode().split("-")[0])
    return [by_event[e] - int(e.split("-")[0]) for e in event_ids if e in by_event]


async def wait_for(redis: aioredis.Redis, key: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await redis.xlen(key) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {await redis.xlen(key)} of {n} entries reached {key}")
        await asyncio.sleep(0.05)  # polling for the end of a benchmark run, not measuring with it


async def measure(redis: aioredis.Redis, args: argparse.Namespace, stopping: asyncio.Event,
                  task: asyncio.Task[None]) -> list[int]:
    """Put the events at the configured rate, wait until every one has its stream entry, stop `task`, and return
    each event's latency to its entry (ms)."""
    ids = await put_events(redis, args.events, args.endpoints, args.rate)
    await wait_for(redis, SEND, len(ids), 120)
    stopping.set()
    await task
    out = latencies(ids, await redis.xrange(SEND))
    await redis.aclose()
    return out


async def run_listener(url: str, args: argparse.Namespace) -> list[int]:
    redis = aioredis.Redis.from_url(url)
    await redis.flushall()
    await seed(redis, args.endpoints)
    listener = EventListener(redis, producer=Producer(redis), consumer="bench", config=CampaignsConfig())
    await listener.consumer.ensure_group()
    stopping = asyncio.Event()
    return await measure(redis, args, stopping, asyncio.create_task(listener.run(stopping)))


async def run_baseline(url: str, args: argparse.Namespace) -> list[int]:
    redis = aioredis.Redis.from_url(url)
    await redis.flushall()
    await redis.xgroup_create(EVENTS, "baseline", id="0", mkstream=True)
    request = models.MessageRequest(Endpoints={"e000000": models.EndpointSendConfiguration()},
                                    MessageConfiguration=models.DirectMessageConfiguration())
    stopping = asyncio.Event()

    async def consume() -> None:
        while not stopping.is_set():
            reply = await redis.xreadgroup("baseline", "b", {EVENTS: ">"}, count=256, block=100)
            for _, items in reply or []:
                pipe = redis.pipeline(transaction=False)
                for entry_id, _ in items:
                    pipe.xadd(SEND, codec.encode_request(APP, request, idempotency_key=f"b:{entry_id.decode()}"))
                pipe.xack(EVENTS, "baseline", *[i for i, _ in items])
                await pipe.execute()

    return await measure(redis, args, stopping, asyncio.create_task(consume()))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=5_000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    server = EmbeddedRedis().start()
    try:
        base = await run_baseline(server.url, args)
        ours = await run_listener(server.url, args)
    finally:
        server.stop()
    rows: list[tuple[str, str, str, str, str, str]] = []
    b50, b99 = percentile(base, 50), percentile(base, 99)
    for name, values, ratio in (("baseline: XREADGROUP + direct XADD", base, None), ("campaign listener", ours, True)):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(f"{name}: n={len(values)} p50={p50} ms p99={p99} ms max={max(values)} ms")
        notes = f"n={len(values)}, {args.rate:.0f} events/s, {args.endpoints} endpoints, {CAMPAIGNS} EVENT campaigns"
        rows.append(("bench_campaign_event", name, "event->stream p50 ms", str(p50),
                     f"{p50 / max(b50, 1):.2f}x" if ratio else "1.00x", notes))
        rows.append(("bench_campaign_event", name, "event->stream p99 ms", str(p99),
                     f"{p99 / max(b99, 1):.2f}x" if ratio else "1.00x", notes + "; target p99 < 1000 ms"))
    if not args.no_results:
        append_rows(rows)


if __name__ == "__main__":
    asyncio.run(main())
