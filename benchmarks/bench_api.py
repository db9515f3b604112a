"""Does the REST API add at most 30% CPU per message over the stream path? (issue 7)

Same work every way: R requests of 100 email recipients each, delivered by one worker process (`gateway serve`)
to the sandbox SMTP sink (its own process).
- stream:      the requests are XADDed to `gateway:send` in bulk, as a bulk producer does (no replies);
- stream-wait: C producers each XADD one request with `reply_to` and wait for its MessageResponse (the baseline:
               the same arrival pattern and replies as the API, without HTTP);
- api:         SigV4-signed SendMessages calls, C in flight, to an API process (`python -m gateway.api`), which
               validates, enqueues and waits for the worker's reply.
Arrival matters to the worker: requests that arrive C at a time are read in small batches and each gets a
reply, so "stream-wait" is the like-for-like baseline; "api process alone" is what the HTTP layer itself costs.
Measured: CPU seconds (user+system, from /proc) of the server-side processes: worker + Redis (+ API process),
per delivered message. Clients (the XADD loop, the HTTP client and its signing) are not counted: they are the
caller's cost either way. Rounds alternate stream/api so machine drift hits both; rows go to RESULTS.md.

    python benchmarks/bench_api.py [--requests 100] [--concurrency 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from benchmarks._common import cpu_seconds, sink_accepted  # noqa: E402
from gateway.embedded_redis import EmbeddedRedis  # noqa: E402
from gateway.producer import Producer  # noqa: E402

KEY, SECRET = "AKIDBENCH", "bench-secret"
def request_body(batch: int) -> dict[str, object]:
    return {
        "Addresses": {f"user{batch}-{i}@example.com": {"ChannelType": "EMAIL"} for i in range(100)},
        "MessageConfiguration": {"EmailMessage": {
            "FromAddress": "news@shop.test",
            "SimpleEmail": {"Subject": {"Data": "Hello {{name}}"}, "TextPart": {"Data": "Hi {{name}}, see you"}},
            "Substitutions": {"name": ["friend"]},
        }},
    }


def start(args: list[str], env: dict[str, str], ready: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a child and wait (reading its output, not sleeping) until it prints a line containing `ready`."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=ROOT)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline().decode()
        if ready in line:
            return proc, line.strip()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"{args} exited: {log.read_text()[-2000:]}")


async def wait_delivered(sink_port: int, target: int, timeout: float = 600) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sink_accepted(sink_port) < target:
        if loop.time() > deadline:
            raise TimeoutError(f"sink has {sink_accepted(sink_port)} of {target}")
        await asyncio.sleep(0.05)  # polling an external process's counter; not test synchronization


async def run_stream(redis_url: str, app: str, batches: range) -> None:
    client = aioredis.Redis.from_url(redis_url)
    producer = Producer(client)
    ids = list(batches)
    for i in range(0, len(ids), 50):
        await producer.send_many(app, [request_body(b) for b in ids[i:i + 50]])
    await client.aclose()


async def run_stream_wait(redis_url: str, app: str, batches: range, concurrency: int) -> None:
    """C producers, each enqueueing one request and waiting for its MessageResponse (the OTP/transactional way)."""
    client = aioredis.Redis.from_url(redis_url)
    producer = Producer(client)
    queue = list(batches)

    async def one() -> None:
        while queue:
            await producer.send_messages_and_wait(app, request_body(queue.pop()), timeout=120)

    await asyncio.gather(*(one() for _ in range(concurrency)))
    await client.aclose()


async def run_api(url: str, app: str, batches: range, concurrency: int) -> None:
    import json

    signer = SigV4Auth(Credentials(KEY, SECRET), "mobiletargeting", "us-east-1")
    queue = list(batches)
    failures: list[str] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            b = queue.pop()
            body = json.dumps(request_body(b)).encode()
            req = AWSRequest(method="POST", url=f"{url}/v1/apps/{app}/messages", data=body,
                             headers={"Content-Type": "application/json"})
            signer.add_auth(req)
            async with session.post(req.url, data=body, headers=dict(req.headers.items())) as resp:
                if resp.status != 200:
                    failures.append(f"{resp.status} {await resp.text()}")

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{len(failures)} API calls failed, first: {failures[0]}")


def append_results(rows: list[tuple[str, str, float, str, str]]) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    if not path.exists():
        path.write_text("| date | machine | benchmark | case | metric | value | ratio vs baseline | notes |\n"
                        "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    machine = f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
    today = dt.date.today().isoformat()
    with path.open("a") as f:
        for case, metric, value, ratio, notes in rows:
            f.write(f"| {today} | {machine} | bench_api | {case} | {metric} | {value:.1f} | {ratio} | {notes} |\n")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100, help="requests of 100 recipients per case and round")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-results", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_API_SECRET": SECRET}
    procs: list[subprocess.Popen[bytes]] = []
    with EmbeddedRedis() as redis_srv:
        assert redis_srv.proc is not None
        try:
            ready = tmp / "sink.port"
            sink, _ = start([sys.executable, "-m", "gateway.sandbox.smtp", "--port", "0", "--ready-file", str(ready)],
                            env, "listening", tmp / "sink.log")
            procs.append(sink)
            sink_port = int(ready.read_text())
            cfg = tmp / "gateway.toml"
            cfg.write_text(f"""redis_url = "{redis_srv.url}"
