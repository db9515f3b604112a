"""How fast does a segment resolve over an application's endpoints, against the plain reference evaluator?

One run: N synthetic endpoints (default 1,000,000) with realistic cardinalities are written to a private Redis;
the columnar index is built from Redis (endpoints/s, bytes/endpoint); a 5-condition segment with one group of
each kind (Type ALL, ANY, NONE) is resolved by the compiled filter, its pure-Python twin (on a slice) and the
reference evaluator over endpoint dicts (on a slice; its rate is per endpoint, so a slice measures it fairly);
then an UpdateEndpointsBatch of 100 is timed until the next resolve sees it. Rows go to benchmarks/RESULTS.md.

    /work/venv/bin/python benchmarks/bench_segments.py [--endpoints 1000000] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway import _fast, keys
from gateway.embedded_redis import EmbeddedRedis
from gateway.endpoints.rules import iso_from_epoch
from gateway.endpoints.store import EndpointStore, all_ids_key
from gateway.models import (
    EndpointBatchItem,
    EndpointBatchRequest,
    EndpointLocation,
    WriteSegmentRequest,
)
from gateway.segments import index as index_mod
from gateway.segments import reference
from gateway.segments.index import from_documents
from gateway.segments.program import bind
from gateway.segments.resolver import SegmentResolver
from gateway.segments.store import SegmentStore

APP = "bench"
NOW = time.time()
TOPICS = [f"topic{i}" for i in range(20)]
COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR", "CA", "JP", "ES", "IT"] + [f"C{i}" for i in range(40)]
CWEIGHTS = [30, 10, 8, 7, 7, 5, 5, 4, 3, 3] + [0.45] * 40
MAKES = ["apple", "samsung", "google", "xiaomi", "huawei", "oppo", "vivo", "motorola", "oneplus", "sony"]
SEGMENT = {
    "Name": "bench",
    "SegmentGroups": {
        "Include": "ALL",
        "Groups": [
            {
                "Type": "ALL",
                "Dimensions": [
                    {"Demographic": {"Channel": {"Values": ["EMAIL", "SMS"]}}},
                    {"Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "ACTIVE"}}},
                ],
            },
            {
                "Type": "ANY",
                "Dimensions": [
                    {"Attributes": {"interests": {"AttributeType": "INCLUSIVE", "Values": ["topic1", "topic7"]}}},
                    {"Metrics": {"sessions": {"ComparisonOperator": "GREATER_THAN", "Value": 40}}},
                ],
            },
            {"Type": "NONE", "Dimensions": [{"Location": {"Country": {"Values": ["C1", "C2", "FR"]}}}]},
        ],
    },
}


def endpoint(rng: random.Random, i: int) -> dict[str, Any]:
    eid = f"{rng.getrandbits(128):032x}"
    ch = rng.choices(["EMAIL", "SMS", "GCM", "APNS"], [50, 25, 12, 13])[0]
    platform_ = "ios" if ch == "APNS" else rng.choice(["android", "ios", "web"])
    ep: dict[str, Any] = {
        "Address": f"user{i}@example.com" if ch == "EMAIL" else f"+1555{i:07d}",
        "ApplicationId": APP,
        "Attributes": {
            "plan": [rng.choice(["free", "pro", "enterprise"])],
            "interests": rng.sample(TOPICS, rng.randint(0, 3)),
            "signup": [iso_from_epoch(NOW - rng.randint(0, 730) * 86400)[:10]],
            "city": [f"city{int(rng.paretovariate(1.2)) % 1000}"],
            "lang": [rng.choice(["en", "de", "fr", "es", "pt", "ja", "it", "nl", "pl", "sv"])],
        },
        "ChannelType": ch,
        "CohortId": str(i % 100),
        "CreationDate": iso_from_epoch(NOW - 800 * 86400),
        "Demographic": {
            "AppVersion": f"3.{rng.randint(0, 19)}",
            "Make": rng.choice(MAKES),
            "Model": f"model{rng.randint(0, 199)}",
            "Platform": platform_,
            "Timezone": "Europe/Berlin",
        },
        "EffectiveDate": iso_from_epoch(NOW - rng.random() * 60 * 86400),
        "EndpointStatus": "ACTIVE",
        "Id": eid,
        "Location": {
            "Country": rng.choices(COUNTRIES, CWEIGHTS)[0],
            "Latitude": round(rng.uniform(-60, 70), 1),
            "Longitude": round(rng.uniform(-180, 180), 1),
        },
        "Metrics": {"sessions": float(rng.randint(0, 100)), "spend": round(rng.expovariate(0.05), 2)},
        "OptOut": "NONE",
        "User": {"UserId": f"u{i}", "UserAttributes": {"tier": [rng.choice(["bronze", "silver", "gold"])]}},
    }
    if not ep["Attributes"]["interests"]:
        del ep["Attributes"]["interests"]
    return ep


def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1_000_000)
    ap.add_argument("--reference-slice", type=int, default=100_000)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    n = args.endpoints
    rng = random.Random(42)
    enc = msgspec.json.Encoder().encode
    t0 = time.perf_counter()
    dicts_head: list[dict[str, Any]] = []
    docs: list[bytes] = []
    for i in range(n):
        d = endpoint(rng, i)
        if i < args.reference_slice:
            dicts_head.append(d)
        docs.append(enc(d))
    print(f"generated {n:,} endpoints in {time.perf_counter() - t0:.1f}s, {sum(map(len, docs)) / n:.0f} B JSON each")

    server = EmbeddedRedis().start()
    client = aioredis.Redis.from_url(server.url)
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        t0 = time.perf_counter()
        for start in range(0, n, 10_000):
            pipe = client.pipeline(transaction=False)
            chunk = docs[start : start + 10_000]
            ids = [msgspec.json.decode(doc, type=dict)["Id"] for doc in chunk]
            pipe.mset({keys.endpoint(APP, eid): doc for eid, doc in zip(ids, chunk, strict=True)})
            pipe.sadd(all_ids_key(APP), *ids)
            await pipe.execute()
        print(f"loaded Redis in {time.perf_counter() - t0:.1f}s")
        segs = SegmentStore(client)
        seg = await segs.create(APP, msgspec.convert(SEGMENT, WriteSegmentRequest))
        kernel = _fast.load("segfilter")
        twin = _fast.implementations("segfilter")[-1]

        # 1. index build from Redis
        resolver = SegmentResolver(client, segs, kernel=kernel)
        t0 = time.perf_counter()
        idx = await resolver.index(APP)
        build_s = time.perf_counter() - t0
        per_ep = idx.nbytes() / idx.n
        print(f"index build from Redis: {build_s:.2f}s = {n / build_s:,.0f} endpoints/s; {per_ep:.0f} B/endpoint")
        await resolver.drain()  # the snapshot the cold build saves in the background
        t0 = time.perf_counter()
        warm = await SegmentResolver(client, segs, kernel=kernel).index(APP)
        snap_s = time.perf_counter() - t0
        assert warm.n == idx.n
        print(f"index load from the Redis snapshot: {snap_s:.2f}s = {n / snap_s:,.0f} endpoints/s")
        # the same cold build with the pure-Python twin appending rows (the baseline of the compiled append)
        twin_builder = _fast.implementations("segbuild")[-1]
        t0 = time.perf_counter()
        twin_idx = await index_mod.build(client, APP, kernel, builder=twin_builder)
        twin_build_s = time.perf_counter() - t0
        assert twin_idx.n == idx.n
        del twin_idx
        print(f"index build from Redis, twin append: {twin_build_s:.2f}s = {n / twin_build_s:,.0f} endpoints/s")

        # 2. filter: compiled vs twin vs reference
        node = await resolver.tree(APP, seg.Id)
        now = time.time()

        def compiled_filter() -> int:
            return int(kernel.count(kernel.run(bind(node, idx, now, lambda m: b""), idx.n)))

        filt_s, matched = best_of(compiled_filter, 7)
        resolve_s, ids_out = best_of(
            lambda: idx.ids(kernel.rows(kernel.run(bind(node, idx, now, lambda m: b""), idx.n))), 3
        )
        assert len(ids_out) == matched
        t0 = time.perf_counter()
        for _ in range(5):
            await resolver.count(APP, seg.Id)
        api_count_s = (time.perf_counter() - t0) / 5

        slice_n = min(args.reference_slice, n)
        head = from_documents(docs[:slice_n], twin)
        twin_s, twin_matched = best_of(
            lambda: int(twin.count(twin.run(bind(node, head, now, lambda m: b""), head.n))), 1
        )
        segresp = await segs.get(APP, seg.Id)

        def ref() -> int:
            return sum(
                reference.segment_match(segresp, d, now, lambda i, v: segresp, lambda i, v: set())
                for d in dicts_head[:slice_n]
            )

        ref_s, ref_matched = best_of(ref, 1)
        head_c = from_documents(docs[:slice_n], kernel)
        c_head = int(kernel.count(kernel.run(bind(node, head_c, now, lambda m: b""), head_c.n)))
        assert ref_matched == twin_matched == c_head, (ref_matched, twin_matched, c_head)
        ours_rate = n / filt_s
        ref_rate = slice_n / ref_s
        twin_rate = slice_n / twin_s
        print(
            f"segment matches {matched:,} of {n:,} ({matched / n:.1%}); agrees with reference on the first {slice_n:,}"
        )
        print(f"compiled filter: {filt_s * 1e3:.1f} ms = {ours_rate / 1e6:.1f} M endpoint evaluations/s")
        print(
            f"  resolve to id list: {resolve_s * 1e3:.1f} ms; resolver.count() with refresh: {api_count_s * 1e3:.1f} ms"
        )
        print(f"pure-Python twin kernel: {twin_rate / 1e6:.2f} M/s; reference evaluator: {ref_rate / 1e6:.3f} M/s")
        print(f"compiled / reference = {ours_rate / ref_rate:.0f}x")

        # 3. a batch of 100 visible to the next resolve
        store = EndpointStore(client)
        victims = [msgspec.json.decode(d, type=dict)["Id"] for d in docs[:100]]
        before = await resolver.count(APP, seg.Id)
        batch = EndpointBatchRequest(
            Item=[EndpointBatchItem(Id=v, Location=EndpointLocation(Country="FR")) for v in victims]
        )
        in_before = len(set(victims) & set(await resolver.resolve(APP, seg.Id)))
        t0 = time.perf_counter()
        await store.update_endpoints_batch(APP, batch)
        after = await resolver.count(APP, seg.Id)
        visible_s = time.perf_counter() - t0
        assert after == before - in_before, (before, after, in_before)
        print(
            f"UpdateEndpointsBatch(100) + next resolve sees it: {visible_s * 1e3:.1f} ms ({in_before} left the segment)"
        )

        machine = f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
        date = dt.date.today().isoformat()
        ref_note = f"reference {ref_rate / 1e6:.3f} M/s on {slice_n:,}; twin {twin_rate / 1e6:.2f} M/s"
        rows = [
            (
                "filter 1M, 5 conditions / 3 groups",
                "endpoint evaluations/s",
                f"{ours_rate / 1e6:.1f} M",
                f"{ours_rate / ref_rate:.0f}x reference",
                f"{filt_s * 1e3:.1f} ms per resolve; {ref_note}",
            ),
            (
                "resolve to id list",
                "ms",
                f"{resolve_s * 1e3:.1f}",
                "",
                f"{matched:,} ids; resolver.count() with refresh {api_count_s * 1e3:.1f} ms",
            ),
            (
                "index memory",
                "bytes/endpoint",
                f"{per_ep:.0f}",
                "",
                "arrays + dictionaries (ids, id table, 19 columns)",
            ),
            (
                "index build from Redis, cold",
                "endpoints/s",
                f"{n / build_s:,.0f}",
                f"{twin_build_s / build_s:.2f}x twin append",
                f"{n:,} in {build_s:.2f}s: SSCAN ahead, 3 MGETs of 5,000 in flight, msgspec decode, compiled"
                " row append (uvloop)",
            ),
            (
                "index build from Redis, cold, pure-Python twin append",
                "endpoints/s",
                f"{n / twin_build_s:,.0f}",
                "",
                f"{n:,} in {twin_build_s:.2f}s: the same build with gateway/_fast/_segbuild_py.py appending",
            ),
            (
                "index load from Redis snapshot",
                "endpoints/s",
                f"{n / snap_s:,.0f}",
                f"{build_s / snap_s:.0f}x cold build",
                f"{n:,} in {snap_s:.2f}s: snapshot saved by a cold build + change replay",
            ),
            ("UpdateEndpointsBatch(100) visible", "ms", f"{visible_s * 1e3:.1f}", "", "write + next resolver.count()"),
        ]
        if not args.no_results:
            path = Path(__file__).with_name("RESULTS.md")
            if not path.exists():
                path.write_text(
                    "| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n"
                    "|---|---|---|---|---|---|---|---|\n"
                )
            with path.open("a") as f:
                for case, metric, value, ratio, notes in rows:
                    f.write(
                        f"| {date} | {machine} | bench_segments | {case} | {metric} | {value} | {ratio} | {notes} |\n"
                    )
    finally:
        await client.aclose()
        server.cleanup()


if __name__ == "__main__":
    import uvloop  # the gateway's event loop

    uvloop.install()
    asyncio.run(main())
