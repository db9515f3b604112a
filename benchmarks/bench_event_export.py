"""Event export to an https webhook: events/s through the event-destination runner (issue 14: >= 50,000/s), and a
naive exporter that POSTs each event alone, in the same run.

N messaging event records (about 600 bytes each, like the engine's `_email.delivered`) are written to the events
stream of an embedded Redis; a webhook server in its own process (aiohttp over TLS, a throwaway trustme CA)
answers 200 to every POST and counts records. Measured: wall time from the runner's start until every record was
acknowledged (delivered and XACKed), so reading, filtering, signing, TLS, HTTP and acknowledging are all in it.
The naive baseline reads the same stream with its own consumer group and POSTs (signed, through the same client)
one event per request, acknowledging each. Do not run it on a busy machine; the lead runs it.

    python benchmarks/bench_event_export.py [--events 20000] [--baseline-events 2000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
import trustme  # noqa: E402

from benchmarks._common import append_rows  # noqa: E402
from gateway import keys, models  # noqa: E402
from gateway.channels.webhook import WebhookClient  # noqa: E402
from gateway.config import from_dict  # noqa: E402
from gateway.embedded_redis import EmbeddedRedis  # noqa: E402
from gateway.eventdest import targets  # noqa: E402
from gateway.eventdest.runner import DestinationRunner, attach  # noqa: E402
from gateway.events import message_record  # noqa: E402

EVENTS = "gateway:events"
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
APP = "benchapp"


def _serve(cert: str, key: str, port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    import ssl

    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    async def main() -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        ready.set()
        await asyncio.Event().wait()

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fill(redis: aioredis.Redis, n: int) -> None:
    now = int(time.time() * 1000)
    pipe = redis.pipeline(transaction=False)
    for i in range(n):
        rec = message_record(event_type="_email.delivered", app=APP, now_ms=now, message_id=f"m-{i:08d}",
                             request_id="r-1", channel_type="EMAIL", address=f"user{i}@example.com",
                             endpoint_id=f"ep-{i}", delivery_status="SUCCESSFUL", status_code=250,
                             status_message="250 2.0.0 OK queued as 4BCD12", attempt=1, trace_id=None,
                             context={"campaign_id": "c1", "treatment_id": "0"}, from_address="news@example.com")
        pipe.xadd(EVENTS, {"app": APP, "event_type": "_email.delivered", "record": rec})
        if len(pipe) >= 2000:
            await pipe.execute()
    await pipe.execute()


async def _runner(redis: aioredis.Redis, cfg: object, url: str, n: int) -> float:
    doc = models.EventStream(ApplicationId=APP, DestinationStreamArn=url, RoleArn="", LastModifiedDate="now")
    await redis.set(keys.app_key(APP, "eventstream"), msgspec.json.encode(doc))
    await attach(redis, EVENTS, APP, url, None)
    await _fill(redis, n)
    runner = DestinationRunner(redis, cfg, "bench", environ={"GATEWAY_WEBHOOK_SECRET": SECRET})  # type: ignore[arg-type]
    stop = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(runner.run(stop))
    await runner.wait_delivered(targets.group_name(APP, url), n)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    return elapsed


async def _naive(redis: aioredis.Redis, cfg: object, url: str, n: int) -> float:
    """One POST per event, each acknowledged on its own: what a first exporter looks like."""
    await redis.delete(EVENTS)
    await redis.xgroup_create(EVENTS, "naive", id="$", mkstream=True)
    await _fill(redis, n)
    client = WebhookClient(cfg.event_destinations.webhook, environ={"GATEWAY_WEBHOOK_SECRET": SECRET})  # type: ignore[attr-defined]
    done = 0
    t0 = time.perf_counter()
    while done < n:
        reply = await redis.xreadgroup("naive", "bench", {EVENTS: ">"}, count=100)
        for eid, fields in reply[0][1]:
            await client.post(url, b"[" + fields[b"record"] + b"]")
            await redis.xack(EVENTS, "naive", eid)
            done += 1
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return elapsed


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp())
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(tmp / "key.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    port = _port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(str(tmp / "cert.pem"), str(tmp / "key.pem"), port, ready),
                                     daemon=True)
    server.start()
    if not ready.wait(20):
        raise SystemExit("the webhook server did not start")
    url = f"https://127.0.0.1:{port}/events"
    cfg = from_dict({"event_destinations": {
        "batch_size": args.batch, "block_ms": 50, "webhook_max_bytes": args.post_bytes,
        "webhook": {"allow_networks": ["127.0.0.1/32"], "ca_file": str(tmp / "ca.pem")}}})
    redis_server = EmbeddedRedis().start()
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        await redis.flushall()
        runner_s = await _runner(redis, cfg, url, args.events)
        naive_s = await _naive(redis, cfg, url, args.baseline_events)
    finally:
        await redis.aclose()
        redis_server.cleanup()
        server.terminate()
    runner_rate, naive_rate = args.events / runner_s, args.baseline_events / naive_s
    print(json.dumps({
        "runner_events": args.events, "runner_s": round(runner_s, 3), "runner_events_per_s": round(runner_rate),
        "naive_events": args.baseline_events, "naive_s": round(naive_s, 3), "naive_events_per_s": round(naive_rate),
        "speedup": round(runner_rate / naive_rate, 1), "target_events_per_s": 50_000,
        "batch": args.batch, "post_bytes": args.post_bytes, "cpus": os.cpu_count(),
    }, indent=2))
    if not args.no_results:
        note = f"https webhook in another process, batch {args.batch}, {args.post_bytes // 1024} KiB POSTs"
        append_rows([
            ("bench_event_export", f"destination runner, {args.events:,} events", "events/s", f"{runner_rate:,.0f}",
             f"{runner_rate / naive_rate:.1f}x", note + "; target >= 50,000/s"),
            ("bench_event_export", f"naive: one POST per event, {args.baseline_events:,} events", "events/s",
             f"{naive_rate:,.0f}", "1.0x", note),
        ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--baseline-events", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500, help="event_destinations.batch_size")
    parser.add_argument("--post-bytes", type=int, default=1_048_576, help="event_destinations.webhook_max_bytes")
    parser.add_argument("--no-results", action="store_true", help="do not append rows to RESULTS.md")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(parser.parse_args()))