log_level = "WARNING"
[[channels]]
kind = "smtp"
port = {sink_port}
connections = 16
[api]
send_timeout_s = 120
[[api.access_keys]]
access_key_id = "{KEY}"
secret_env = "BENCH_API_SECRET"
""")
            worker = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=(tmp / "worker.log").open("wb"), cwd=ROOT)
            procs.append(worker)
            api, line = start([sys.executable, "-m", "gateway.api", "--listen", "127.0.0.1:0", "--config", str(cfg)],
                              env, "listening", tmp / "api.log")
            procs.append(api)
            url = line.rsplit(" ", 1)[1]
            # an application, created through the API (the stream path needs none, the API checks it exists)
            async with aiohttp.ClientSession() as session:
                body = b'{"Name": "bench"}'
                req = AWSRequest(method="POST", url=f"{url}/v1/apps", data=body)
                SigV4Auth(Credentials(KEY, SECRET), "mobiletargeting", "us-east-1").add_auth(req)
                async with session.post(req.url, data=body, headers=dict(req.headers.items())) as resp:
                    app = (await resp.json())["Id"]
            pids = {"worker": worker.pid, "redis": redis_srv.proc.pid, "api": api.pid}
            per_msg: dict[str, list[float]] = {"stream": [], "stream-wait": [], "api": []}
            api_alone: list[float] = []
            delivered = 0
            # warm-up: both paths once, small
            await run_stream(redis_srv.url, app, range(10_000, 10_005))
            await run_api(url, app, range(10_005, 10_010), 4)
            delivered = 1000
            await wait_delivered(sink_port, delivered)
            batch = 0
            for rnd in range(args.rounds):
                for case in ("stream", "stream-wait", "api"):
                    before = {k: cpu_seconds(p) for k, p in pids.items()}
                    t0 = time.perf_counter()
                    batches = range(batch, batch + args.requests)
                    batch += args.requests
                    if case == "stream":
                        await run_stream(redis_srv.url, app, batches)
                    elif case == "stream-wait":
                        await run_stream_wait(redis_srv.url, app, batches, args.concurrency)
                    else:
                        await run_api(url, app, batches, args.concurrency)
                    delivered += 100 * args.requests
                    await wait_delivered(sink_port, delivered)
                    wall = time.perf_counter() - t0
                    used = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
                    total = sum(used.values())
                    n = 100 * args.requests
                    per_msg[case].append(total / n * 1e6)
                    if case == "api":
                        api_alone.append(used["api"] / n * 1e6)
                    print(f"round {rnd + 1} {case:11}: {n} messages in {wall:.2f}s ({n / wall:,.0f}/s); "
                          "CPU us/message: "
                          f"total {total / n * 1e6:.1f} = worker {used['worker'] / n * 1e6:.1f} + redis "
                          f"{used['redis'] / n * 1e6:.1f} + api {used['api'] / n * 1e6:.1f}", flush=True)
            bulk = statistics.median(per_msg["stream"])
            stream = statistics.median(per_msg["stream-wait"])
            api_cpu = statistics.median(per_msg["api"])
            ratio = api_cpu / stream
            print()
            print("| case | server CPU us/message (median of rounds) | ratio vs stream-wait |")
            print("| --- | --- | --- |")
            print(f"| stream, bulk XADD (no reply) | {bulk:.1f} | {bulk / stream:.2f} |")
            print(f"| stream-wait (XADD + reply, C={args.concurrency}) | {stream:.1f} | 1.00 |")
            print(f"| api (SendMessages, C={args.concurrency}) | {api_cpu:.1f} | {ratio:.2f} |")
            alone = statistics.median(api_alone)
            print(f"API process alone: {alone:.1f} us/message = {alone / bulk:.0%} of the bulk stream path's CPU")
            print(f"target: api <= 1.30 x stream-wait -> {'met' if ratio <= 1.30 else 'NOT met'}")
            if not args.no_results:
                notes = (f"{args.requests}x100 recipients, {args.rounds} rounds, C={args.concurrency}; "
                         "worker+redis(+api) CPU")
                append_results([
                    ("stream bulk XADD (no reply)", "server CPU us/message", bulk, f"{bulk / stream:.2f}", notes),
                    ("stream XADD + wait for reply (baseline)", "server CPU us/message", stream, "1.00", notes),
                    ("api SendMessages", "server CPU us/message", api_cpu, f"{ratio:.2f}", notes),
                    ("api process alone", "CPU us/message", alone, f"{alone / bulk:.2f} of bulk", notes),
                ])
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    asyncio.run(main())
