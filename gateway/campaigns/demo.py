"""`gateway demo --campaign`: an A/B campaign with a holdout to a segment of `endpoints` EMAIL endpoints (100,000 by
default), run by a gateway worker's own scheduler through an embedded Redis and the sandbox SMTP sink.

The endpoints are written with UpdateEndpointsBatch, the segment and the campaign through the stores the REST API
uses: treatment A (the campaign's own message) and treatment B (an additional treatment, 45 %), 10 % held out.
Progress is shown per treatment from the event stream (every event of a campaign send carries its treatment_id);
at the end, a summary: delivered and failed per treatment, each treatment's run metrics (GetCampaignActivities'
ExecutionMetrics: ENDPOINT_PRODUCED, TREATMENT_HOLDOUT...), how long the scheduler took to enqueue the run and
the messages/s from the campaign's creation to the last outcome.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

from gateway import models
from gateway.campaigns import runs
from gateway.campaigns.store import CampaignStore
from gateway.demo import HTML, classify
from gateway.embedded_redis import EmbeddedRedis, free_port
from gateway.endpoints.store import EndpointStore
from gateway.segments.store import SegmentStore
from gateway.templates.store import TemplateStore

APP = "demo-campaign"
LETTERS = {"0": "A", "1": "B"}
CITIES = ["Lisbon", "Porto", "Berlin", "Austin", "Osaka", "Lagos", "Lima", "Oslo"]


def _message(letter: str, subject: str) -> dict[str, Any]:
    return {"EmailMessage": {"FromAddress": "Demo Shop <news@shop.example>", "Title": subject,
                             "HtmlBody": HTML.replace("<h1>", f"<h1>[{letter}] ", 1)}}


def campaign_request(segment_id: str) -> models.WriteCampaignRequest:
    """The demo's campaign: A (its own message) and B (45 %), 10 % held out, sent at once."""
    return msgspec.convert({
        "Name": "winter-sale", "SegmentId": segment_id, "HoldoutPercent": 10, "TreatmentName": "A",
        "MessageConfiguration": _message("A", "{{User.UserAttributes.FirstName}}, our winter sale starts today"),
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "AdditionalTreatments": [{
            "SizePercent": 45, "TreatmentName": "B",
            "MessageConfiguration": _message("B", "Only for you, {{User.UserAttributes.FirstName}}: 20% off"),
        }],
    }, models.WriteCampaignRequest)


def _endpoint(i: int) -> models.EndpointBatchItem:
    return models.EndpointBatchItem(
        Id=f"ep{i:06d}", ChannelType="EMAIL", Address=f"user{i}@demo.example",
        Attributes={"OrderId": [str(100000 + i)], "ShipDate": ["2026-12-01"], "list": ["newsletter"],
                    **{f"Item{k}": [f"Widget {k}-{i % 13}"] for k in range(1, 6)}},
        Location=models.EndpointLocation(City=CITIES[i % len(CITIES)]),
        Metrics={"Points": float(i % 997)},
        User=models.EndpointUser(UserId=f"u{i}", UserAttributes={"FirstName": [f"Customer{i}"], "Tier": ["gold"]}),
    )


async def _load(client: aioredis.Redis, endpoints: int) -> str:
    """Write the endpoints (UpdateEndpointsBatch of 100, a few at a time) and the segment; the segment id."""
    store = EndpointStore(client)
    batches = [models.EndpointBatchRequest(Item=[_endpoint(i) for i in range(s, min(endpoints, s + 100))])
               for s in range(0, endpoints, 100)]
    for w in range(0, len(batches), 16):
        await asyncio.gather(*(store.update_endpoints_batch(APP, b) for b in batches[w : w + 16]))
        print(f"\r  endpoints written {min(endpoints, (w + 16) * 100):>9,}/{endpoints:,}", end="", flush=True)
    print()
    seg = await SegmentStore(client).create(APP, msgspec.convert(
        {"Name": "newsletter", "Dimensions": {"Attributes": {"list": {"Values": ["newsletter"]}}}},
        models.WriteSegmentRequest))
    return seg.Id


def _progress(done: Counter[str], totals: dict[str, int], rate: float) -> str:
    parts = []
    for tid, letter in LETTERS.items():
        total = totals.get(tid)
        width = 24
        filled = int(width * done[tid] / total) if total else 0
        parts.append(f"{letter} [{'#' * filled}{'.' * (width - filled)}] {done[tid]:>7,}/"
                     + (f"{total:,}" if total is not None else "?"))
    return "\r  " + "   ".join(parts) + f"   {rate:7,.0f} msg/s"


class Result(msgspec.Struct):
    """What the demo saw: final outcomes per treatment (delivery_status counts) and the timings."""

    final: dict[str, Counter[str]]
    elapsed: float  # creation of the campaign to the last outcome, seconds
    enqueued_s: float  # creation to the run's last chunk in the stream (the run record's end)
    activities: list[models.ActivityResponse]


