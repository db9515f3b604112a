"""Does a 90-day KPI query over rollups representing 100 million events answer in under 20 ms? (issue 14)

- rollups: the day hashes and HyperLogLogs of one application are written directly, sized as 100M events over 90
  days would leave them (C campaigns x 2 activities, J journeys, transactional, EMAIL and SMS, every counter;
  HyperLogLogs dense), then queries over 90 days go through gateway.kpi.query (the core under the API; the API
  itself refuses ranges over 31 days, as Pinpoint does): ungrouped, per day, per campaign, and a unique count.
  Measured: median and p99 latency of each query, client included (one pipelined round trip, two for unique).
- baseline: answering the same question from the raw events stream: XRANGE pages of N generated events, decoded
  and counted; its rate gives the time a scan of 100M events would take.
- write-time rollups: events/s of counting N generated events as the writers do (Tally.add per event, one
  Roller.write per batch of 1000), i.e. the rollups' cost on the writers' path.

    python benchmarks/bench_kpi.py [--events 100000000] [--campaigns 50] [--journeys 10] [--scan 200000]
                                   [--consume 100000] [--queries 200] [--dry]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from benchmarks._common import append_rows  # noqa: E402
from gateway.embedded_redis import EmbeddedRedis  # noqa: E402
from gateway.events import EventWriter  # noqa: E402
from gateway.kpi import catalog, query  # noqa: E402
from gateway.kpi.rollup import Roller, Tally, by_campaign_key, hash_key, hll_key  # noqa: E402
from tests import kpi_data  # noqa: E402

APP = "benchapp"
COUNTERS = ("sent", "delivered", "opened", "clicked", "hardbounced", "softbounced", "complained", "unsubscribed",
            "rejected")
SHARE = {"sent": 1.0, "delivered": 0.9, "opened": 0.3, "clicked": 0.08, "hardbounced": 0.02, "softbounced": 0.01,
         "complained": 0.001, "unsubscribed": 0.004, "rejected": 0.005}


async def size_rollups(r: aioredis.Redis, days: list[str], events: int, campaigns: int, journeys: int) -> None:
    """Write the rollups `events` events over `days` would leave (counter totals split evenly)."""
    sources = [f"c:camp{c}" for c in range(campaigns)] + [f"j:jour{j}" for j in range(journeys)] + ["t"]
    per = events / 2 / len(days) / len(sources) / len(COUNTERS) * len(COUNTERS)  # sent per (day, source, channel)
    rnd = random.Random(1)
    for d in days:
        pipe = r.pipeline(transaction=False)
        app_fields: dict[str, int] = {}
        by_campaign: dict[str, dict[str, int]] = {}
        for src in sources:
            scoped: dict[str, int] = {}
            for ch in ("EMAIL", "SMS"):
                for c in COUNTERS:
                    n = int(per * SHARE[c] * rnd.uniform(0.9, 1.1))
                    for s, chan in ((src, ch), (src, "*"), ("*", ch), ("*", "*")):
                        app_fields[f"{s}|{chan}|{c}"] = app_fields.get(f"{s}|{chan}|{c}", 0) + n
                    if src.startswith("c:"):
                        for chan in (ch, "*"):
                            cell = by_campaign.setdefault(by_campaign_key(APP, d, chan, c), {})
                            cell[src[2:]] = cell.get(src[2:], 0) + n
                    for act in ("act0", "act1"):
                        for a, chan in ((act, ch), (act, "*"), ("*", ch), ("*", "*")):
                            scoped[f"{a}|{chan}|{c}"] = scoped.get(f"{a}|{chan}|{c}", 0) + n // 2
            if src != "t":
                pipe.hset(hash_key(APP, d, src), mapping=scoped)
        pipe.hset(hash_key(APP, d, "a"), mapping=app_fields)
        for key, cell in by_campaign.items():
            pipe.hset(key, mapping=cell)
        for scope in ("a", "t", "c:camp0", "c:camp0:act0"):
            for c in ("delivered", "opened", "clicked"):
                pipe.pfadd(hll_key(APP, d, scope, c), *(f"ep{rnd.randrange(10**7)}" for _ in range(5000)))
        await pipe.execute()


async def time_query(r: aioredis.Redis, level: str, target: str, name: str, start: dt.datetime, end: dt.datetime,
                     n: int) -> tuple[float, float, int]:
    out = []
    rows = 0
    for _ in range(n):
        t0 = time.perf_counter()
        rows = len(await query.date_range_kpi(r, APP, level, target, name, start, end))
        out.append((time.perf_counter() - t0) * 1000)
    out.sort()
    return statistics.median(out), out[min(len(out) - 1, int(len(out) * 0.99))], rows


async def write_events(r: aioredis.Redis, key: str, n: int) -> None:
    now_ms = int(time.time() * 1000)
    records = kpi_data.generate("scanapp", now_ms, n // 3 or 1, days=30)[:n]
    writer = EventWriter(r, key)
    for i in range(0, len(records), 5000):
        args: list[object] = []
        for rec in records[i:i + 5000]:
            args += rec
        pipe = r.pipeline(transaction=False)
        await writer.queue(pipe, args)  # type: ignore[arg-type]
        await pipe.execute()


class _Attrs(msgspec.Struct):
    delivery_status: str = ""


class _Rec(msgspec.Struct):
    event_timestamp: int = 0
    attributes: _Attrs = msgspec.field(default_factory=_Attrs)


async def scan_rate(r: aioredis.Redis, key: str) -> tuple[int, float]:
    """Events/s of answering "delivered and sent per day" by scanning the raw stream (XRANGE pages, decode)."""
    dec = msgspec.json.Decoder(_Rec).decode
    t0 = time.perf_counter()
    n, cursor, sent = 0, "-", {}
    while True:
        page = await r.xrange(key, min=cursor, count=10_000)
        if not page:
            break
        for _id, f in page:
            rec = dec(f[b"record"])
            if rec.attributes.delivery_status:
                d = rec.event_timestamp // 86_400_000
                sent[d] = sent.get(d, 0) + 1
        n += len(page)
        cursor = "(" + page[-1][0].decode()
    return n, n / (time.perf_counter() - t0)


async def main(args: argparse.Namespace) -> None:
    with EmbeddedRedis() as server:
        r = aioredis.Redis.from_url(server.url)
        now = dt.datetime.now(dt.UTC)
        start = now - dt.timedelta(days=89)  # 90 calendar days, today included
        days = catalog.days(start, now)
        t0 = time.perf_counter()
        await size_rollups(r, days, args.events, args.campaigns, args.journeys)
        info = await r.info("memory")
        print(f"rollups for {args.events:,} events over {len(days)} days written in {time.perf_counter() - t0:.1f}s,"
              f" {info['used_memory_human']} used")
        rows = []
        cases = [(catalog.APP, "", "successful-delivery-rate"), (catalog.APP, "", "successful-delivery-rate-grouped-by-date"),
                 (catalog.APP, "", "unique-deliveries"), (catalog.APP, "", "txn-emails-sent-grouped-by-date"),
                 (catalog.CAMPAIGN, "camp0", "email-open-rate-grouped-by-date"),
                 (catalog.APP, "", "successful-delivery-rate-grouped-by-campaign")]
        for level, target, name in cases:
            p50, p99, nrows = await time_query(r, level, target, name, start, now, args.queries)
            print(f"{level:12} {name:48} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({nrows} rows)")
            rows.append(("bench_kpi", f"90-day {level} {name}", "query ms p50 / p99", f"{p50:.2f} / {p99:.2f}",
                         f"{20 / p50:.1f}x under the 20 ms target",
                         f"rollups of {args.events:,} events, {args.campaigns} campaigns, {args.journeys} journeys"))
        await write_events(r, "bench:events", args.scan)
        n, rate = await scan_rate(r, "bench:events")
        scan_s = args.events / rate
        print(f"baseline: scanning {n:,} raw events at {rate:,.0f} events/s -> 100M events in {scan_s:,.0f} s")
        p50_best = min(float(x[3].split(" / ")[0]) for x in rows)
        rows.append(("bench_kpi", f"baseline: scan of the raw events stream (n={n:,})", "events/s", f"{rate:,.0f}",
                     f"{scan_s * 1000 / p50_best:,.0f}x slower than the rollups", f"100M events: {scan_s:,.0f} s"))
        # the writers' side: what they have at hand per event (decoded here, outside the timing)
        events = []
        # (events of one moment, as a writer's batch is: one day)
        for app, et, raw in kpi_data.generate("rollapp", int(time.time() * 1000), args.consume // 3 or 1,
                                              days=1)[:args.consume]:
            rec = msgspec.json.decode(raw)
            events.append((app, et, rec["event_timestamp"], rec["attributes"], rec["client"].get("client_id", "")))
        roller = Roller(r, retention_days=90)
        t0 = time.perf_counter()
        for i in range(0, len(events), 1000):
            tally = Tally()
            for app, et, ms, attrs, client in events[i:i + 1000]:
                tally.add(app, et, ms, attrs, client)
            await roller.write(tally)
        rate = len(events) / (time.perf_counter() - t0)
        print(f"write-time rollups: {len(events):,} events at {rate:,.0f} events/s ({1e6 / rate:.2f} µs per event)")
        rows.append(("bench_kpi", "write-time rollups (Tally.add + one Roller.write per 1000 events)", "events/s",
                     f"{rate:,.0f}", f"{1e6 / rate:.2f} µs per event", f"n={len(events):,} generated engine records"))
        await r.aclose()
        if not args.dry:
            append_rows(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--campaigns", type=int, default=50)
    ap.add_argument("--journeys", type=int, default=10)
    ap.add_argument("--scan", type=int, default=200_000)
    ap.add_argument("--consume", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dry", action="store_true", help="print only; no RESULTS.md rows")
    asyncio.run(main(ap.parse_args()))
