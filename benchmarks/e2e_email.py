"""End-to-end email throughput: Redis stream → gateway → SMTP, against a naive baseline, in one run.

Setup: an embedded Redis, the sandbox SMTP sink in its own process (its ceiling is measured alone first, with a
minimal pipelining client, so we know it is not what we measure), and the system under test in its own process:
  * gateway: `gateway serve` (one process), 2 KB personalized HTML messages, one stream entry per message;
  * baseline: what a user writes with a task queue: one entry per XREADGROUP, json, str.format, email.message,
    `aiosmtplib.send` per message (a connection per message), XACK per entry, 32 concurrent consumer tasks.
Messages/s are counted at the sink (XSTATS) and as acknowledged in Redis over a steady window after a warm-up;
CPU µs per message is the process's user+system CPU over the same window divided by the messages.

    python benchmarks/e2e_email.py [--duration 60] [--baseline-duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import redis as redis_sync

from benchmarks._common import append_rows, cpu_seconds, machine, sink_accepted
from gateway.embedded_redis import EmbeddedRedis, free_port

HTML = ("<html><body><h1>Hello {{name}},</h1><p>Order <b>#{{order}}</b> ships to {{city}} on {{date}}.</p>"
        "<p>Tier {{tier}}, points {{points}}.</p>" + "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing. " * 34
        + "</p></body></html>")


def request(i: int) -> bytes:
    return msgspec.json.encode({
        "Addresses": {f"user{i}@bench.example": {"ChannelType": "EMAIL", "Substitutions": {
            "name": [f"Customer{i}"], "order": [str(100000 + i)], "city": ["Lisbon"], "date": ["2026-12-01"],
            "tier": ["gold"], "points": [str(i % 997)]}}},
        "MessageConfiguration": {"EmailMessage": {"FromAddress": "Shop <orders@shop.example>", "SimpleEmail": {
            "Subject": {"Data": "Order #{{order}} for {{name}}"}, "HtmlPart": {"Data": HTML}}}},
    })


def start_sink(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    ready = tmp / f"sink-{port}"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.sandbox.smtp", "--port", str(port), "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL)
    while not ready.exists():
        time.sleep(0.02)
    return proc, port


async def _raw_client(port: int, seconds: float, conns: int = 32) -> int:
    """A minimal pipelining SMTP client: the sink's ceiling."""
    body = b"Subject: x\r\n\r\n" + b"y" * 2000 + b"\r\n.\r\n"
    done = 0
    stop = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()
        w.write(b"EHLO x\r\n")
        while not (await r.readline()).startswith(b"250 "):
            pass
        while time.perf_counter() < stop:
            w.write(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n")
            for _ in range(3):
                await r.readline()
            w.write(body)
            await r.readline()
            done += 1
        w.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return done


def measure_sink_alone(port: int, seconds: float = 5.0) -> float:
    import uvloop

    n = uvloop.run(_raw_client(port, seconds))
    return n / seconds


def prefill(r: redis_sync.Redis, n: int) -> list[bytes]:
    ids: list[bytes] = []
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd("gateway:send", {"app": b"bench", "request": request(i)})
        if i % 5000 == 4999:
            ids += pipe.execute()
    ids += pipe.execute()
    return ids


def acked(r: redis_sync.Redis, ids: list[bytes]) -> int:
    groups = r.xinfo_groups("gateway:send")
    if not groups:
        return 0
    g = groups[0]
    def key(x: bytes) -> tuple[int, ...]:
        return tuple(map(int, x.split(b"-")))

    read = bisect.bisect_right(ids, key(g["last-delivered-id"]), key=key)
    return read - g["pending"]


def run_case(name: str, cmd: list[str], redis_url: str, sink_port: int, total: int, warmup: float, duration: float,
             env: dict[str, str]) -> dict[str, float]:
    r = redis_sync.Redis.from_url(redis_url)
    r.flushall()
    r.xgroup_create("gateway:send", "gateway", id="0", mkstream=True)
    print(f"[{name}] prefilling {total:,} entries…", flush=True)
    ids = prefill(r, total)
    ids = [i if isinstance(i, bytes) else str(i).encode() for i in ids]
    proc = subprocess.Popen(cmd, env=env)
    try:
        time.sleep(warmup)
        s0, a0, c0, t0 = sink_accepted(sink_port), acked(r, ids), cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(duration)
        s1, a1, c1, t1 = sink_accepted(sink_port), acked(r, ids), cpu_seconds(proc.pid), time.perf_counter()
        if a1 >= total - 1:
            print(f"[{name}] WARNING: the prefilled backlog ran out; raise the prefill", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    dt = t1 - t0
    res = {"sink_rate": (s1 - s0) / dt, "ack_rate": (a1 - a0) / dt,
           "cpu_us": (c1 - c0) / max(a1 - a0, 1) * 1e6, "cpu_share": (c1 - c0) / dt}
    print(f"[{name}] {res['sink_rate']:,.0f} msg/s at the sink, {res['ack_rate']:,.0f} acked/s, "
          f"{res['cpu_us']:.0f} CPU µs/msg, process CPU {res['cpu_share']:.0%} of a core", flush=True)
    return res


NAIVE = r'''
import asyncio, json, sys
from email.message import EmailMessage
import aiosmtplib, redis.asyncio as aioredis

async def main(url, port):
    r = aioredis.Redis.from_url(url)
    async def consumer(n):
        while True:
            reply = await r.xreadgroup("gateway", f"naive-{n}", {"gateway:send": ">"}, count=1, block=1000)
            if not reply:
                continue
            entry_id, fields = reply[0][1][0]
            req = json.loads(fields[b"request"])
            (addr, cfg), = req["Addresses"].items()
            subs = {k: v[0] for k, v in cfg["Substitutions"].items()}
            simple = req["MessageConfiguration"]["EmailMessage"]["SimpleEmail"]
            fmt = lambda s: s.replace("{{", "{").replace("}}", "}").format(**subs)
            msg = EmailMessage()
            msg["From"] = req["MessageConfiguration"]["EmailMessage"]["FromAddress"]
            msg["To"] = addr
            msg["Subject"] = fmt(simple["Subject"]["Data"])
            msg.set_content(fmt(simple["HtmlPart"]["Data"]), subtype="html")
            await aiosmtplib.send(msg, hostname="127.0.0.1", port=port)
            await r.xack("gateway:send", "gateway", entry_id)
    await asyncio.gather(*(consumer(n) for n in range(32)))

import uvloop
uvloop.run(main(sys.argv[1], int(sys.argv[2])))
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--baseline-duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--expected-rate", type=float, default=15000.0, help="sizes the prefilled backlog")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-email-"))
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with EmbeddedRedis() as redis_server:
        sink, port = start_sink(tmp)
        try:
            ceiling = measure_sink_alone(port)
            print(f"sandbox sink alone: {ceiling:,.0f} msg/s with a minimal pipelining client", flush=True)
            config = tmp / "gateway.toml"
            config.write_text(f'redis_url = "{redis_server.url}"\nlog_level = "WARNING"\n'
                              "[stream]\nbatch_size = 256\nmax_inflight = 2048\n"
                              f'[[channels]]\nkind = "smtp"\nport = {port}\nconnections = 64\n')
            total = int(args.expected_rate * (args.duration + args.warmup + 10))
            ours = run_case("gateway", [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
                                        "--consumer", "bench"], redis_server.url, port, total, args.warmup, args.duration, env)
            naive_script = tmp / "naive.py"
            naive_script.write_text(NAIVE)
            base = run_case("naive", [sys.executable, str(naive_script), redis_server.url, str(port)], redis_server.url,
                            port, int(2000 * (args.baseline_duration + args.warmup + 10)), args.warmup,
                            args.baseline_duration, env)
        finally:
            sink.kill()
    ratio = ours["ack_rate"] / max(base["ack_rate"], 1e-9)
    cpu_ratio = base["cpu_us"] / max(ours["cpu_us"], 1e-9)
    print(f"\n{machine()}\ngateway {ours['ack_rate']:,.0f} msg/s vs naive {base['ack_rate']:,.0f} msg/s: {ratio:.1f}x; "
          f"CPU per message {ours['cpu_us']:.0f} µs vs {base['cpu_us']:.0f} µs ({cpu_ratio:.1f}x less)")
    note = f"sink alone {ceiling:,.0f}/s; {args.duration:.0f}s window after {args.warmup:.0f}s warm-up"
    append_rows([
        ("e2e_email", "sandbox sink alone (raw pipelining client, 32 conns)", "messages/s", f"{ceiling:,.0f}", "", "ceiling of the mock"),
        ("e2e_email", "gateway, 1 process, 2 KB personalized HTML", "messages/s acked", f"{ours['ack_rate']:,.0f}", f"{ratio:.1f}x", note),
        ("e2e_email", "gateway, 1 process, 2 KB personalized HTML", "CPU µs/message", f"{ours['cpu_us']:.0f}",
         f"{cpu_ratio:.1f}x less", ""),
        ("e2e_email", "naive baseline (XREADGROUP count 1, aiosmtplib.send per message, 32 tasks)", "messages/s acked",
         f"{base['ack_rate']:,.0f}", "1.0x", f"{args.baseline_duration:.0f}s window"),
        ("e2e_email", "naive baseline", "CPU µs/message", f"{base['cpu_us']:.0f}", "1.0x", ""),
    ])


if __name__ == "__main__":
    main()
