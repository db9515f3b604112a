"""What does late-bounce correlation add to the email send path?

With `return_path_domain` set, every email gets a signed VERP MAIL FROM (HMAC-SHA256 + base32) and a Message-ID
record (`gw:mailsent:<id>`, SET EX) written in the batch's outcome transaction. Measured in one run:
  (a) the channel's per-message work alone (`_envelope_from` + `_remember`), µs/message;
  (b) Dispatcher.process end to end (stream entries -> sandbox SMTP sink in this process -> events, XACK) over a
      real Redis (embedded redis-server), batches of --batch, with and without a return-path domain; the Redis
      round trips per batch are counted too (the record must add none).
Prints a table and appends rows to benchmarks/RESULTS.md. Small scale by default:

    python benchmarks/bench_bounce_record.py [--messages 2000] [--batch 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec
import redis.asyncio as aioredis

from benchmarks._common import append_rows
from gateway.bounces import sent
from gateway.channels.base import Outbound, Recipient, Runtime
from gateway.channels.registry import build_routes
from gateway.channels.smtp.channel import SmtpChannel
from gateway.channels.smtp.mime import EmailContent
from gateway.config import from_dict
from gateway.dispatch import Dispatcher
from gateway.embedded_redis import EmbeddedRedis
from gateway.endpoints.store import EndpointStore
from gateway.sandbox.smtp import SmtpSink

APP = "0123456789abcdef0123456789abcdef"
KEY_ENV = "BENCH_VERP_KEY"


def channel_cfg(port: int, bounces: bool) -> dict[str, Any]:
    ch: dict[str, Any] = {"kind": "smtp", "port": port, "connections": 8, "default_from": "news@shop.test",
                          "helo_name": "gateway.test"}
    if bounces:
        ch.update(return_path_domain="bounces.shop.test", verp_key_env=KEY_ENV)
    return ch


def per_message_us(n: int) -> tuple[float, float]:
    """(µs for _envelope_from + _remember, µs for the plain sender) per message."""
    cfg = from_dict({"channels": [channel_cfg(2525, True)]}).channels[0]
    ch = SmtpChannel(cfg)  # type: ignore[arg-type]
    msgs = [Outbound(message_id=f"a1b2c3d4e5f6-{i:012x}", app=APP,
                     recipient=Recipient(key=f"u{i}@example.com", address=f"u{i}@example.com", channel_type="EMAIL"),
                     content=EmailContent(sender="news@shop.test", from_header=None, recipient=f"u{i}@example.com"))
            for i in range(n)]
    t = time.perf_counter()
    for m in msgs:
        ch._envelope_from(m, "news@shop.test")
        ch._remember(m, "news@shop.test")
    with_record = (time.perf_counter() - t) / n * 1e6
    plain_cfg = from_dict({"channels": [channel_cfg(2525, False)]}).channels[0]
    plain = SmtpChannel(plain_cfg)  # type: ignore[arg-type]
    t = time.perf_counter()
    for m in msgs:
        plain._envelope_from(m, "news@shop.test")
        plain._remember(m, "news@shop.test")
    return with_record, (time.perf_counter() - t) / n * 1e6


class CountingPipelines:
    """Counts the pipelines (round trips) a Redis client executes."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.n = 0
        original = redis.pipeline

        def pipeline(*a: Any, **kw: Any) -> Any:
            pipe = original(*a, **kw)
            execute = pipe.execute

            async def counted(*ea: Any, **ekw: Any) -> Any:
                self.n += 1
                return await execute(*ea, **ekw)

            pipe.execute = counted  # type: ignore[method-assign]
            return pipe

        redis.pipeline = pipeline  # type: ignore[method-assign]


async def dispatch_run(redis_url: str, sink_port: int, n: int, batch: int, bounces: bool) -> tuple[float, float]:
    """(µs per message, pipelines per batch) of Dispatcher.process over n emails."""
    cfg = from_dict({"redis_url": redis_url, "channels": [channel_cfg(sink_port, bounces)]})
    redis = aioredis.from_url(redis_url)
    await redis.flushall()
    await redis.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    routes = build_routes(cfg, Runtime(redis, EndpointStore(redis)))
    dispatcher = Dispatcher(redis, cfg, routes)
    request = {"Addresses": {}, "MessageConfiguration": {"EmailMessage": {
        "SimpleEmail": {"Subject": {"Data": "Hello"}, "TextPart": {"Data": "Hi there"}}}}}
    batches = []
    for b in range(0, n, batch):
        raw = []
        for i in range(b, min(n, b + batch)):
            req = {**request, "Addresses": {f"user{i}@example.com": {"ChannelType": "EMAIL"}}}
            raw.append((f"{i + 1}-0", {b"app": APP.encode(), b"request": msgspec.json.encode(req)}))
        batches.append(raw)
    await dispatcher.process(batches[0][:8])  # warm the SMTP sessions and scripts
    counter = CountingPipelines(redis)
    t = time.perf_counter()
    for raw in batches:
        await dispatcher.process(raw)
    elapsed = time.perf_counter() - t
    for route in {id(r.channel): r for r in routes.values()}.values():
        await route.channel.aclose()
    if bounces:
        assert await redis.exists(sent.key(f"{dispatcher.ids.prefix}-{1:012x}"))
    await redis.aclose()
    return elapsed / n * 1e6, counter.n / len(batches)


async def main_async(args: argparse.Namespace) -> None:
    os.environ[KEY_ENV] = "bench-verp-key-0123456789abcdef"
    sink = await SmtpSink().start()
    with EmbeddedRedis() as server:
        rows = []
        # interleaved, best of each: this machine's speed drifts within a run
        plain: list[tuple[float, float]] = []
        rec: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            plain.append(await dispatch_run(server.url, sink.port, args.messages, args.batch, False))
            rec.append(await dispatch_run(server.url, sink.port, args.messages, args.batch, True))
        (base, plain_rt), (rec_us, rec_rt) = min(plain), min(rec)
        note = f"n={args.messages}, batch {args.batch}, best of {args.rounds}, in-process sandbox sink, embedded redis"
        rows.append(("bench_bounce_record", "Dispatcher.process, no return path", "µs/message", f"{base:.1f}",
                     "1.00x", f"{note}; {plain_rt:.1f} pipelines/batch"))
        rows.append(("bench_bounce_record", "Dispatcher.process, VERP + Message-ID record", "µs/message",
                     f"{rec_us:.1f}", f"{rec_us / base:.2f}x", f"{note}; {rec_rt:.1f} pipelines/batch"))
    await sink.aclose()
    with_us, plain_ch = per_message_us(args.messages)
    rows.append(("bench_bounce_record", "channel: VERP address + record, per message", "µs/message",
                 f"{with_us:.2f}", f"+{with_us - plain_ch:.2f} µs", "HMAC-SHA256, base32, msgspec array"))
    for r in rows:
        print(" | ".join(r))
    append_rows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
