"""How fast does a campaign reach a million endpoints, against the same million messages enqueued directly?

One run, an embedded Redis, N synthetic EMAIL endpoints (default 1,000,000) in one segment, and a campaign with
three treatments (the campaign's own and two additional ones) and a 10 % holdout, each treatment a personalised
2 KB HTML email (`{{User.UserAttributes.FirstName}}`, `{{Attributes.city}}`...):

1. scheduler: the campaign run by a Scheduler in this process (gateway/campaigns/runner.py) with nothing consuming
   the stream: segment resolve (a cold index build, as in a fresh worker), audience load, split, plan, limits and
   enqueue, timed from the lease to the run's completion; recipients/s into the stream (target >= 200,000/s).
   Then a fresh worker that loads the index snapshot the first one saved (the usual start: a worker's resolver
   saves one after a cold build), and a third run by that worker shows the warm case (it keeps its index).
2. baseline: the same messages (the stream entries the scheduler wrote, replayed with XADD) enqueued directly to
   the stream while one worker process (`gateway serve`) sends them through the sandbox SMTP sink (own process);
   time from the first XADD until the sink has accepted them all.
3. campaign end to end: a new campaign created through the store while the same kind of worker runs (its own
   scheduler runs it, campaigns.poll_ms 100); time from the create until the sink has accepted every recipient.
   Target: at most 1.2x the baseline's time.

Rows go to benchmarks/RESULTS.md (benchmarks/_common.py). The sink is polled (XSTATS) to see the end: the
benchmark measures, it does not synchronise tests.

    python benchmarks/bench_campaign.py [--endpoints 1000000] [--no-e2e] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import redis.asyncio as aioredis

from benchmarks._common import append_rows, cpu_seconds, machine, sink_accepted
from gateway import keys, models
from gateway.campaigns import runs
from gateway.campaigns.runner import Scheduler
from gateway.campaigns.store import CampaignStore
from gateway.config import CampaignsConfig
from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.endpoints.rules import cohort_id, iso_from_epoch
from gateway.endpoints.store import all_ids_key
from gateway.producer import Producer
from gateway.segments import snapshot
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

APP = "benchcamp"
SEND = "gateway:send"
NOW = time.time()
#: The scheduler phase's runs: a fresh worker building its index from the endpoints, a fresh worker loading the
#: index snapshot the first one saved, and the second worker again with its index in memory.
CASES = ("cold", "snapshot", "warm")
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
CITIES = ["Lisbon", "Berlin", "Austin", "Osaka", "Lagos", "Lima", "Oslo", "Pune"]
FILLER = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 33 + "</p>"


def html(treatment: str) -> str:
    """~2 KB of personalised HTML."""
    return (f"<html><body><h1>Hello {{{{User.UserAttributes.FirstName}}}} ({treatment}),</h1>"
            "<p>Your plan {{Attributes.plan}} in {{Attributes.city}}: {{Metrics.points}} points.</p>"
            + FILLER + "</body></html>")


def email(treatment: str) -> dict[str, Any]:
    return {"EmailMessage": {"FromAddress": "Shop <news@shop.example>",
                             "Title": f"{treatment}: news for {{{{User.UserAttributes.FirstName}}}}",
                             "HtmlBody": html(treatment)}}


def endpoint(rng: random.Random, i: int) -> bytes:
    eid = f"{rng.getrandbits(96):024x}"
    return msgspec.json.encode({
        "Address": f"user{i}@bench.example", "ApplicationId": APP, "ChannelType": "EMAIL",
        "Attributes": {"plan": [rng.choice(["free", "pro", "team"])], "city": [rng.choice(CITIES)],
                       "list": ["news"]},
        "CohortId": cohort_id(eid), "CreationDate": iso_from_epoch(NOW - 400 * 86400),
        "Demographic": {"Platform": "web", "Timezone": "Europe/Lisbon"},
        "EffectiveDate": iso_from_epoch(NOW - rng.random() * 30 * 86400), "EndpointStatus": "ACTIVE", "Id": eid,
        "Metrics": {"points": float(rng.randint(0, 5000))}, "OptOut": "NONE",
        "User": {"UserId": f"u{i}", "UserAttributes": {"FirstName": [rng.choice(FIRST)]}},
    })


async def load(client: aioredis.Redis, n: int) -> str:
    """n endpoints written as the endpoint store stores them, and a segment of all of them; the segment id."""
    rng = random.Random(7)
    t0 = time.perf_counter()
    for start in range(0, n, 10_000):
        docs = [endpoint(rng, i) for i in range(start, min(n, start + 10_000))]
        ids = [msgspec.json.decode(d, type=dict)["Id"] for d in docs]
        pipe = client.pipeline(transaction=False)
        pipe.mset({keys.endpoint(APP, eid): d for eid, d in zip(ids, docs, strict=True)})
        pipe.sadd(all_ids_key(APP), *ids)
        await pipe.execute()
    seg = await SegmentStore(client).create(APP, msgspec.convert(
        {"Name": "news", "Dimensions": {"Attributes": {"list": {"Values": ["news"]}}}}, models.WriteSegmentRequest))
    print(f"loaded {n:,} endpoints in {time.perf_counter() - t0:.1f}s", flush=True)
    return seg.Id


async def create_campaign(client: aioredis.Redis, segment: str, name: str) -> models.CampaignResponse:
    request = {
        "Name": name, "SegmentId": segment, "HoldoutPercent": 10, "TreatmentName": "A",
        "MessageConfiguration": email("A"), "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "AdditionalTreatments": [
            {"SizePercent": 30, "TreatmentName": "B", "MessageConfiguration": email("B")},
            {"SizePercent": 30, "TreatmentName": "C", "MessageConfiguration": email("C")},
        ],
    }
    camps = CampaignStore(client, SegmentStore(client), TemplateStore(client))
    return await camps.create_campaign(APP, msgspec.convert(request, models.WriteCampaignRequest))


async def sent_total(client: aioredis.Redis, cid: str, number: int = 0) -> int:
    record = runs.record(await client.hgetall(runs.run_key(APP, cid, number)))
    return sum(int(v) for k, v in record.items() if k.endswith(":sent"))


async def scheduler_phase(client: aioredis.Redis, segment: str) -> dict[str, Any]:
    """The campaign run in this process, nothing consuming: recipients/s into the stream, cold and warm."""
    camp = await create_campaign(client, segment, "scheduler")
    await client.zrem(runs.due_key(APP), camp.Id)  # run explicitly below, not by a tick
    sched = Scheduler(client, producer=Producer(client), config=CampaignsConfig())
    resolve_t0 = time.perf_counter()
    await sched.resolver.resolve(APP, segment)  # how much of the cold run the index build is
    resolve_cold = time.perf_counter() - resolve_t0
    await sched.resolver.drain()  # the snapshot it saved (a worker's resolver saves one after a cold build)
    resolve_t0 = time.perf_counter()
    await Scheduler(client, producer=Producer(client), config=CampaignsConfig()).resolver.resolve(APP, segment)
    resolve_snapshot = time.perf_counter() - resolve_t0
    out: dict[str, Any] = {"resolve_cold": resolve_cold, "resolve_snapshot": resolve_snapshot}
    for case in CASES:
        await client.delete(SEND)
        if case == "cold":  # a fresh worker and no saved index: it reads every endpoint
            await client.delete(snapshot.pointer_key(APP))
        if case != "warm":  # a fresh worker (cold: building; snapshot: loading the one the cold run saved)
            sched = Scheduler(client, producer=Producer(client), config=CampaignsConfig())
        # the same run again, from its start
        await client.delete(runs.run_key(APP, camp.Id, 0))
        await client.hdel(keys.app_key(APP, "camp", camp.Id), "done", "active")
        c0, t0 = cpu_seconds(os.getpid()), time.perf_counter()
        assert await sched.run_campaign(APP, camp.Id, now=True)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(os.getpid()) - c0
        await sched.resolver.drain()
        recipients = await sent_total(client, camp.Id)
        entries = await client.xlen(SEND)
        out[case] = (recipients, elapsed, cpu, entries)
        print(f"scheduler, {case} index: {recipients:,} recipients in {entries:,} requests, {elapsed:.2f}s = "
              f"{recipients / elapsed:,.0f} recipients/s ({cpu / recipients * 1e6:.1f} CPU µs/recipient)", flush=True)
    # keep the entries for the baseline (the same messages), then empty the stream
    out["entries"] = [fields for _, fields in await client.xrange(SEND)]
    await client.delete(SEND)
    return out


def start_sink(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    ready = tmp / f"sink-{port}"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(port), "--ready-file",
                             str(ready)], stdout=subprocess.DEVNULL)
    while not ready.exists():
        time.sleep(0.02)
    return proc, port


def start_worker(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                             "--consumer", "bench"], env=env)


async def wait_sink(port: int, target: int, proc: subprocess.Popen[bytes], stall_s: float = 60.0) -> float:
    """Seconds (perf_counter) when the sink has accepted `target` messages (cumulative)."""
    last, last_change = -1, time.perf_counter()
    while True:
        got = sink_accepted(port)
        now = time.perf_counter()
        if got >= target:
            return now
        if got != last:
            last, last_change = got, now
        if now - last_change > stall_s or proc.poll() is not None:
            raise RuntimeError(f"stalled at {got:,} of {target:,} accepted")
        await asyncio.sleep(0.05)


async def e2e_phase(client: aioredis.Redis, url: str, segment: str, entries: list[dict[bytes, bytes]],
                    tmp: Path) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    sink, port = start_sink(tmp)
    config = tmp / "gateway.toml"
    config.write_text(f'redis_url = "{url}"\nlog_level = "WARNING"\n'
                      "[stream]\nbatch_size = 256\nmax_inflight = 2048\n"
                      "[campaigns]\npoll_ms = 100\n"
                      f'[[channels]]\nkind = "smtp"\nport = {port}\nconnections = 64\n')
    out: dict[str, Any] = {}
    try:
        # baseline: the same requests straight into the stream
        total = sum(len(msgspec.json.decode(f[b"request"], type=models.MessageRequest).Endpoints or {})
                    for f in entries)
        worker = start_worker(config, env)
        try:
            await asyncio.sleep(3)  # let the worker start (its start-up is not what either case measures)
            accepted0 = sink_accepted(port)
            c0, t0 = cpu_seconds(worker.pid), time.perf_counter()
            for i in range(0, len(entries), 500):
                pipe = client.pipeline(transaction=False)
                for fields in entries[i : i + 500]:
                    pipe.xadd(SEND, fields)
                await pipe.execute()
            enq = time.perf_counter() - t0
            end = await wait_sink(port, accepted0 + total, worker)
            out["baseline"] = (total, end - t0, enq, cpu_seconds(worker.pid) - c0)
            print(f"baseline: {total:,} messages enqueued directly in {enq:.2f}s, all accepted at the sink after "
                  f"{end - t0:.2f}s = {total / (end - t0):,.0f}/s", flush=True)

            # the campaign, run by the same worker's scheduler
            accepted0 = sink_accepted(port)
            c0, t0 = cpu_seconds(worker.pid), time.perf_counter()
            camp = await create_campaign(client, segment, "e2e")
            while True:  # the run's size is known once its plan is written (the scheduler's own record)
                record = runs.record(await client.hgetall(runs.run_key(APP, camp.Id, 0)))
                if record.get("state") == runs.COMPLETED:
                    break
                if worker.poll() is not None:
                    raise RuntimeError("the worker exited")
                await asyncio.sleep(0.05)
            planned = sum(int(v) for k, v in record.items() if k.endswith(":total"))
            scheduled = time.perf_counter() - t0
            end = await wait_sink(port, accepted0 + planned, worker)
            out["campaign"] = (planned, end - t0, scheduled, cpu_seconds(worker.pid) - c0)
            print(f"campaign: {planned:,} recipients, run completed after {scheduled:.2f}s, all accepted at the sink "
                  f"after {end - t0:.2f}s = {planned / (end - t0):,.0f}/s", flush=True)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    finally:
        sink.kill()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1_000_000)
    ap.add_argument("--no-e2e", action="store_true", help="only the scheduler phase")
    ap.add_argument("--no-results", action="store_true", help="do not append rows to RESULTS.md")
    args = ap.parse_args()
    n = args.endpoints
    tmp = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    with EmbeddedRedis() as server:
        client = aioredis.Redis.from_url(server.url)
        try:
            segment = await load(client, n)
            sched = await scheduler_phase(client, segment)
            e2e = None if args.no_e2e else await e2e_phase(client, server.url, segment, sched.pop("entries"), tmp)
        finally:
            await client.aclose()
    rows: list[tuple[str, str, str, str, str, str]] = []
    for case in CASES:
        recipients, elapsed, cpu, entries = sched[case]
        rate = recipients / elapsed
        note = (f"{n:,} endpoints, 3 treatments + 10% holdout, {recipients:,} recipients in {entries:,} requests in "
                f"{elapsed:.2f}s, {cpu / recipients * 1e6:.1f} CPU µs/recipient")
        if case == "cold":
            note += f"; cold index build + resolve alone {sched['resolve_cold']:.2f}s"
        if case == "snapshot":
            note += f"; snapshot load + resolve alone {sched['resolve_snapshot']:.2f}s"
        rows.append(("bench_campaign", f"scheduler into the stream, {case} segment index", "recipients/s",
                     f"{rate:,.0f}", f"{rate / 200_000:.2f}x target 200,000/s", note))
    if e2e is not None:
        total, base_s, enq_s, base_cpu = e2e["baseline"]
        planned, camp_s, sched_s, camp_cpu = e2e["campaign"]
        ratio = camp_s / base_s
        print(f"\n{machine()}\ncampaign end to end {camp_s:.2f}s vs baseline {base_s:.2f}s: {ratio:.2f}x "
              "(target <= 1.2x)")
        rows += [
            ("bench_campaign", "baseline: the same requests XADDed directly, 1 worker, sandbox SMTP", "seconds to all "
             "accepted", f"{base_s:.2f}", "1.00x", f"{total:,} messages, enqueue {enq_s:.2f}s, worker CPU "
             f"{base_cpu / total * 1e6:.0f} µs/msg"),
            ("bench_campaign", "campaign end to end: create -> worker's scheduler -> sandbox SMTP", "seconds to all "
             "accepted", f"{camp_s:.2f}", f"{ratio:.2f}x baseline (target <= 1.2x)", f"{planned:,} recipients, run "
             f"enqueued after {sched_s:.2f}s, worker CPU {camp_cpu / planned * 1e6:.0f} µs/msg"),
        ]
    if not args.no_results:
        append_rows(rows)


if __name__ == "__main__":
    import uvloop  # the gateway's event loop

    uvloop.install()
    asyncio.run(main())
