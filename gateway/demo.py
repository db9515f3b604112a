"""`gateway demo`: an embedded Redis, the sandbox SMTP sink and a gateway worker, all local and unprivileged.

It enqueues `count` personalized HTML emails to as many distinct addresses (one stream entry each, as a
transactional sender would), shows live progress, and ends with a summary: delivered, failed by status,
messages/s, and p50/p99 latency from enqueue to final outcome. One address in a thousand hard-bounces and one
in a thousand fails twice before it is accepted, so the retry path and the suppression list show up too.
"""

from __future__ import annotations

import asyncio
import os
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

from gateway.embedded_redis import EmbeddedRedis, free_port

HTML = """<!doctype html><html><body style="font-family:sans-serif">
<h1>Hello {{User.UserAttributes.FirstName}},</h1>
<p>Thank you for order <b>#{{Attributes.OrderId}}</b>. It ships to {{Location.City}} on {{Attributes.ShipDate}}.</p>
<table>""" + "".join(
    f"<tr><td>Item {i}</td><td>{{{{Attributes.Item{i}}}}}</td><td>qty 1</td></tr>" for i in range(1, 6)
) + """</table>
<p>Your loyalty tier is {{User.UserAttributes.Tier}}; you have {{Metrics.Points}} points.</p>
<p style="color:#888">You receive this email because you bought something from Demo Shop. Manage preferences
at https://shop.example/preferences?u={{User.UserId}}. Demo Shop, 1 Example Street, Exampletown.</p>
""" + "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12 + "</p></body></html>"

_encode = msgspec.json.Encoder().encode


def _request(i: int) -> bytes:
    if i % 1000 == 7:
        addr = f"bounce{i}@demo.example"
    elif i % 1000 == 8:
        addr = f"flaky{i}@demo.example"
    else:
        addr = f"user{i}@demo.example"
    subs = {
        "User.UserAttributes.FirstName": [f"Customer{i}"], "Attributes.OrderId": [str(100000 + i)],
        "Location.City": ["Lisbon"], "Attributes.ShipDate": ["2026-12-01"], "User.UserAttributes.Tier": ["gold"],
        "Metrics.Points": [str(i % 997)], "User.UserId": [f"u{i}"],
        **{f"Attributes.Item{k}": [f"Widget {k}-{i % 13}"] for k in range(1, 6)},
    }
    return _encode({
        "Addresses": {addr: {"ChannelType": "EMAIL", "Substitutions": subs}},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "Demo Shop <orders@shop.example>",
            "SimpleEmail": {"Subject": {"Data": "Your order #{{Attributes.OrderId}}, {{User.UserAttributes.FirstName}}"},
                            "HtmlPart": {"Data": HTML}}}},
    })


def _bar(done: int, total: int, rate: float) -> str:
    width = 40
    filled = int(width * done / max(total, 1))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done:>7}/{total} {rate:8.0f} msg/s"


async def _run(count: int, redis_url: str, started: float) -> dict[str, object]:
    client = aioredis.Redis.from_url(redis_url)
    final = Counter[str]()
    latencies: list[int] = []
    last_id: Any = "0"

    async def enqueue() -> None:
        for start in range(0, count, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(count, start + 1000)):
                pipe.xadd("gateway:send", {"app": b"demo", "request": _request(i)})
            await pipe.execute()

    producer = asyncio.create_task(enqueue())
    first_ms = int(started * 1000)
    last_outcome_ms = first_ms
    shown = 0.0
    while sum(final.values()) < count:
        reply: Any = await client.xread({"gateway:events": last_id}, count=10_000, block=500)
        for _, items in reply or []:
            for entry_id, fields in items:
                last_id = entry_id
                etype = fields[b"event_type"].decode()
                if etype.endswith(".send"):
                    continue
                rec = msgspec.json.decode(fields[b"record"])
                attrs = rec["attributes"]
                status = attrs["delivery_status"]
                if status in ("TEMPORARY_FAILURE", "THROTTLED") and "will retry" in attrs["status_message"]:
                    continue
                final[status] += 1
                enq_ms = int(attrs["request_id"].split("-")[0])
                latencies.append(rec["event_timestamp"] - enq_ms)
                last_outcome_ms = max(last_outcome_ms, rec["event_timestamp"])
        now = time.time()
        if now - shown > 0.2:
            done = sum(final.values())
            print(_bar(done, count, done / max(now - started, 1e-9)), end="", flush=True)
            shown = now
    await producer
    elapsed = (last_outcome_ms - first_ms) / 1000
    print(_bar(count, count, count / max(elapsed, 1e-9)), flush=True)
    latencies.sort()
    await client.aclose()
    return {
        "final": final, "elapsed": elapsed,
        "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99) - 1],
    }


def main(count: int = 100_000, workers: int = 1) -> int:
    print(f"gateway demo: {count:,} personalized emails through an embedded Redis and the sandbox SMTP sink")
    tmp = Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    redis_server = EmbeddedRedis().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        smtp_port = free_port()
        ready = tmp / "smtp.port"
        procs.append(subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(smtp_port),
                                       "--ready-file", str(ready)], stdout=subprocess.DEVNULL))
        deadline = time.time() + 20
        while not ready.exists():
            if time.time() > deadline or procs[0].poll() is not None:
                print("gateway demo: the sandbox SMTP sink did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        config = tmp / "gateway.toml"
        config.write_text(
            f'redis_url = "{redis_server.url}"\nlog_level = "WARNING"\n'
            '[api]\nauth = "none"\n'
            "[stream]\nbatch_size = 256\nmax_inflight = 1024\n"
            "[retry]\nbase_s = 0.5\ncap_s = 2.0\nmax_attempts = 4\npoll_ms = 100\n"
            f'[[channels]]\nkind = "smtp"\nport = {smtp_port}\nconnections = 64\n'
        )
        env = dict(os.environ)
        api_port = free_port()
        for n in range(workers):
            api = ["--api", f"127.0.0.1:{api_port}"] if n == 0 else []
            procs.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                                           "--consumer", f"demo-{n}", *api], env=env))
        print(f"  Pinpoint REST API (auth disabled for the demo): http://127.0.0.1:{api_port}")
        import uvloop

        result = uvloop.run(_run(count, redis_server.url, time.time()))
        final: Counter[str] = result["final"]  # type: ignore[assignment]
        elapsed: float = result["elapsed"]  # type: ignore[assignment]
        print()
        print(f"  delivered (SUCCESSFUL) {final.pop('SUCCESSFUL', 0):>9,}")
        for status, n in sorted(final.items()):
            print(f"  failed {status:<17}{n:>9,}")
        print(f"  throughput             {count / max(elapsed, 1e-9):>9,.0f} messages/s ({workers} worker process)")
        print(f"  latency enqueue→outcome p50 {result['p50']} ms, p99 {result['p99']} ms")
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_server.cleanup()