async def run_campaign(client: aioredis.Redis, segment_id: str) -> Result:
    """Create the campaign (the worker's scheduler picks it up) and follow its sends on the event stream until every
    recipient of every treatment has a final outcome."""
    newest: Any = await client.xrevrange("gateway:events", count=1)
    last_id: Any = newest[0][0] if newest else "0"
    camps = CampaignStore(client, SegmentStore(client), TemplateStore(client))
    started = time.time()
    camp = await camps.create_campaign(APP, campaign_request(segment_id))
    record_key = runs.run_key(APP, camp.Id, 0)
    final: dict[str, Counter[str]] = {tid: Counter() for tid in LETTERS}
    seen: set[str] = set()
    totals: dict[str, int] = {}
    enqueued_at: float | None = None
    last_outcome = started
    shown = 0.0
    while enqueued_at is None or any(sum(final[t].values()) < totals[t] for t in LETTERS):
        reply: Any = await client.xread({"gateway:events": last_id}, count=10_000, block=200)
        for _, items in reply or []:
            for entry_id, fields in items:
                last_id = entry_id
                rec = msgspec.json.decode(fields[b"record"])
                attrs = rec["attributes"]
                tid = attrs.get("treatment_id")
                if attrs.get("campaign_id") != camp.Id or tid not in final:
                    continue
                kind = classify(fields[b"event_type"].decode(), attrs, seen)
                if kind is not None and kind[0] == "final":
                    final[tid][kind[1]] += 1
                    last_outcome = max(last_outcome, rec["event_timestamp"] / 1000)
        if enqueued_at is None:  # the totals are known once the scheduler has planned; the end once it is done
            record = runs.record(await client.hgetall(record_key))
            totals = {t: int(record[f"t{t}:total"]) for t in LETTERS if f"t{t}:total" in record}
            if record.get("state") == runs.COMPLETED and len(totals) == len(LETTERS):
                enqueued_at = time.time()
        now = time.time()
        if now - shown > 0.2:
            done = Counter({t: sum(c.values()) for t, c in final.items()})
            print(_progress(done, totals, sum(done.values()) / max(now - started, 1e-9)), end="", flush=True)
            shown = now
    done = Counter({t: sum(c.values()) for t, c in final.items()})
    elapsed = max(last_outcome - started, 1e-9)
    print(_progress(done, totals, sum(done.values()) / elapsed), flush=True)
    acts = (await camps.list_activities(APP, camp.Id, None, None)).Item
    return Result(final=final, elapsed=elapsed, enqueued_s=(enqueued_at or started) - started, activities=acts)


def summary(result: Result) -> None:
    """Per treatment: delivered, failed by status, run metrics; then the run's timings."""
    for act in sorted(result.activities, key=lambda a: a.TreatmentId or ""):
        tid = act.TreatmentId or "0"
        final = Counter(result.final.get(tid, Counter()))
        print(f"  treatment {LETTERS.get(tid, tid)} (TreatmentId {tid}): {act.State}, "
              f"{act.SuccessfulEndpointCount:,} of {act.TotalEndpointCount:,} endpoints enqueued")
        print(f"    delivered (SUCCESSFUL) {final.pop('SUCCESSFUL', 0):>9,}")
        for status, n in sorted(final.items()):
            print(f"    failed {status:<17}{n:>9,}")
        for name, value in sorted((act.ExecutionMetrics or {}).items()):
            print(f"    {name:<27}{int(value):>9,}")
    total = sum(sum(c.values()) for c in result.final.values())
    print(f"  scheduler: run planned and enqueued {result.enqueued_s:.1f} s after CreateCampaign")
    print(f"  throughput {total / result.elapsed:,.0f} messages/s from CreateCampaign to the last outcome "
          f"({total:,} in {result.elapsed:.1f} s, 1 worker process)")


def main(endpoints: int = 100_000) -> int:
    """Run the campaign demo (module doc); 0 when every recipient got a final outcome."""
    print(f"gateway demo --campaign: an A/B campaign with a 10 % holdout to {endpoints:,} endpoints through an embedded "
          "Redis, a gateway worker and the sandbox SMTP sink")
    tmp = Path(tempfile.mkdtemp(prefix="gateway-demo-campaign-"))
    redis_server = EmbeddedRedis().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        smtp_port = free_port()
        ready = tmp / "smtp.port"
        procs.append(subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(smtp_port),
                                       "--ready-file", str(ready)], stdout=subprocess.DEVNULL))
        deadline = time.time() + 20
        while not ready.exists():  # a child process's readiness: nothing to block on but the file
            if time.time() > deadline or procs[0].poll() is not None:
                print("gateway demo: the sandbox SMTP sink did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        config = tmp / "gateway.toml"
        config.write_text(
            f'redis_url = "{redis_server.url}"\nlog_level = "WARNING"\n'
            "[stream]\nbatch_size = 256\nmax_inflight = 1024\n"
            "[campaigns]\npoll_ms = 200\n"
            f'[[channels]]\nkind = "smtp"\nport = {smtp_port}\nconnections = 64\n')
        import uvloop

        async def go() -> Result:
            client = aioredis.Redis.from_url(redis_server.url)
            try:
                procs.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                                               "--consumer", "demo-campaign"], env=dict(os.environ)))
                print("\nSegment: writing the endpoints with UpdateEndpointsBatch (meanwhile the worker starts)")
                segment = await _load(client, endpoints)
                print("\nCampaign: A vs B (45 %), 10 % held out; the worker's scheduler runs it")
                return await run_campaign(client, segment)
            finally:
                await client.aclose()

        result = uvloop.run(go())
        print()
        summary(result)
        return 0
    finally:
        for p in reversed(procs):  # the worker first (it finishes what is in flight), then the sink
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
